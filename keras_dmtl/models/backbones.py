"""Shared-trunk backbones: raw face pixels in, flat shared features Z out.

Every backbone is a functional Keras model (tf2onnx cannot convert Sequential
models) without Lambda layers (they do not survive `.keras` serialization) and
without random layers (they switch XLA off). The model takes raw pixels in
[0, 255] and rescales them itself, so an int8 export maps camera pixels exactly.

Layer names are stable (`stem`, `block_a1`, `reduction_a`, ... then `features`),
so callers can tap an intermediate block with `model.get_layer(name).output`.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Optional, Sequence, Tuple

import keras
from keras import layers

from keras_dmtl.models.normalization import batch_normalization

# Filter counts are rounded to a multiple of this: friendlier to SIMD kernels and
# int8 accelerators than odd channel counts.
CHANNEL_DIVISOR = 8

VALID_CHANNELS = (1, 3)


@keras.saving.register_keras_serializable(package="keras_dmtl")
class ScaledResidual(layers.Layer):
    """Adds a scaled residual branch to its shortcut: `shortcut + scale * residual`.

    Inception-ResNet scales each residual (0.1-0.3) so that deep stacks of wide
    blocks stay stable early in training.

    Args:
        scale: the factor applied to the residual branch.
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


# --- Inception-ResNet v1 (FaceNet style) ----------------------------------------

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


# --- Mobile (MobileFaceNet style) ------------------------------------------------

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


# --- Tiny ------------------------------------------------------------------------


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


# name -> trunk builder `(rescaled_images, width, prefix) -> features (B, D)`.
BACKBONES: Dict[str, Callable] = {
    "inception_resnet": inception_resnet_trunk,
    "mobile": mobile_trunk,
    "tiny": tiny_trunk,
}


def build_backbone(
    name: str,
    input_shape: Sequence[int] = (64, 64, 1),
    width: float = 1.0,
    name_prefix: str = "",
) -> keras.Model:
    """Builds a shared trunk as a functional model from raw pixels to features Z.

    Args:
        name: a key of BACKBONES.
        input_shape: (height, width, channels) of the images; channels 1 or 3.
        width: multiplies every filter count (1.0 = the documented size).
        name_prefix: prepended to the model's and every layer's name, so that
            two trunks can share one graph.

    Returns:
        A keras.Model named `name_prefix + name` mapping float32 images in
        [0, 255] of shape (B, *input_shape) to features (B, D).

    Raises:
        ValueError: unknown name, bad input shape or non-positive width.
    """
    if name not in BACKBONES:
        raise ValueError(
            f"Unknown backbone {name!r} (--backbone): use one of {', '.join(sorted(BACKBONES))}."
        )
    input_shape = _checked_input_shape(input_shape)
    if not width > 0:
        raise ValueError(f"Width multiplier (--width) must be positive, got {width}.")
    images = keras.Input(shape=input_shape, dtype="float32", name=f"{name_prefix}image")
    # Inside the model, so exported models (incl. int8) take raw pixels.
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{name_prefix}rescale")(images)
    features = BACKBONES[name](x, width=width, prefix=name_prefix)
    return keras.Model(images, features, name=f"{name_prefix}{name}")


def _checked_input_shape(input_shape: Sequence[int]) -> Tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1 or shape[-1] not in VALID_CHANNELS:
        raise ValueError(
            f"Input shape {tuple(input_shape)} is not (height, width, channels) with "
            f"channels in {VALID_CHANNELS}: check --image_size and --channels."
        )
    return shape
