"""The export manifest (`manifest.json`): what a runtime needs to feed and read a model.

Written by `keras_dmtl.export.artifacts`, read by the Python runtime here and by the
Android app (`android_demo/unlock-core`, `Manifest.java`).
"""

import json
import math
import numbers
import os
import re

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.faces.alignment import reference_landmarks
from keras_dmtl.io_utils import sha256_digest


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


class ManifestError(ValueError):
    """The export folder's manifest or model file cannot be trusted."""


def check_threshold(value, where):
    """A similarity threshold as a float: finite and in (-1, 1].

    Cosine similarity lies in [-1, 1]: a threshold at or below -1 accepts every
    face, one above 1 accepts none.

    Raises:
        ManifestError: naming `where` (the flag or the manifest key).
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if is_number else math.nan
    if not (math.isfinite(number) and -1.0 < number <= 1.0):
        raise ManifestError(f"{where}={value!r}: a threshold must be a finite number in "
                            "(-1, 1] (a cosine similarity); use the calibrated one.")
    return number


def _field(parent, key, path, check, expected):
    """`parent[key]` when `check` accepts it, else a `ManifestError` naming `path.key`."""
    name = f"{path}.{key}" if path else key
    if not isinstance(parent, dict) or key not in parent:
        raise ManifestError(f"manifest.json: missing key \"{name}\"")
    if not check(parent[key]):
        raise ManifestError(f"manifest.json: \"{name}\" must be {expected}, "
                            f"got {parent[key]!r:.60}")
    return parent[key]


def _is_int(value):
    return type(value) is int


def parse_manifest(manifest, model_format):
    """Checks the keys a runtime reads, for the format it runs.

    Args:
        manifest: the decoded manifest.json.
        model_format: the format to run, e.g. "tflite_int8".

    Returns:
        dict: height, channels, face_margin, expression_labels, and the format's
        file, sha256, threshold, threshold_backed (whether its calibration pairs
        showed the target FAR at 95 % confidence) and calibration (as exported).

    Raises:
        ManifestError: one line naming the missing or malformed key.
    """
    if not isinstance(manifest, dict):
        raise ManifestError("manifest.json: not a JSON object")
    spec = _field(manifest, "input", "", lambda v: isinstance(v, dict), "an object")
    size = _field(spec, "height", "input", lambda v: _is_int(v) and 8 <= v <= 1024,
                  "an integer in [8, 1024]")
    _field(spec, "width", "input", lambda v: v == size, "equal to input.height")
    channels = _field(spec, "channels", "input", lambda v: v in (1, 3) and _is_int(v), "1 or 3")
    margin = _field(spec, "face_margin", "input",
                    lambda v: type(v) in (int, float) and 0 <= v < 2, "a number in [0, 2)")
    # Distinct: seven times "happy" would pass a smile challenge with any face.
    labels = _field(manifest, "expression_labels", "",
                    lambda v: (isinstance(v, list) and v and all(isinstance(x, str) for x in v)
                               and len(set(v)) == len(v)),
                    "a non-empty list of distinct strings")
    formats = _field(manifest, "formats", "", lambda v: isinstance(v, dict), "an object")
    if model_format not in formats:
        # repr: format names come from the file, and the error must stay one line.
        raise ManifestError(f"--format={model_format}: the export has "
                            f"{', '.join(map(repr, formats)) or 'no formats'}.")
    path = f"formats.{model_format}"
    entry = _field(formats, model_format, "formats", lambda v: isinstance(v, dict), "an object")
    # A plain file name: a manifest must not point the runtime outside its folder.
    model_file = _field(entry, "file", path,
                        lambda v: (isinstance(v, str) and v not in ("", ".", "..")
                                   and os.path.basename(v) == v),
                        "a file name in the export folder")
    digest = _field(entry, "sha256", path,
                    lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v),
                    "a sha256 hex digest")
    _field(entry, "threshold", path, lambda v: True, "")
    threshold = check_threshold(entry["threshold"], f"manifest.json {path}.threshold")
    # Exports before the FAR bound carry no calibration entry: not known to be backed.
    calibration = entry.get("calibration")
    backed = isinstance(calibration, dict) and calibration.get("backed") is True
    return {"height": size, "channels": channels, "face_margin": float(margin),
            "expression_labels": labels, "file": model_file, "sha256": digest,
            "threshold": threshold, "threshold_backed": backed,
            "calibration": calibration if isinstance(calibration, dict) else {}}


def check_label_count(labels, classes):
    """Refuses expression labels that do not name the model's expression classes one to one.

    Args:
        labels: the manifest's expression labels.
        classes: the number of expression classes the model outputs.

    Raises:
        ManifestError: the counts differ.
    """
    if len(labels) != classes:
        raise ManifestError(f"manifest.json lists {len(labels)} expression label(s) but the model "
                            f"outputs {classes} expression classes: the manifest does not belong "
                            "to this model; export the model again with export/export_model.py.")


def load_manifest(export_dir, model_format):
    """The checked manifest entry of an export folder, its model file verified.

    Args:
        export_dir: the folder written by export/export_model.py.
        model_format: the format to run.

    Returns:
        dict: `parse_manifest`'s fields, "file" made a full path.

    Raises:
        ManifestError: the manifest is missing or malformed, or the model file's
            sha256 differs from the manifest's (a partial or tampered export).
    """
    path = os.path.join(export_dir, "manifest.json")
    try:
        with open(path) as stream:
            manifest = json.load(stream)
    except (OSError, ValueError, RecursionError) as error:
        raise ManifestError(f"{path}: not a readable export manifest ({error}); run "
                            "export/export_model.py first, or pass its --out_dir as "
                            "--export_dir.") from None
    try:
        checked = parse_manifest(manifest, model_format)
    except ManifestError as error:
        raise ManifestError(f"{path}: {error}; export the model again with "
                            "export/export_model.py.") from None
    model_path = os.path.join(export_dir, checked["file"])
    try:
        actual = sha256_digest(model_path)
    except OSError as error:
        raise ManifestError(f"{model_path}: {error.strerror}; export the model "
                            "again.") from None
    if actual != checked["sha256"]:
        raise ManifestError(f"{model_path} has sha256 {actual[:12]}..., but {path} says "
                            f"{checked['sha256'][:12]}...: the model file was changed or the "
                            "export is incomplete; refusing to run it. Export again.")
    return dict(checked, file=model_path)
