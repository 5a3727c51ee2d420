"""The interface every identity head implements."""

import keras
from keras import ops


class IdentityHead(keras.layers.Layer):
    """Embedding (B, D) in, identity logits (B, K) out; a margin for training.

    `call` gives the logits that predict identities (accuracy, inference);
    `training_logits` gives those the identity loss sees, where margin heads
    make the true class harder to reach. Both run in float32 (mixed precision
    keeps the logits' softmax stable).

    Args:
        num_identities: K, identity classes of the training data.
    """

    def __init__(self, num_identities, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_identities = int(num_identities)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.num_identities),
                                      initializer="glorot_uniform")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_identities,)

    def training_logits(self, logits, labels):
        """The logits the identity loss sees; the default adds no margin.

        Args:
            logits: (B, K) output of `call`.
            labels: int (B,) identity labels, -1 where absent (left unchanged).
        """
        del labels
        return logits

    def get_config(self):
        return {**super().get_config(), "num_identities": self.num_identities}


class CosineHead(IdentityHead):
    """Logits s * cos(theta_j) of the normalised embedding and class weights.

    Args:
        num_identities: K.
        scale: s, the radius of the hypersphere the logits live on.
        margin: m, the head's margin (its meaning is the subclass's).
    """

    def __init__(self, num_identities, scale=30.0, margin=0.35, **kwargs):
        super().__init__(num_identities, **kwargs)
        self.scale = float(scale)
        self.margin = float(margin)

    def cosines(self, embedding):
        """cos(theta_j) of each sample and class (B, K)."""
        embedding = ops.cast(embedding, "float32")
        embedding = embedding / ops.maximum(ops.norm(embedding, axis=-1, keepdims=True), 1e-12)
        kernel = self.kernel / ops.maximum(ops.norm(self.kernel, axis=0, keepdims=True), 1e-12)
        return ops.clip(ops.matmul(embedding, kernel), -1.0, 1.0)

    def call(self, embedding):
        return self.scale * self.cosines(embedding)

    def target_mask(self, labels):
        """One-hot float (B, K) of the true classes; rows of absent labels are 0."""
        return ops.one_hot(ops.cast(labels, "int32"), self.num_identities, dtype="float32")

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "margin": self.margin}
