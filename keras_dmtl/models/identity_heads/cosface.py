"""CosFace: large margin cosine loss (Wang et al., CVPR 2018)."""

from keras_dmtl.models.identity_heads import register
from keras_dmtl.models.identity_heads.base import CosineHead


@register("cosface")
class CosFaceHead(CosineHead):
    """Logits s * cos(theta_j); the loss sees s * (cos(theta_y) - m) for the true class.

    Normalising both the embedding and the class weights puts every face on a
    hypersphere where only angles count; subtracting m from the true class's
    cosine makes a person's faces gather within a margin of their class centre,
    which is what verification by cosine similarity needs.

    Args:
        num_identities: K.
        scale: s (the paper uses 64 for 10k+ identities; 30 suits hundreds).
        margin: m, subtracted from the true class's cosine (0.35 in the paper).

    Example:

    >>> import numpy as np
    >>> head = CosFaceHead(num_identities=5, scale=30.0, margin=0.35)
    >>> logits = head(np.ones((2, 8), "float32"))
    >>> float(np.abs(logits).max()) <= 30.0
    True
    """

    def training_logits(self, logits, labels):
        return logits - self.scale * self.margin * self.target_mask(labels)
