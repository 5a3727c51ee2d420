"""insightface's training sets in RecordIO: train.rec + train.idx [+ property].

MS1MV2 (faces_emore), Glint360K and the other sets insightface ships are aligned
112x112 face crops, JPEG-encoded, one RecordIO record each, labelled with the
identity only (`keras_dmtl.data.readers.recordio` reads the container). As insightface's
own `MXFaceDataset` reads them: when record 0's header has labels (a, b), the
images are records 1 .. a-1 (records a .. b-1 hold each identity's range of
records, unused here); otherwise every record of the index is an image. The
`property` file's first line is "num_classes,height,width".

`InsightfaceRec` reads (JPEG bytes, identity) by index or in order without loading
the set, for tools that stream millions of images. The registered format reads a
set into `FaceRecords` whose sources point into train.rec (`RecordIOImage`): every
record's header is read once, the images only when `load_faces` decodes them. That
suits small sets; `load_faces` holds every decoded crop in memory.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterator, List, Optional, Tuple

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import require_file
from keras_dmtl.data.readers.recordio import ImageRecord
from keras_dmtl.data.readers.recordio import RecordIOFile
from keras_dmtl.data.readers.recordio import unpack_image_record
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import EncodedImage
from keras_dmtl.data.records import FaceRecords
from keras_dmtl.data.records import MISSING_LABEL

REC_NAME = "train.rec"
IDX_NAME = "train.idx"
PROPERTY_NAME = "property"


def _is_insightface_root(root: str) -> bool:
    return all(os.path.isfile(os.path.join(root, name)) for name in (REC_NAME, IDX_NAME))


def read_property(path: str) -> Optional[Tuple[int, int, int]]:
    """Reads insightface's `property` file.

    Args:
        path: the file; it may be absent.

    Returns:
        (num_classes, height, width) from its first line, or None when there is
        no such file.

    Raises:
        DataError: the first line is not three positive integers.
    """
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().strip()
    try:
        values = tuple(int(field) for field in first.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise DataError(f"{path} line 1: expected 'num_classes,height,width' (e.g. "
                        f"'85742,112,112'), found {first[:80]!r}; fix or delete the file.")
    return values


@dataclasses.dataclass(frozen=True)
class RecordIOImage(EncodedImage):
    """The JPEG of one record of an insightface train.rec, read when decoded.

    Attributes:
        rec_path: the .rec file.
        idx_path: its index, named in errors.
        key: the record's key, named in messages.
        offset: where the record starts in the .rec file.
    """

    rec_path: str
    idx_path: str
    key: int
    offset: int

    def __str__(self) -> str:
        return f"{self.rec_path} record {self.key} (offset {self.offset})"

    def read(self, max_bytes: int) -> Optional[bytes]:
        with RecordIOFile(self.rec_path, self.idx_path) as records:
            record = records.read_at(self.offset)
        payload = unpack_image_record(record, str(self)).payload
        return None if len(payload) > max_bytes else payload

    def fingerprint(self) -> str:
        try:
            stat = os.stat(self.rec_path)
        except OSError:
            return f"{self}|missing"
        return f"{self}|{stat.st_size}|{stat.st_mtime_ns}"


def _record_problem(record: ImageRecord, num_classes: Optional[int]) -> Optional[str]:
    """Why a record is not a labelled image (a label that is no identity index, no
    image bytes), or None when it is one."""
    label = record.labels[0]
    if not math.isfinite(label) or label != int(label) or label < 0:
        return f"its label {label} is not an identity index (a whole number >= 0)"
    if num_classes is not None and label >= num_classes:
        return f"its label {int(label)} is beyond the {num_classes} classes of {PROPERTY_NAME}"
    if not record.payload:
        return "it holds no image bytes"
    return None


class InsightfaceRec:
    """An insightface RecordIO face set, read lazily: (JPEG bytes, identity) by index.

    Example (a set unpacked from insightface's faces_emore.zip):

        faces = InsightfaceRec("/data/faces_emore")
        jpeg, identity = faces[0]
        for jpeg, identity in faces:  # in record order, one record in memory at a time
            ...

    Args:
        root: the folder holding train.rec and train.idx (and, usually, property).

    Raises:
        DataError: a missing file, or a `property` file that cannot be read.
    """

    def __init__(self, root: str):
        require_directory(root, "insightface RecordIO")
        rec_path, idx_path = (os.path.join(root, name) for name in (REC_NAME, IDX_NAME))
        for path, what in ((rec_path, "insightface's train.rec"),
                           (idx_path, "insightface's train.idx (the RecordIO index)")):
            require_file(path, what)
        self.root = root
        self.records = RecordIOFile(rec_path, idx_path)
        found = read_property(os.path.join(root, PROPERTY_NAME))
        # num_classes: None without a property file; image_size: (height, width).
        self.num_classes = found[0] if found else None
        self.image_size = found[1:] if found else None
        self._keys: Optional[List[int]] = None

    @property
    def keys(self) -> List[int]:
        """The keys of the image records, in order (see the module docstring)."""
        if self._keys is None:
            keys = self.records.keys
            header = None
            if 0 in keys:
                header = unpack_image_record(self.records.read(0),
                                             f"{self.records.rec_path} record 0")
            if header is not None and len(header.labels) >= 2:
                end = header.labels[0]
                if not math.isfinite(end) or end < 1 or int(end) > len(keys):
                    raise DataError(
                        f"{self.records.rec_path} record 0: its header says the images are "
                        f"records 1 to {end} - 1, but {self.records.idx_path} lists "
                        f"{len(keys)} records; the files do not belong together.")
                self._keys = list(range(1, int(end)))
            else:
                self._keys = list(keys)
        return self._keys

    def __len__(self) -> int:
        return len(self.keys)

    def entry(self, index: int) -> Tuple[int, int, ImageRecord]:
        """(key, offset, unpacked record) of the `index`-th image, labels unchecked."""
        key = self.keys[index]
        offset = self.records.offset(key)
        where = f"{self.records.rec_path} record {key} (offset {offset})"
        return key, offset, unpack_image_record(self.records.read_at(offset), where)

    def __getitem__(self, index: int) -> Tuple[bytes, int]:
        """The `index`-th image: (JPEG bytes, identity index).

        Raises:
            DataError: the record is corrupt or its label is not an identity.
        """
        key, offset, record = self.entry(index)
        problem = _record_problem(record, self.num_classes)
        if problem:
            raise DataError(f"{self.records.rec_path} record {key} (offset {offset}): "
                            f"{problem}; the dataset is corrupt.")
        return record.payload, int(record.labels[0])

    def __iter__(self) -> Iterator[Tuple[bytes, int]]:
        for index in range(len(self)):
            yield self[index]

    def close(self) -> None:
        """Closes train.rec; a later read opens it again."""
        self.records.close()


@register("insightface_rec", takes=FOLDER, matches=_is_insightface_root, specificity=SIGNATURE)
def read_insightface_rec(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads an insightface RecordIO set (train.rec, train.idx [, property]).

    Every record's header is read here; the JPEGs stay in train.rec until
    `load_faces` decodes them. For sets of millions of images, stream
    `InsightfaceRec` instead.

    Args:
        root: the folder holding train.rec and train.idx.
        skip_bad: skip records whose label is not an identity index, or that hold
            no image (a warning gives their count), instead of raising DataError.
            A corrupt file (a bad magic, a truncated record) raises either way.

    Returns:
        FaceRecords with identity = the record's label (identity_names are the
        label numbers, one per class of `property`, or up to the largest label
        without it), subject = the identity, and expression -1.
    """
    faces = InsightfaceRec(root)
    bad = BadEntries(skip_bad, faces.records.rec_path, "records")
    sources, identities = [], []
    try:
        for index in range(len(faces)):
            key, offset, record = faces.entry(index)
            problem = _record_problem(record, faces.num_classes)
            if problem:
                bad.reject(f"{faces.records.rec_path} record {key} (offset {offset}): "
                           f"{problem}; remove the record or rebuild the set.")
                continue
            sources.append(RecordIOImage(faces.records.rec_path, faces.records.idx_path,
                                         key, offset))
            identities.append(int(record.labels[0]))
    finally:
        faces.close()
    bad.warn_if_skipped()
    if not sources:
        raise DataError(f"{root} holds no usable insightface_rec images: train.rec lists "
                        "none with an identity label.")
    num_classes = faces.num_classes or max(identities) + 1
    return FaceRecords(
        sources=sources,
        identity=identities,
        expression=[MISSING_LABEL] * len(sources),
        subject=[str(identity) for identity in identities],
        identity_names=[str(identity) for identity in range(num_classes)],
        expression_names=[],
        dataset="insightface_rec",
    )
