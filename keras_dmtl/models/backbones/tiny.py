"""A four-layer trunk for tests and quick runs."""

from keras import layers

from keras_dmtl.models.backbones import register
from keras_dmtl.models.backbones.blocks import conv_bn_act
from keras_dmtl.models.backbones.blocks import scaled_filters


@register("tiny")
def tiny_trunk(x, width: float = 1.0, prefix: str = ""):
    """Four conv layers (16-32-64-96 filters) for tests and quick runs.

    Three poolings give the last layer a receptive field that spans a mouth or an
    eye at 64x64, which expression needs; fewer leave it seeing only edges.

    Args:
        x: rescaled images (B, H, W, C).
        width: multiplies every filter count.
        prefix: prepended to every layer name.

    Returns:
        Features (B, D) after global average pooling; D = 96 at width 1.0.
    """
    p = prefix
    for index, filters in enumerate((16, 32, 64), start=1):
        x = conv_bn_act(x, scaled_filters(filters, width), 3, name=f"{p}conv{index}")
        x = layers.MaxPooling2D(2, padding="same", name=f"{p}pool{index}")(x)
    x = conv_bn_act(x, scaled_filters(96, width), 3, name=f"{p}conv4")
    return layers.GlobalAveragePooling2D(name=f"{p}features")(x)
