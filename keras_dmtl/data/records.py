"""The record types that flow between dataset readers, face loading and training.

TF-free on purpose: readers and the on-device runtime import this module.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

MISSING_LABEL = -1

# Canonical expression names. Readers map their dataset's labels onto these so that
# several sources combine into one label space.
CANONICAL_EXPRESSIONS = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "sadness",
    "surprise",
)
# The seven expressions CK+'s labelled sequences end on (no neutral): the
# generated faces and the golden vectors use them too.
EMOTION_EXPRESSIONS = tuple(name for name in CANONICAL_EXPRESSIONS if name != "neutral")
# The per-sample extra of expression label distributions (e.g. FER+'s crowd votes):
# float32 (N, E) shares over `expression_names`, each row summing to 1, or all 0
# where a sample has none. Combining sources remaps its columns by class name; the
# batches carry it under the same key to the expression loss
# (keras_dmtl.losses.masked.EXPRESSION_VOTES).
EXPRESSION_VOTES = "expression_votes"


class DataError(ValueError):
    """Bad input data: the message names the file or flag and says what to do."""


def _checked_extras(extras, count: int, owner: str) -> Dict[str, np.ndarray]:
    """`extras` as a dict of arrays whose first axis has `count` entries."""
    extras = {key: np.asarray(value) for key, value in dict(extras).items()}
    for key, value in extras.items():
        if value.ndim == 0 or len(value) != count:
            raise ValueError(f"{owner}.extras[{key!r}] has shape {value.shape}: its first axis "
                             f"must have one entry per sample ({count}).")
    return extras


def _action_unit_labels(labels, count: int, names: List[str], owner: str) -> np.ndarray:
    """Validated int8 (count, len(names)) AU labels; None means "none annotated"."""
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}.action_unit_names repeats a name: {names}.")
    if labels is None:
        return np.full((count, len(names)), MISSING_LABEL, np.int8)
    labels = np.asarray(labels)
    if labels.shape != (count, len(names)):
        raise ValueError(
            f"{owner}.action_units has shape {labels.shape}, expected ({count}, {len(names)}): "
            f"one row per sample, one column per entry of action_unit_names.")
    if not np.isin(labels, (MISSING_LABEL, 0, 1)).all():
        raise ValueError(f"{owner}.action_units holds values other than 1 (present), "
                         f"0 (absent) and -1 (not annotated).")
    return labels.astype(np.int8)


class EncodedImage(abc.ABC):
    """An encoded image (JPEG, PNG) stored inside a larger file, read on demand.

    Formats that pack many images into one file (insightface's RecordIO) give one
    per sample, so that records stay small until `load_faces` decodes them.
    `str()` names it in messages ("train.rec at offset 1024").
    """

    @abc.abstractmethod
    def read(self, max_bytes: int) -> Optional[bytes]:
        """The encoded bytes, or None when they are over `max_bytes`.

        Raises:
            DataError: the container is corrupt where this image should be.
        """

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A string that changes whenever the bytes may have (the crop cache's key)."""


Source = Union[str, np.ndarray, EncodedImage]


@dataclasses.dataclass
class FaceRecords:
    """Labelled face samples as a reader found them, before decoding.

    Attributes:
        sources: one entry per sample: an image file path, an in-memory uint8
            image (H, W) or (H, W, C) for formats that embed pixels (FER2013), or
            an `EncodedImage` for formats that pack encoded images into one file.
        identity: int64 (N,), index into `identity_names`, or -1 when absent.
        expression: int64 (N,), index into `expression_names`, or -1 when absent.
        subject: str (N,), the key that splits must keep together (a person, or
            one sample when the dataset has no subjects).
        identity_names: names of the identity classes.
        expression_names: names of the expression classes.
        dataset: the format the records came from (e.g. "ckplus48").
        action_units: int8 (N, A) facial action unit labels, one column per entry
            of `action_unit_names`: 1 present, 0 absent, -1 not annotated. By
            default every entry is -1.
        action_unit_names: the A action units, as "AU12" (see
            `keras_dmtl.data.labels.action_units`); empty for a set without AU labels.
        extras: per-sample arrays (first axis N) a reader found beside the
            labels, under their key, e.g. FER+'s votes (`EXPRESSION_VOTES`); they
            become `FaceArrays.extras`.
    """

    sources: List[Source]
    identity: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    identity_names: List[str]
    expression_names: List[str]
    dataset: str = "unknown"
    action_units: Optional[np.ndarray] = None
    action_unit_names: List[str] = dataclasses.field(default_factory=list)
    extras: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.identity = np.asarray(self.identity, dtype=np.int64)
        self.expression = np.asarray(self.expression, dtype=np.int64)
        self.subject = np.asarray(self.subject, dtype=str)
        n = len(self.sources)
        for name in ("identity", "expression", "subject"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"FaceRecords.{name} has {len(getattr(self, name))} entries "
                    f"but there are {n} sources."
                )
        self.action_unit_names = list(self.action_unit_names)
        self.action_units = _action_unit_labels(self.action_units, n, self.action_unit_names,
                                                "FaceRecords")
        self.extras = _checked_extras(self.extras, n, "FaceRecords")

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices: Sequence[int]) -> "FaceRecords":
        """Returns the records at `indices`, with the same label spaces."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self,
            sources=[self.sources[i] for i in indices],
            identity=self.identity[indices],
            expression=self.expression[indices],
            subject=self.subject[indices],
            action_units=self.action_units[indices],
            extras={key: value[indices] for key, value in self.extras.items()},
        )


@dataclasses.dataclass
class FaceArrays:
    """Decoded, aligned face crops ready for training.

    Attributes:
        images: uint8 (N, H, W, C) face crops, C = 1 (grayscale) or 3 (RGB).
        identity, expression, subject, identity_names, expression_names: as in
            `FaceRecords`.
        source: int64 (N,), per sample the index of its dataset in
            `source_names` (all 0 for one dataset).
        source_names: the datasets the samples came from, in the order of
            `--config.data_dir` (see `readers.combine_arrays`).
        extras: per-sample arrays (first axis N) that travel with the samples
            into the training batches' labels, under their key: e.g. a
            teacher's soft labels (`keras_dmtl.training.teacher`).
        action_units, action_unit_names: as in `FaceRecords`.
    """

    images: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    identity_names: List[str]
    expression_names: List[str]
    source: Optional[np.ndarray] = None
    source_names: List[str] = dataclasses.field(default_factory=lambda: ["data"])
    extras: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    action_units: Optional[np.ndarray] = None
    action_unit_names: List[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.source is None:
            self.source = np.zeros(len(self.images), np.int64)
        self.source = np.asarray(self.source, dtype=np.int64)
        self.action_unit_names = list(self.action_unit_names)
        self.action_units = _action_unit_labels(self.action_units, len(self.images),
                                                self.action_unit_names, "FaceArrays")
        self.extras = _checked_extras(self.extras, len(self.images), "FaceArrays")

    def __len__(self) -> int:
        return len(self.images)

    def of_source(self, index: int) -> "FaceArrays":
        """Returns the samples of the source `index`, with the same label spaces."""
        return self.subset(np.flatnonzero(self.source == index))

    def subset(self, indices: Sequence[int]) -> "FaceArrays":
        """Returns the samples at `indices`, with the same label spaces."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self,
            images=self.images[indices],
            identity=self.identity[indices],
            expression=self.expression[indices],
            subject=self.subject[indices],
            source=self.source[indices],
            extras={key: value[indices] for key, value in self.extras.items()},
            action_units=self.action_units[indices],
        )
