"""Face databases stored as MATLAB arrays: `x` holds the images, `label` the people.

The layout of the public "Face-databases" collection (AR, IMM, UMIST, ORL, Yale,
GT, ... as `.mat` files): `x` is uint8 (H, W, N), one gray image per slice along
the last axis, and `label` (N, 1) or (1, N) numbers the person of each. Read with
`scipy.io.loadmat` (MATLAB v5 files; v7.3 files are HDF5, which it refuses).
"""

from __future__ import annotations

import os

import numpy as np

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import require_file
from keras_dmtl.data.readers.registry import FILE
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

IMAGES_KEY = "x"
LABEL_KEY = "label"


def _load(path: str) -> dict:
    import scipy.io  # noqa: PLC0415 (the other readers do not need scipy)

    try:
        return scipy.io.loadmat(path, variable_names=(IMAGES_KEY, LABEL_KEY))
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DataError(f"{path} is not a readable MATLAB v5 file ({error}): save it with "
                        "MATLAB's -v7 option, or convert it.") from None


def _is_layout(path: str) -> bool:
    if not path.lower().endswith(".mat"):
        return False
    import scipy.io  # noqa: PLC0415

    try:
        names = {name for name, _, _ in scipy.io.whosmat(path)}
    except (ValueError, TypeError, OSError, NotImplementedError):
        return False
    return {IMAGES_KEY, LABEL_KEY} <= names


@register("matlab_faces", takes=FILE, matches=_is_layout, specificity=SIGNATURE)
def read_matlab_faces(path: str, skip_bad: bool = False) -> FaceRecords:
    """Reads a `.mat` face database: images `x` (H, W, N) and person numbers `label`.

    Args:
        path: the `.mat` file.
        skip_bad: skip images whose label is not a positive whole number (counted
            in one warning) instead of raising DataError.

    Returns:
        FaceRecords whose sources are uint8 (H, W) arrays, identity = subject =
        "<file stem>_<label>", no expressions.
    """
    require_file(path, "a MATLAB face database (.mat with x and label)")
    arrays = _load(path)
    missing = [key for key in (IMAGES_KEY, LABEL_KEY) if key not in arrays]
    if missing:
        raise DataError(f"{path} lacks the arrays {missing}: a face database holds images "
                        f"'{IMAGES_KEY}' (H, W, N) and person numbers '{LABEL_KEY}'.")
    images, labels = arrays[IMAGES_KEY], np.asarray(arrays[LABEL_KEY]).ravel()
    if images.ndim != 3 or images.shape[2] != len(labels):
        raise DataError(f"{path}: '{IMAGES_KEY}' has shape {images.shape} and '{LABEL_KEY}' "
                        f"{len(labels)} entries; expected (H, W, N) with N = the labels.")
    if images.dtype != np.uint8:
        if images.min() < 0 or images.max() > 255:
            raise DataError(f"{path}: pixel values span {images.min()}..{images.max()}; "
                            "expected 0..255.")
        images = images.astype(np.uint8)
    stem = os.path.splitext(os.path.basename(path))[0]
    bad = BadEntries(skip_bad, path, "images")
    sources, identities = [], []
    for index, label in enumerate(labels):
        if not (float(label).is_integer() and label > 0):
            bad.reject(f"{path}: image {index} has label {label!r}, not a positive whole "
                       "number.")
            continue
        sources.append(np.ascontiguousarray(images[:, :, index]))
        identities.append(f"{stem}_{int(label)}")
    bad.warn_if_skipped()
    return build_records(sources, identities, [None] * len(sources), identities,
                         "matlab_faces", path, [])
