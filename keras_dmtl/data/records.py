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


class DataError(ValueError):
    """Bad input data: the message names the file or flag and says what to do."""


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
    """

    sources: List[Source]
    identity: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    identity_names: List[str]
    expression_names: List[str]
    dataset: str = "unknown"

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

    def __post_init__(self):
        if self.source is None:
            self.source = np.zeros(len(self.images), np.int64)
        self.source = np.asarray(self.source, dtype=np.int64)

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
        )
