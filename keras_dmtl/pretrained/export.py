"""Writes the shipped model as a SavedModel (TF Serving layout) and as ONNX.

    python -m keras_dmtl.pretrained.export --out_dir=exported_pretrained

The shipped folder holds the phone's formats (TFLite int8 and float32) and the
Keras model; the server formats are made from that Keras model here, with the
shipped float threshold and its calibration (the same float32 arithmetic), and
each is checked against Keras on the reference face. The folder is written
beside the old one and swapped in whole (`export.staging`).
"""

import os
import shutil

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.data.records import DataError  # noqa: E402
from keras_dmtl.export.inference import build_inference_model  # noqa: E402
from keras_dmtl.export.onnx_export import export_onnx  # noqa: E402
from keras_dmtl.export.onnx_export import run_onnx  # noqa: E402
from keras_dmtl.export.savedmodel import export_saved_model  # noqa: E402
from keras_dmtl.export.staging import staged_directory  # noqa: E402
from keras_dmtl.io_utils import read_json  # noqa: E402
from keras_dmtl.io_utils import sha256_digest  # noqa: E402
from keras_dmtl.io_utils import write_json  # noqa: E402
from keras_dmtl.pretrained import KERAS_MODEL  # noqa: E402
from keras_dmtl.pretrained import LABELS  # noqa: E402
from keras_dmtl.pretrained import MANIFEST  # noqa: E402
from keras_dmtl.pretrained import export_dir  # noqa: E402
from keras_dmtl.pretrained.build import reference_face  # noqa: E402

SERVER_FORMATS = {"saved_model": os.path.join("serving", "dmtl", "1"), "onnx": "dmtl.onnx"}
# Largest embedding difference from Keras a server format may show on the reference face.
PARITY_TOLERANCE = 1e-4


def export_server_formats(out_dir, source_dir=None):
    """Writes the SavedModel and ONNX of the shipped model with a manifest.

    Args:
        out_dir: the folder to write (an export folder of ours, empty or new).
        source_dir: the shipped folder; default `keras_dmtl.pretrained.export_dir()`.

    Returns:
        {format: largest embedding difference from Keras on the reference face}.

    Raises:
        DataError: a format disagrees with Keras beyond `PARITY_TOLERANCE`, or
            `out_dir` is a folder that is not an export.
    """
    source_dir = source_dir or export_dir()
    shipped = read_json(os.path.join(source_dir, MANIFEST))
    keras_entry = shipped["formats"]["keras"]
    model = keras.saving.load_model(os.path.join(source_dir, KERAS_MODEL))
    inference = build_inference_model(model)
    spec = shipped["input"]
    face = reference_face(spec["height"], spec["channels"])
    expected = np.asarray(inference.predict(face, verbose=0)["embedding"])
    differences, formats = {}, {}
    with staged_directory(out_dir) as staging:
        saved_model = os.path.join(staging, SERVER_FORMATS["saved_model"])
        export_saved_model(inference, saved_model, keras_entry["threshold"])
        serving = tf.saved_model.load(saved_model).signatures["serving_default"]
        onnx_path = os.path.join(staging, SERVER_FORMATS["onnx"])
        export_onnx(inference, onnx_path)
        got = {"saved_model": serving(images=tf.constant(face))["embedding"].numpy(),
               "onnx": run_onnx(onnx_path, face)["embedding"]}
        for fmt, relative in SERVER_FORMATS.items():
            differences[fmt] = float(np.max(np.abs(got[fmt] - expected)))
            if differences[fmt] > PARITY_TOLERANCE:
                raise DataError(f"The {fmt} export differs from Keras by {differences[fmt]:.2g} "
                                "on the reference face: the conversion is wrong; nothing was "
                                f"written to {out_dir}.")
            path = os.path.join(staging, relative)
            formats[fmt] = {"file": relative, "sha256": sha256_digest(path),
                            "threshold": keras_entry["threshold"],
                            "calibration": keras_entry["calibration"]}
        shutil.copyfile(os.path.join(source_dir, LABELS), os.path.join(staging, LABELS))
        write_json(os.path.join(staging, MANIFEST), {**shipped, "formats": formats})
    return differences


def _define_flags():
    flags.DEFINE_string("out_dir", None, "The folder to write.", required=True)


def main(argv):
    del argv
    quiet_logs()
    try:
        differences = export_server_formats(flags.FLAGS.out_dir)
    except (DataError, FileNotFoundError) as error:
        logging.error("%s", error)
        raise SystemExit(2) from None
    for fmt, difference in differences.items():
        print(f"{fmt}: {os.path.join(flags.FLAGS.out_dir, SERVER_FORMATS[fmt])}, largest "
              f"embedding difference from Keras {difference:.2g}")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
