"""The one BatchNormalization configuration every part of the network uses."""

import keras
import tensorflow as tf

# Keras' default momentum of 0.99 leaves the moving variance far from the true
# activation variance after the few hundred steps a small face dataset gives
# (docs/ecosystem.md, "BatchNormalization on small face datasets"): inference-mode
# outputs are then wrong.
BATCH_NORM_MOMENTUM = 0.9


def batch_normalization(name):
    """Returns a BatchNormalization layer with the project's settings.

    `synchronized=True` computes the batch statistics over the global batch under
    tf.distribute, so N replicas train exactly like one device on the same batch;
    on a single device it is the plain layer.

    Args:
        name: the layer name.

    Returns:
        A `BatchNormalization` of this module (a `keras.layers.BatchNormalization`
        with a fused training step).
    """
    return BatchNormalization(momentum=BATCH_NORM_MOMENTUM, synchronized=True, name=name)


@keras.saving.register_keras_serializable(package="keras_dmtl")
class BatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose training step on one device runs TF's fused kernel.

    It keeps Keras' class name on purpose: a `.keras` file stores each layer's
    weights under a path made from its class name, so models saved before this
    class existed (and by it) load either way.

    Keras 3 normalises with separate moment, subtract and scale ops; TF's
    `FusedBatchNormV3` does the forward and the backward pass in one kernel each,
    which on CPU makes a training-mode layer about 1.5 to 1.9x cheaper at the
    `mobile` trunk's shapes (`keras_dmtl.benchmarks.xla_cpu`). The results are
    Keras' own: the same normalisation (biased batch variance), the same
    moving-average update. Everything else (inference, masks, renorm, channels
    first, several replicas, whose statistics are synchronised, another backend)
    takes the Keras path.

    Example:

    >>> layer = BatchNormalization(momentum=0.9)
    >>> images = np.random.default_rng(0).normal(3.0, 2.0, (8, 4, 4, 2)).astype("float32")
    >>> outputs = layer(images, training=True)
    >>> bool(abs(float(np.mean(outputs))) < 1e-4)
    True
    """

    def _fusable(self, inputs, training, mask):
        if not (training and self.trainable) or mask is not None or self.renorm:
            return False
        if keras.backend.backend() != "tensorflow" or len(inputs.shape) != 4:
            return False
        if self.axis not in (-1, 3) or not (self.scale and self.center):
            return False
        context = tf.distribute.get_replica_context()
        return context is None or context.num_replicas_in_sync == 1

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=self.epsilon, data_format="NHWC", is_training=True)
        # The kernel returns the unbiased variance for the moving average; Keras
        # averages the biased one it normalised with.
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum
                                    + variance * (1.0 - momentum))
        return tf.cast(outputs, self.compute_dtype)
