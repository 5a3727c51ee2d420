"""MXNet's RecordIO container (`.rec` + `.idx`), read without MXNet (TF-free).

insightface ships its training sets (MS1MV2, Glint360K, ...) in this format; MXNet
is retired, and the layout is small enough to read with `struct`. From dmlc-core's
`recordio.h` and MXNet's `python/mxnet/recordio.py`:

- A record is framed as: magic 0xced7230a (uint32), a length word (uint32: the
  low 29 bits the length, the top 3 bits a continuation flag), the data, and zero
  padding to a multiple of 4 bytes. All little-endian.
- A record whose data holds the magic at a 4-aligned position is written in parts,
  split at each such magic, which is dropped: flag 1 starts the record, 2 continues
  it, 3 ends it (0 is a whole record). Reading puts the magic back between parts.
- The index file (`.idx`) has one "key<TAB>offset" line per record.
- An image record starts with the header struct "IfQQ": flag, label, id, id2.
  With flag > 0 the label is the `flag` float32 values that follow the header
  (the header's own label field is then unused); the encoded image comes last.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from keras_dmtl.data.records import DataError

MAGIC = 0xCED7230A
_FRAME = struct.Struct("<II")  # magic, length word
_LENGTH_BITS = 29
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
# Continuation flags of the length word.
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3
_IMAGE_HEADER = struct.Struct("<IfQQ")  # flag, label, id, id2


class ImageRecord(NamedTuple):
    """One unpacked image record.

    Attributes:
        labels: the label values: one (the header's label) when flag is 0, else
            the `flag` float32 values stored after the header.
        id: the header's id field (the record's key, as MXNet's tools write it).
        id2: the header's second id field (0 for images; insightface's record 0
            sets it to 1).
        payload: what follows the header and labels: the encoded image.
    """

    labels: Tuple[float, ...]
    id: int
    id2: int
    payload: bytes


def unpack_image_record(record: bytes, where: str) -> ImageRecord:
    """Splits an image record into its header fields and its payload.

    Args:
        record: the whole record, as `RecordIOFile.read_at` returns it.
        where: "file at offset N", named in the error.

    Returns:
        The `ImageRecord`.

    Raises:
        DataError: the record is shorter than its header says.
    """
    if len(record) < _IMAGE_HEADER.size:
        raise DataError(f"{where}: a record of {len(record)} bytes cannot hold the "
                        f"{_IMAGE_HEADER.size}-byte image header; the file is corrupt.")
    flag, label, record_id, record_id2 = _IMAGE_HEADER.unpack_from(record)
    start = _IMAGE_HEADER.size
    if flag == 0:
        return ImageRecord((float(label),), record_id, record_id2, record[start:])
    end = start + 4 * flag
    if len(record) < end:
        raise DataError(f"{where}: the header announces {flag} labels but the record "
                        f"holds {len(record)} bytes; the file is corrupt.")
    labels = np.frombuffer(record, "<f4", count=flag, offset=start)
    return ImageRecord(tuple(float(v) for v in labels), record_id, record_id2, record[end:])


class RecordIOFile:
    """An indexed RecordIO file, opened on first use.

    Records are read by key (through the `.idx` file) or by offset. Nothing is
    read until asked for, so one instance serves a dataset of any size; a copy
    sent to another process (pickled) opens its own file handle there.

    Args:
        rec_path: the `.rec` file.
        idx_path: its `.idx` file.
    """

    def __init__(self, rec_path: str, idx_path: str):
        self.rec_path = rec_path
        self.idx_path = idx_path
        self._handle = None
        self._size: Optional[int] = None
        self._index: Optional[Dict[int, int]] = None
        self._keys: Optional[List[int]] = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None  # an open file does not travel between processes
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Closes the `.rec` file; a later read opens it again."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _file(self):
        if self._handle is None:
            try:
                self._handle = open(self.rec_path, "rb")
                self._size = os.fstat(self._handle.fileno()).st_size
            except OSError as error:
                raise DataError(f"{self.rec_path}: cannot be read ({error.strerror}); check "
                                "the path.") from None
        return self._handle

    def _load_index(self) -> None:
        size = os.path.getsize(self.rec_path) if os.path.isfile(self.rec_path) else None
        index: Dict[int, int] = {}
        keys: List[int] = []
        try:
            with open(self.idx_path, encoding="ascii") as handle:
                for line_number, line in enumerate(handle, start=1):
                    fields = line.split()
                    if not fields:
                        continue
                    try:
                        key, offset = (int(field) for field in fields)
                    except ValueError:
                        raise DataError(
                            f"{self.idx_path} line {line_number}: expected 'key<TAB>offset', "
                            f"found {line.strip()[:80]!r}; the index is corrupt: rebuild it "
                            "or re-download the dataset.") from None
                    if offset < 0 or offset % 4 or (size is not None and offset >= size):
                        raise DataError(
                            f"{self.idx_path} line {line_number}: offset {offset} is not a "
                            f"record position in {self.rec_path} ({size} bytes); the index "
                            "does not belong to this file, or one of them is truncated.")
                    if key in index:
                        raise DataError(f"{self.idx_path} line {line_number}: key {key} "
                                        "appears twice; the index is corrupt.")
                    index[key] = offset
                    keys.append(key)
        except OSError as error:
            raise DataError(f"{self.idx_path}: cannot be read ({error.strerror}); check "
                            "the path.") from None
        except UnicodeDecodeError:
            raise DataError(f"{self.idx_path} is not a RecordIO index (text lines "
                            "'key<TAB>offset'); check the path.") from None
        self._index, self._keys = index, keys

    @property
    def keys(self) -> List[int]:
        """The record keys, in the index file's order."""
        if self._keys is None:
            self._load_index()
        return self._keys

    def offset(self, key: int) -> int:
        """The byte offset of record `key`.

        Raises:
            DataError: the index has no such key.
        """
        if self._index is None:
            self._load_index()
        try:
            return self._index[key]
        except KeyError:
            raise DataError(f"{self.idx_path} has no record {key}; the index and the "
                            "dataset's header disagree: re-download the dataset.") from None

    def read(self, key: int) -> bytes:
        """The record with index key `key` (see `read_at`)."""
        return self.read_at(self.offset(key))

    def read_at(self, offset: int) -> bytes:
        """The record that starts at byte `offset`, its parts joined.

        Raises:
            DataError: naming the file and offset, when no record starts there or
                the file ends inside it.
        """
        handle = self._file()
        parts = []
        position = offset
        while True:
            handle.seek(position)
            frame = handle.read(_FRAME.size)
            if len(frame) < _FRAME.size:
                raise DataError(self._truncated(position, "a record frame"))
            magic, length_word = _FRAME.unpack(frame)
            if magic != MAGIC:
                raise DataError(
                    f"{self.rec_path} at offset {position}: no RecordIO record starts here "
                    f"(magic {magic:#010x}, expected {MAGIC:#010x}); the file is corrupt or "
                    f"{self.idx_path} does not belong to it: re-download the dataset.")
            flag, length = length_word >> _LENGTH_BITS, length_word & _LENGTH_MASK
            allowed = (_WHOLE, _FIRST) if position == offset else (_MIDDLE, _LAST)
            if flag not in allowed:
                raise DataError(
                    f"{self.rec_path} at offset {position}: continuation flag {flag} where "
                    f"{' or '.join(map(str, allowed))} belongs; the file is corrupt.")
            padded = (length + 3) & ~3
            data = handle.read(padded)
            if len(data) < padded:
                raise DataError(self._truncated(position, f"a {length}-byte record"))
            parts.append(data[:length])
            position += _FRAME.size + padded
            if flag in (_WHOLE, _LAST):
                return b"".join(parts)
            parts.append(struct.pack("<I", MAGIC))  # the writer split the data here

    def _truncated(self, position: int, what: str) -> str:
        return (f"{self.rec_path} at offset {position}: the file ends inside {what} "
                f"({self._size} bytes in all); it is truncated: re-download it.")
