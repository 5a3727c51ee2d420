"""ArcFace: additive angular margin loss (Deng et al., CVPR 2019)."""

import math

from keras import ops

from keras_dmtl.models.identity_heads import register
from keras_dmtl.models.identity_heads.base import CosineHead


@register("arcface")
class ArcFaceHead(CosineHead):
    """Logits s * cos(theta_j); the loss sees s * cos(theta_y + m) for the true class.

    The margin is added to the angle itself, so it is the same geodesic distance
    on the hypersphere for every class. Where theta_y + m would pass pi (the
    cosine would rise again), the true class's logit falls back to
    cos(theta_y) - m * sin(m), as in the authors' code, so the target stays
    monotone in theta_y.

    Args:
        num_identities: K.
        scale: s (64 in the paper for large sets; 30 suits hundreds of people).
        margin: m in radians (0.5 in the paper).

    Example:

    >>> import numpy as np
    >>> head = ArcFaceHead(num_identities=5, scale=30.0, margin=0.5)
    >>> head(np.ones((2, 8), "float32")).shape
    (2, 5)
    """

    def __init__(self, num_identities, scale=30.0, margin=0.5, **kwargs):
        super().__init__(num_identities, scale=scale, margin=margin, **kwargs)

    def training_logits(self, logits, labels):
        cosine = logits / self.scale
        sine = ops.sqrt(ops.clip(1.0 - cosine * cosine, 0.0, 1.0))
        with_margin = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
        # Past theta = pi - m the angle cannot grow: keep the target decreasing.
        fallback = cosine - self.margin * math.sin(self.margin)
        target = ops.where(cosine > math.cos(math.pi - self.margin), with_margin, fallback)
        mask = self.target_mask(labels)
        return self.scale * (cosine + mask * (target - cosine))
