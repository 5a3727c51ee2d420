"""What a peer is: a photo in, an embedding and/or expression probabilities out."""

from __future__ import annotations

import abc
import dataclasses
from typing import Optional, Sequence

import numpy as np

from keras_dmtl.edge.templates import average_template


@dataclasses.dataclass
class PeerOutput:
    """What a peer found in one photo.

    Attributes:
        embedding: float (D,) unit vector, or None (no face, or no embedding).
        expression: float (K,) probabilities over the peer's `expression_labels`,
            or None.
        raw: the peer's own vector where its decision reads it unnormalised
            (face_recognition's distance), or None.
    """

    embedding: Optional[np.ndarray] = None
    expression: Optional[np.ndarray] = None
    raw: Optional[np.ndarray] = None


class Peer(abc.ABC):
    """A face model compared in the peers' table.

    Attributes:
        name: the row's name in the table.
        expression_labels: canonical expression names of its outputs (empty: it
            tags no expression).
        threshold: its own default same-person cut-off on cosine similarity, or
            None; the table reports FAR and TAR there.
        distance_threshold: or, for peers whose default is a Euclidean distance on
            unnormalised vectors (face_recognition's tolerance), that distance.
    """

    name: str = ""
    expression_labels: Sequence[str] = ()
    threshold: Optional[float] = None
    distance_threshold: Optional[float] = None

    @abc.abstractmethod
    def analyse(self, image: np.ndarray) -> PeerOutput:
        """Finds the face in an RGB uint8 photo and runs the model on it.

        Returns:
            `PeerOutput`; empty when no face was found.
        """

    @property
    def has_default_decision(self) -> bool:
        """Whether the peer has its own same-person cut-off (cosine or distance)."""
        return self.threshold is not None or self.distance_threshold is not None

    def accepts(self, first: PeerOutput, second: PeerOutput, similarity: float) -> bool:
        """The peer's own default decision on a pair (cosine `similarity` of the
        unit embeddings; distance-based peers override it)."""
        return self.threshold is not None and similarity >= self.threshold

    def template(self, enrolled: Sequence[PeerOutput]) -> PeerOutput:
        """One user's template from their enrollment photos, as `unlock enroll` stores
        it: the normalised mean of the unit embeddings (and the mean of the raw
        vectors, for peers whose decision reads them)."""
        raws = [output.raw for output in enrolled]
        return PeerOutput(
            embedding=average_template([output.embedding for output in enrolled]),
            raw=None if any(raw is None for raw in raws) else np.mean(raws, axis=0))
