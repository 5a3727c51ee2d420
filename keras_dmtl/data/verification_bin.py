"""insightface's verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin), read safely.

A `.bin` is a pickle of `(bins, issame_list)`: 2N encoded face crops (JPEG, aligned
112x112) and N bools; pair i is images 2i and 2i + 1. insightface pickled them in
Python 2 (the images are `str`, read back as bytes with `encoding="bytes"`, as its
`load_bin` does), and its packing scripts store the images either as the bytes of
the files (lfw2pack.py) or as the uint8 numpy arrays of `cv2.imencode`
(agedb2pack.py, cfp2pack.py, build_eval_pack.py).

Unpickling calls whatever callables a pickle names, so a `.bin` from the internet
could run code. `read_verification_bin` imports nothing a pickle asks for: every
global is refused, except the few names a pickled uint8 numpy array is made of,
which are answered by inert stand-ins here (numpy's own code never sees the file)
that accept exactly a 1-byte unsigned array and give back its bytes. The result
must then be exactly (2N image bytes, N bools).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import pickle
from typing import List

import numpy as np

from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.data.faces.loading import decode_bytes
from keras_dmtl.data.records import DataError

_UINT8_NAMES = ("u1", b"u1", "uint8", b"uint8")


class _NotAnImageArray(Exception):
    """A numpy stand-in was given something other than a uint8 array's parts."""


def _require(condition, what):
    if not condition:
        raise _NotAnImageArray(what)


class _Dtype:
    """Stands in for `numpy.dtype(name, align, copy)`: only uint8 is accepted."""

    def __init__(self, name, align=False, copy=True):
        _require(name in _UINT8_NAMES, f"an array of dtype {name!r}, not uint8")

    def __setstate__(self, state):
        _require(isinstance(state, tuple), "a malformed dtype")


class _NdarrayType:
    """Stands in for `numpy.ndarray`, which a pickled array names as its class."""


class _ByteArray:
    """Stands in for a pickled uint8 array: `__setstate__` keeps its raw bytes."""

    data = None

    def __setstate__(self, state):
        _require(isinstance(state, tuple) and len(state) == 5, "a malformed array")
        _, shape, dtype, _, raw = state
        self.data = _array_bytes(raw, dtype, shape)


def _array_bytes(raw, dtype, shape):
    _require(isinstance(dtype, _Dtype), "an array without a uint8 dtype")
    _require(type(raw) in (bytes, bytearray), "an array whose data is not bytes")
    _require(isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)
             and math.prod(shape) == len(raw), "an array whose shape does not fit its data")
    return bytes(raw)


def _reconstruct(cls, shape, typecode):
    """`numpy.core.multiarray._reconstruct(ndarray, (0,), b"b")`: an empty array
    that BUILD fills (protocols 0 to 4)."""
    _require(cls is _NdarrayType, "an array of another class than numpy.ndarray")
    return _ByteArray()


def _frombuffer(buffer, dtype, shape, order):
    """`numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (protocol 5)."""
    return _array_bytes(buffer, dtype, shape)


def _latin1_encode(text, encoding):
    """`_codecs.encode(text, "latin1")`: how Python 3 pickles bytes at protocol 2."""
    _require(type(text) is str and encoding in ("latin1", "latin-1"), "a codec call")
    return text.encode("latin1")


# The globals a pickled uint8 numpy array is made of (numpy 1.x and 2.x module
# names), each answered by an inert stand-in; every other global is refused.
_STAND_INS = {
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy", "dtype"): _Dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_encode,
}


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing: bytes, strings, numbers, bools, lists,
    tuples and dicts, plus the inert stand-ins of `_STAND_INS`."""

    def __init__(self, stream, path):
        # "bytes": Python 2 `str` objects (the images) come back as bytes.
        super().__init__(stream, encoding="bytes")
        self._path = path

    def find_class(self, module, name):
        stand_in = _STAND_INS.get((module, name))
        if stand_in is None:
            raise DataError(
                f"{self._path}: refusing to load this verification .bin: it asks to import "
                f"{module}.{name}, and a .bin holds only image bytes and a list of bools "
                "(loading it could run code).")
        return stand_in

    def persistent_load(self, pid):
        raise DataError(f"{self._path}: refusing to load this verification .bin: it refers "
                        "to outside objects (a persistent id); a .bin holds only image "
                        "bytes and a list of bools.")


@dataclasses.dataclass
class VerificationPairs:
    """A verification set: image pairs and whether each shows one person.

    Attributes:
        name: the set's name, its file name without ".bin" (e.g. "lfw").
        images: 2N encoded images; pair i is images 2i and 2i + 1.
        is_same: bool (N,).
    """

    name: str
    images: List[bytes]
    is_same: np.ndarray

    def __len__(self) -> int:
        return len(self.is_same)


def read_verification_bin(path: str) -> VerificationPairs:
    """Reads an insightface verification `.bin` without running any code it holds.

    Args:
        path: e.g. "faces_emore/lfw.bin".

    Returns:
        The `VerificationPairs`.

    Raises:
        DataError: naming `path`: a missing or unreadable file, a pickle that asks
            for any global but a uint8 array's (refused, never imported), or a
            structure other than (2N encoded images, N bools).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror}); pass the path of a "
                        "verification .bin such as lfw.bin.") from None
    try:
        loaded = _DataOnlyUnpickler(io.BytesIO(data), path).load()
    except DataError:
        raise
    except _NotAnImageArray as error:
        raise DataError(f"{path}: refusing this verification .bin: it holds {error}, where "
                        "a .bin holds encoded images (bytes or uint8 arrays).") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, OverflowError) as error:
        raise DataError(f"{path} is not a verification .bin (not a readable pickle: "
                        f"{type(error).__name__}: {str(error)[:200]}).") from None
    return VerificationPairs(_name(path), *_checked(loaded, path))


def _name(path):
    base = os.path.basename(path)
    return base[:-4] if base.lower().endswith(".bin") else base


def _checked(loaded, path):
    """(images, is_same) when `loaded` is exactly (2N bytes, N bools), else DataError."""
    expected = "(a list of 2N JPEG byte strings, a list of N bools)"
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 2):
        raise DataError(f"{path}: holds a {type(loaded).__name__}, not the pair {expected} "
                        "of a verification .bin.")
    images, is_same = loaded
    if isinstance(images, (tuple, list)):
        images = [image.data if isinstance(image, _ByteArray) else image for image in images]
    if not isinstance(images, (tuple, list)) or not all(type(i) is bytes for i in images):
        raise DataError(f"{path}: its first element is not a list of image bytes; expected "
                        f"{expected}.")
    if not isinstance(is_same, (tuple, list)) or not all(type(s) is bool for s in is_same):
        raise DataError(f"{path}: its second element is not a list of bools; expected "
                        f"{expected}.")
    if not is_same or len(images) != 2 * len(is_same):
        raise DataError(f"{path}: {len(images)} images for {len(is_same)} pairs; a "
                        "verification .bin holds two images per pair.")
    return list(images), np.asarray(is_same, bool)


def decode_pairs(pairs: VerificationPairs, image_size: int, channels: int) -> np.ndarray:
    """Decodes a set's images into the model's input, as training prepares its crops.

    The crops are used as they are (insightface aligned them); `preprocess_crop`
    resizes them and sets the channels, as `load_faces` does with detector "none".

    Args:
        pairs: from `read_verification_bin`.
        image_size: side of the model's input.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 (2N, image_size, image_size, channels), in the set's order.

    Raises:
        DataError: an image that cannot be decoded, named by its index.
    """
    crops = np.empty((len(pairs.images), image_size, image_size, channels), np.uint8)
    for index, data in enumerate(pairs.images):
        name = f"{pairs.name}.bin image {index} (pair {index // 2})"
        image = decode_bytes(data, name)
        if image is None:
            raise DataError(f"{name} is not a readable image; the .bin is corrupt: "
                            "re-download it.")
        crops[index] = preprocess_crop(image, image_size, channels)
    return crops
