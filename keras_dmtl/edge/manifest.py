"""The export manifest (`manifest.json`): what a runtime needs to feed and read a model.

Written by `keras_dmtl.export.artifacts`, read by the Python runtime here and by the
Android app (`android_demo/unlock-core`, `Manifest.java`).
"""

import json
import os

from keras_dmtl.data.alignment import FACE_MARGIN
from keras_dmtl.data.alignment import reference_landmarks


def input_spec(image_size, channels):
    """The manifest's "input" entry: what a runtime must feed the model.

    Args:
        image_size: the square input side.
        channels: 1 (grayscale) or 3 (RGB).
    """
    return {"height": image_size, "width": image_size, "channels": channels,
            "dtype": "float32 (int8 models quantise inside)", "pixel_range": [0, 255],
            "normalisation": "inside the model: x / 127.5 - 1",
            "alignment": "5-point similarity transform of (left eye, right eye, nose tip, "
                         "left and right mouth corner; left = image left) onto "
                         "landmark_template x image size, or without landmarks a square "
                         "crop of the detection box grown by face_margin",
            "face_margin": FACE_MARGIN,
            "landmark_template": reference_landmarks(1.0, FACE_MARGIN).tolist()}


def load_manifest(export_dir):
    """The manifest of an export folder, with a clear error when it is missing."""
    path = os.path.join(export_dir, "manifest.json")
    try:
        with open(path) as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable export manifest ({error}); run "
                         "export/export_model.py first, or pass its --out_dir as "
                         "--export_dir.") from None
