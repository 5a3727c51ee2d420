"""Export a trained run to SavedModel (TF Serving layout), TFLite and ONNX.

    python export/export_model.py --run_dir=runs/dynamic_tiny_seed0 --out_dir=exported

Writes the artifacts, `manifest.json`, and `export_report.{md,json}` (parity of
every format against Keras on the run's held-out subjects, sizes, thresholds).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Run folder written by train.py (holds model.keras).")
flags.DEFINE_string("out_dir", None, "Where to write the artifacts; default <run_dir>/export.")
flags.DEFINE_list("formats", ["saved_model", "onnx", "tflite_float32", "tflite_float16",
                              "tflite_dynamic", "tflite_int8"], "Formats to write.")
flags.DEFINE_integer("representative_samples", 200, "Training crops used to calibrate int8.")
flags.DEFINE_float("target_far", 2e-5, "False-accept rate the thresholds are calibrated for.")
flags.mark_flag_as_required("run_dir")


def main(argv):
    del argv
    from keras_dmtl.data.records import DataError
    from keras_dmtl.export.artifacts import export_run
    from keras_dmtl.export.artifacts import report_table

    if not os.path.exists(os.path.join(FLAGS.run_dir, "model.keras")):
        logging.error("--run_dir=%s holds no model.keras: train first with train.py.",
                      FLAGS.run_dir)
        sys.exit(2)
    out_dir = FLAGS.out_dir or os.path.join(FLAGS.run_dir, "export")
    try:
        results = export_run(FLAGS.run_dir, out_dir, tuple(FLAGS.formats),
                             FLAGS.representative_samples, target_far=FLAGS.target_far)
    except (DataError, ValueError) as error:
        logging.error("%s", error)
        sys.exit(2)
    print(report_table(results))
    print(f"Artifacts, manifest.json and export_report.md in {out_dir}")


if __name__ == "__main__":
    app.run(main)
