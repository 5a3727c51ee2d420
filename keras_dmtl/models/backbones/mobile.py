"""A MobileFaceNet-style trunk (~0.9 M parameters) for phones."""

from keras import layers

from keras_dmtl.models.backbones import register
from keras_dmtl.models.backbones.blocks import conv_bn_act
from keras_dmtl.models.backbones.blocks import scaled_filters

# MobileFaceNet uses PReLU; this trunk uses ReLU because LiteRT's XNNPACK delegate
# has no int8 PReLU: each of the 33 PReLUs then ran on the reference kernel and split
# the graph into 35 delegate partitions, making the int8 model 3x slower than its
# float32 twin (52 ms vs 16 ms at 112x112x3, one x86 thread). With ReLU the whole
# int8 graph is delegated (18 ms).

# MobileFaceNet's bottleneck stages: (expansion, output channels, repeats, stride).
MOBILE_STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def _inverted_residual(x, expansion: int, filters: int, strides: int, name: str):
    """MobileNetV2 bottleneck: 1x1 expand, 3x3 depthwise, linear 1x1 project,
    with an identity shortcut when the shape is unchanged.

    Args:
        x: the block input.
        expansion: channel expansion factor of the hidden layer.
        filters: output channels.
        strides: depthwise stride.
        name: the block output's name.

    Returns:
        The block output.
    """
    y = conv_bn_act(x, x.shape[-1] * expansion, 1, name=f"{name}_expand", activation="relu")
    y = conv_bn_act(y, None, 3, name=f"{name}_depthwise", strides=strides, activation="relu")
    if strides == 1 and x.shape[-1] == filters:
        y = conv_bn_act(y, filters, 1, name=f"{name}_project", activation=None)
        return layers.Add(name=name)([x, y])
    return conv_bn_act(y, filters, 1, name=name, activation=None)


@register("mobile")
def mobile_trunk(x, width: float = 1.0, prefix: str = ""):
    """A MobileFaceNet-like trunk (~0.9 M parameters at width 1.0) for phones.

    Args:
        x: rescaled images (B, H, W, C).
        width: multiplies every filter count.
        prefix: prepended to every layer name.

    Returns:
        Features (B, D) after global average pooling; D = 512 at width 1.0.
    """
    p = prefix
    x = conv_bn_act(
        x, scaled_filters(64, width), 3, name=f"{p}stem_conv", strides=2, activation="relu"
    )
    x = conv_bn_act(x, None, 3, name=f"{p}stem", activation="relu")
    for s, (expansion, filters, repeats, stride) in enumerate(MOBILE_STAGES):
        for r in range(repeats):
            x = _inverted_residual(
                x,
                expansion,
                scaled_filters(filters, width),
                strides=stride if r == 0 else 1,
                name=f"{p}stage{s + 1}_block{r + 1}",
            )
    x = conv_bn_act(x, scaled_filters(512, width), 1, name=f"{p}head", activation="relu")
    return layers.GlobalAveragePooling2D(name=f"{p}features")(x)
