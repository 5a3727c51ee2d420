"""Compact Inception-ResNet v1 (FaceNet style): the paper-sized trunk, ~13.4 M parameters."""

import functools

from keras import layers

from keras_dmtl.models.backbones import register
from keras_dmtl.models.backbones.blocks import ScaledResidual
from keras_dmtl.models.backbones.blocks import conv_bn_act
from keras_dmtl.models.backbones.blocks import scaled_filters

# Block counts of the compact trunk. FaceNet's Inception-ResNet v1 stacks 5/10/5
# blocks (~23 M parameters); 5/6/2 keeps its widths and lands at ~13.4 M, the
# size the DMTL paper reports for its trunk.
INCEPTION_RESNET_BLOCKS = {"a": 5, "b": 6, "c": 2}


def _inception_resnet_block(x, branches, scale: float, name: str, activation: bool = True):
    """An Inception-ResNet block: parallel conv branches, a linear 1x1 up-projection
    back to the input width, and a scaled residual add.

    Args:
        x: the block input.
        branches: per branch, a sequence of (filters, kernel_size) convolutions.
        scale: residual scaling factor.
        name: prefix of the layer names; the block output is named `name`.
        activation: whether a ReLU follows the residual add.

    Returns:
        The block output, same shape as `x`.
    """
    outputs = []
    for b, convs in enumerate(branches):
        y = x
        for c, (filters, kernel_size) in enumerate(convs):
            y = conv_bn_act(y, filters, kernel_size, name=f"{name}_b{b}_{c}")
        outputs.append(y)
    mixed = layers.Concatenate(name=f"{name}_concat")(outputs)
    # Linear and biased, no batch norm: the residual must be free to take any
    # sign and offset before it is added to the shortcut.
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_up")(mixed)
    if not activation:
        return ScaledResidual(scale, name=name)([x, up])
    x = ScaledResidual(scale, name=f"{name}_add")([x, up])
    return layers.ReLU(name=name)(x)


def _reduction(x, branches, name: str):
    """A reduction block: strided conv branches beside a strided max pool.

    Args:
        x: the block input.
        branches: per branch, a sequence of (filters, kernel_size) convolutions;
            the last convolution of each branch has stride 2.
        name: the block output's name.

    Returns:
        The concatenated output at half the spatial size.
    """
    outputs = []
    for b, convs in enumerate(branches):
        y = x
        for c, (filters, kernel_size) in enumerate(convs):
            stride = 2 if c == len(convs) - 1 else 1
            y = conv_bn_act(y, filters, kernel_size, name=f"{name}_b{b}_{c}", strides=stride)
        outputs.append(y)
    outputs.append(layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x))
    return layers.Concatenate(name=name)(outputs)


@register("inception_resnet")
def inception_resnet_trunk(x, width: float = 1.0, prefix: str = ""):
    """Compact Inception-ResNet v1 (FaceNet's layout with fewer blocks).

    Padding is "same" throughout (FaceNet's "valid" stem would shrink a 64x64
    input to nothing): the total stride is 32, so 64x64 in gives a 2x2 map
    before pooling, 112x112 gives 4x4 and 160x160 gives 5x5.

    Args:
        x: rescaled images (B, H, W, C).
        width: multiplies every filter count.
        prefix: prepended to every layer name.

    Returns:
        Features (B, D) after global average pooling; D = 1792 at width 1.0.
    """
    f = functools.partial(scaled_filters, width=width)
    p = prefix

    x = conv_bn_act(x, f(32), 3, name=f"{p}stem_1", strides=2)
    x = conv_bn_act(x, f(32), 3, name=f"{p}stem_2")
    x = conv_bn_act(x, f(64), 3, name=f"{p}stem_3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{p}stem_pool")(x)
    x = conv_bn_act(x, f(80), 1, name=f"{p}stem_4")
    x = conv_bn_act(x, f(192), 3, name=f"{p}stem_5")
    x = conv_bn_act(x, f(256), 3, name=f"{p}stem", strides=2)

    block_a = [[(f(32), 1)], [(f(32), 1), (f(32), 3)], [(f(32), 1), (f(32), 3), (f(32), 3)]]
    for i in range(INCEPTION_RESNET_BLOCKS["a"]):
        x = _inception_resnet_block(x, block_a, scale=0.17, name=f"{p}block_a{i + 1}")
    x = _reduction(
        x, [[(f(384), 3)], [(f(192), 1), (f(192), 3), (f(256), 3)]], name=f"{p}reduction_a"
    )

    block_b = [[(f(128), 1)], [(f(128), 1), (f(128), (1, 7)), (f(128), (7, 1))]]
    for i in range(INCEPTION_RESNET_BLOCKS["b"]):
        x = _inception_resnet_block(x, block_b, scale=0.10, name=f"{p}block_b{i + 1}")
    x = _reduction(
        x,
        [
            [(f(256), 1), (f(384), 3)],
            [(f(256), 1), (f(256), 3)],
            [(f(256), 1), (f(256), 3), (f(256), 3)],
        ],
        name=f"{p}reduction_b",
    )

    block_c = [[(f(192), 1)], [(f(192), 1), (f(192), (1, 3)), (f(192), (3, 1))]]
    n_c = INCEPTION_RESNET_BLOCKS["c"]
    for i in range(n_c):
        # As in FaceNet, the last block stays linear: the heads that follow are
        # linear bottlenecks and should see signed features.
        x = _inception_resnet_block(
            x, block_c, scale=0.20, name=f"{p}block_c{i + 1}", activation=i < n_c - 1
        )
    return layers.GlobalAveragePooling2D(name=f"{p}features")(x)
