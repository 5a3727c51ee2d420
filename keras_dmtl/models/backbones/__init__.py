"""Shared-trunk backbones: raw face pixels in, flat shared features Z out.

A trunk is a function `trunk(x, width=1.0, prefix="") -> features` in its own
module in this package, decorated with `@register("name")`: `x` is the rescaled
image tensor (B, H, W, C) in [-1, 1], `width` multiplies every filter count,
`prefix` starts every layer name, and `features` is a (B, D) tensor. Every
module here is imported on first use, so adding a trunk is adding one file.
`blocks` holds the pieces trunks share (`conv_bn_act`, `scaled_filters`, ...).

`build_backbone` wraps a trunk in a functional Keras model (tf2onnx cannot
convert Sequential models) that takes raw pixels in [0, 255] and rescales them
itself, so an int8 export maps camera pixels exactly. A trunk uses no Lambda
layers (they do not survive `.keras` serialization) and no random layers (they
switch XLA off).

Layer names are stable (`stem`, `block_a1`, `reduction_a`, ... then `features`),
so callers can tap an intermediate block with `model.get_layer(name).output`.
"""

from __future__ import annotations

from typing import Callable, Sequence, Tuple

import keras
from keras import layers

from keras_dmtl.models.backbones.blocks import CHANNEL_DIVISOR
from keras_dmtl.models.backbones.blocks import ScaledResidual
from keras_dmtl.models.backbones.blocks import conv_bn_act
from keras_dmtl.models.backbones.blocks import scaled_filters
from keras_dmtl.registry import Registry

VALID_CHANNELS = (1, 3)

TRUNKS = Registry(__name__, "backbone", "--config.backbone", skip=("blocks",))


def register(name: str) -> Callable:
    """Function decorator: makes a trunk function available as backbone `name`.

    Args:
        name: the value of `--config.backbone` that selects the trunk.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: `name` is already registered.
    """
    return lambda trunk_fn: TRUNKS.add(name, trunk_fn)


def available():
    """Returns the sorted names of the registered backbones."""
    return TRUNKS.names()


def trunk(name: str) -> Callable:
    """The registered trunk function of backbone `name`.

    Raises:
        ValueError: the name is not registered (the message lists the names).
    """
    return TRUNKS.lookup(name)


def build_backbone(
    name: str,
    input_shape: Sequence[int] = (64, 64, 1),
    width: float = 1.0,
    name_prefix: str = "",
) -> keras.Model:
    """Builds a shared trunk as a functional model from raw pixels to features Z.

    Args:
        name: a registered backbone (see `available()`).
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
    trunk_fn = trunk(name)
    input_shape = _checked_input_shape(input_shape)
    if not width > 0:
        raise ValueError(
            f"Width multiplier (--config.backbone_width) must be positive, got {width}."
        )
    images = keras.Input(shape=input_shape, dtype="float32", name=f"{name_prefix}image")
    # Inside the model, so exported models (incl. int8) take raw pixels.
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{name_prefix}rescale")(images)
    features = trunk_fn(x, width=width, prefix=name_prefix)
    return keras.Model(images, features, name=f"{name_prefix}{name}")


def _checked_input_shape(input_shape: Sequence[int]) -> Tuple[int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1 or shape[-1] not in VALID_CHANNELS:
        raise ValueError(
            f"Input shape {tuple(input_shape)} is not (height, width, channels) with "
            f"channels in {VALID_CHANNELS}: check --config.image_size and --config.channels."
        )
    return shape


__all__ = ["CHANNEL_DIVISOR", "VALID_CHANNELS", "ScaledResidual", "available", "build_backbone",
           "conv_bn_act", "register", "scaled_filters", "trunk"]
