"""The one BatchNormalization configuration every part of the network uses."""

import keras

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
        A `keras.layers.BatchNormalization`.
    """
    return keras.layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, synchronized=True, name=name
    )
