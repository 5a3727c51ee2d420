"""Export a trained run to SavedModel (TF Serving layout), TFLite and ONNX.

    python export/export_model.py --run_dir=runs/dynamic_tiny_seed0 --out_dir=exported
    python export/export_model.py --model=runs/dynamic_tiny_seed0/checkpoint.keras

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
flags.DEFINE_string("run_dir", None, "Run folder written by train.py (holds model.keras); "
                    "default: the folder holding --model.")
flags.DEFINE_string("model", None, "A .keras model of a run (default <run_dir>/model.keras); "
                    "its run folder still gives the data, split and labels.")
flags.DEFINE_string("out_dir", None, "Where to write the artifacts; default <run_dir>/export.")
flags.DEFINE_list("formats", ["saved_model", "onnx", "tflite_float32", "tflite_float16",
                              "tflite_dynamic", "tflite_int8"], "Formats to write.")
flags.DEFINE_integer("representative_samples", 500, "Training crops used to calibrate int8 "
                     "(all of them when the training split is smaller).")
flags.DEFINE_float("target_far", 2e-5, "False-accept rate the thresholds are calibrated for.")
flags.register_validator("run_dir", lambda value: value or FLAGS.model,
                         "Give --run_dir or --model.")


def main(argv):
    del argv
    from keras_dmtl.data.records import DataError
    from keras_dmtl.export.artifacts import export_run
    from keras_dmtl.export.artifacts import report_table

    run_dir = FLAGS.run_dir or os.path.dirname(os.path.abspath(FLAGS.model))
    for required in ("config.json", "labels.json"):
        if not os.path.exists(os.path.join(run_dir, required)):
            logging.error("%s holds no %s: pass the run folder written by train.py as "
                          "--run_dir.", run_dir, required)
            sys.exit(2)
    out_dir = FLAGS.out_dir or os.path.join(run_dir, "export")
    try:
        results = export_run(run_dir, out_dir, tuple(FLAGS.formats),
                             FLAGS.representative_samples, target_far=FLAGS.target_far,
                             model_path=FLAGS.model)
    except (DataError, ValueError) as error:
        logging.error("%s", error)
        sys.exit(2)
    print(report_table(results))
    print(f"Artifacts, manifest.json and export_report.md in {out_dir}")


if __name__ == "__main__":
    app.run(main)
