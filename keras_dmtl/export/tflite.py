"""TFLite conversion from the SavedModel: float32, float16, dynamic-range, int8."""

import warnings

import numpy as np
import tensorflow as tf

KINDS = ("float32", "float16", "dynamic", "int8")
# TF's int8 calibrator runs the model in the deprecated tf.lite.Interpreter and
# warns about it: TF's own use, nothing a caller could change.
_CALIBRATOR_DEPRECATION = r"\s*Warning: tf\.lite\.Interpreter is deprecated"


def convert(saved_model_dir, kind, representative_images=None):
    """Converts the SavedModel's `serving_default` signature.

    Only builtin ops are allowed: Flex (SELECT_TF_OPS) does not run in standalone
    LiteRT or on Android (docs/ecosystem.md, "TFLite variants and int8 calibration").

    Args:
        saved_model_dir: from `export_saved_model`.
        kind: one of `KINDS`.
        representative_images: float32 (N, H, W, C) 0..255 real face crops from
            the training data; required for "int8" (100-500 is typical).

    Returns:
        The flatbuffer bytes.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if kind == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("int8 conversion needs representative images "
                             "(flag --representative_samples).")
        images = np.asarray(representative_images, np.float32)

        def representative_dataset():
            for image in images:
                yield {"images": image[None]}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif kind != "float32":
        raise ValueError(f"Unknown TFLite kind {kind!r} (flag --formats): choose from {KINDS}.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_CALIBRATOR_DEPRECATION, category=UserWarning)
        return converter.convert()
