"""Prints the parameter count of a backbone.

    python -m keras_dmtl.models.summary --backbone inception_resnet \\
        --image_size 160 --channels 3 --width 1.0
"""

from __future__ import annotations

from typing import Sequence

from absl import app, flags

from keras_dmtl.models import backbones


def describe_backbone(name: str, input_shape: Sequence[int], width: float = 1.0) -> str:
    """Builds a backbone and describes its size in one line.

    Args:
        name: a registered backbone (see `backbones.available()`).
        input_shape: (height, width, channels) of the images.
        width: the width multiplier.

    Returns:
        e.g. "inception_resnet: 13,419,168 parameters (input 160x160x3, width 1.0)".
    """
    model = backbones.build_backbone(name, input_shape, width=width)
    size = "x".join(str(d) for d in input_shape)
    return f"{name}: {model.count_params():,} parameters (input {size}, width {width})"


def main(argv):
    del argv  # No positional arguments.
    config = flags.FLAGS
    try:
        line = describe_backbone(
            config.backbone, (config.image_size, config.image_size, config.channels), config.width
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    print(line)


if __name__ == "__main__":
    # Flags are defined only when run as a program, so importing this module
    # never clashes with the trainer's flags of the same names.
    flags.DEFINE_enum("backbone", "inception_resnet", backbones.available(), "Trunk to build.")
    flags.DEFINE_integer("image_size", 160, "Height and width of the input images.", lower_bound=1)
    flags.DEFINE_integer("channels", 3, "Input channels: 1 (grey) or 3 (colour).")
    flags.DEFINE_float("width", 1.0, "Width multiplier of every filter count.")
    app.run(main)
