"""The building blocks every trunk is made of.

Kept apart from the trunks so that a new trunk imports what it needs without
importing another trunk.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import layers

from keras_dmtl.models.normalization import batch_normalization

# Filter counts are rounded to a multiple of this: friendlier to SIMD kernels and
# int8 accelerators than odd channel counts.
CHANNEL_DIVISOR = 8


@keras.saving.register_keras_serializable(package="keras_dmtl")
class ScaledResidual(layers.Layer):
    """Adds a scaled residual branch to its shortcut: `shortcut + scale * residual`.

    Inception-ResNet scales each residual (0.1-0.3) so that deep stacks of wide
    blocks stay stable early in training.

    Args:
        scale: the factor applied to the residual branch.

    Example:

    >>> shortcut = np.ones((1, 2), "float32")
    >>> residual = np.full((1, 2), 2.0, "float32")
    >>> ScaledResidual(0.17)([shortcut, residual]).numpy().round(2)
    array([[1.34, 1.34]], dtype=float32)
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + self.scale * residual

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config["scale"] = self.scale
        return config


def scaled_filters(filters: int, width: float) -> int:
    """Scales a filter count by the width multiplier.

    Args:
        filters: the filter count at width 1.0.
        width: the width multiplier.

    Returns:
        `filters * width` rounded to a multiple of CHANNEL_DIVISOR, at least
        CHANNEL_DIVISOR and never below 90% of the exact value.
    """
    exact = filters * width
    rounded = int(exact + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR
    rounded = max(CHANNEL_DIVISOR, rounded)
    if rounded < 0.9 * exact:
        rounded += CHANNEL_DIVISOR
    return rounded


def conv_bn_act(
    x,
    filters: Optional[int],
    kernel_size,
    name: str,
    strides: int = 1,
    activation: Optional[str] = "relu",
):
    """Convolution, batch normalisation and activation: the unit all trunks use.

    Args:
        x: the input tensor (B, H, W, C).
        filters: output channels, or None for a depthwise convolution.
        kernel_size: int or (kh, kw).
        name: prefix of the layer names.
        strides: convolution stride.
        activation: "relu", or None for a linear output.

    Returns:
        The output tensor.
    """
    if filters is None:
        conv = layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_dwconv"
        )
    else:
        conv = layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", use_bias=False,
            name=f"{name}_conv",
        )
    x = conv(x)
    x = batch_normalization(f"{name}_bn")(x)
    if activation is not None:
        if activation != "relu":
            raise ValueError(f"Unknown activation {activation!r}: use 'relu' or None.")
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x
