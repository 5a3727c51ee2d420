"""The paper's identity classifier: a dense softmax layer (with center loss beside it)."""

from keras import ops

from keras_dmtl.models.identity_heads import register
from keras_dmtl.models.identity_heads.base import IdentityHead


@register("softmax")
class SoftmaxHead(IdentityHead):
    """Logits x W + b: softmax cross-entropy, as in the paper (Ming & Xia).

    Example:

    >>> import numpy as np
    >>> head = SoftmaxHead(num_identities=5)
    >>> head(np.ones((2, 8), "float32")).shape
    (2, 5)
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.bias = self.add_weight(name="bias", shape=(self.num_identities,),
                                    initializer="zeros")

    def call(self, embedding):
        return ops.matmul(ops.cast(embedding, "float32"), self.kernel) + self.bias
