"""The model that comes with keras_dmtl: an export folder the unlock runs as it is.

`python -m keras_dmtl.unlock` uses this folder when `--export_dir` is not given;
`train.py --config.init_from=keras_dmtl/pretrained/model.keras` fine-tunes it;
`python -m keras_dmtl.pretrained.export` writes its SavedModel and ONNX. What it
was trained on, how well it does and under which licences: MODEL_CARD.md here.
`python -m keras_dmtl.pretrained.build` makes the folder from a trained run.

Imports nothing heavy: the edge runtime (no TensorFlow) reads it.
"""

import json
import os
import zipfile

PRETRAINED_DIR = os.path.dirname(os.path.abspath(__file__))
MANIFEST = "manifest.json"
KERAS_MODEL = "model.keras"
LABELS = "labels.json"  # class names only: what fine-tuning takes over
# What each shipped format outputs for a generated face (regenerated from its
# seed, never stored): the test that the files are the ones the card describes.
REFERENCE = "reference.json"
# The formats the folder ships; the others are one command away (export.py).
SHIPPED_FORMATS = ("tflite_int8", "tflite_float32")


def export_dir():
    """The shipped export folder.

    Returns:
        The folder's path.

    Raises:
        FileNotFoundError: its manifest is missing (a checkout without the model
            files); the message says how to get them or use an export of one's own.
    """
    if not os.path.isfile(os.path.join(PRETRAINED_DIR, MANIFEST)):
        raise FileNotFoundError(
            f"{PRETRAINED_DIR} holds no {MANIFEST}: the shipped model is missing from this "
            "checkout (restore it with git checkout -- keras_dmtl/pretrained), or give "
            "--export_dir=<a folder written by export/export_model.py>.")
    return PRETRAINED_DIR


def architecture():
    """The shipped network's settings, read from model.keras without loading it.

    Returns:
        dict with backbone, backbone_width, image_size, channels, embedding_dim
        and identity_head: what a run must set to start from it (`init_from`).
    """
    with zipfile.ZipFile(os.path.join(export_dir(), KERAS_MODEL)) as archive:
        config = json.loads(archive.read("config.json"))["config"]
    height, _, channels = config["input_shape"]
    return {"backbone": config["backbone"], "backbone_width": config["backbone_width"],
            "image_size": height, "channels": channels,
            "embedding_dim": config["embedding_dim"], "identity_head": config["identity_head"]}
