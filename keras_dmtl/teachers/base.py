"""What an embedding teacher is: a name, a width, and one face in, one vector out."""

from __future__ import annotations

import abc
from typing import Optional

import numpy as np


class EmbeddingTeacher(abc.ABC):
    """A face-recognition model that embeds one decoded image.

    Subclasses load their model in `__init__` (once per worker process) and set
    the class attributes.

    Attributes:
        name: the registered name (`--teacher`), set by `registry.register`.
        version: changes whenever the vectors for the same image may change
            (model file, alignment, preprocessing); part of the cache key.
        embedding_dim: the width of the vectors `embed` returns.
        licence: the model's licence, for the model card.
    """

    name: str = ""
    version: str = ""
    embedding_dim: int = 0
    licence: str = ""

    @abc.abstractmethod
    def embed(self, image: np.ndarray) -> Optional[np.ndarray]:
        """The L2-normalised embedding of the face in `image`.

        Args:
            image: uint8 (H, W) gray or (H, W, 3) RGB: a photo, or a face crop.

        Returns:
            float32 (embedding_dim,) with unit norm, or None when the image holds
            no face the teacher can find (never a zero vector in its place).
        """


def unit(vector) -> np.ndarray:
    """`vector` as float32 scaled to unit L2 norm."""
    vector = np.asarray(vector, np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
