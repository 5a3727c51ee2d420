"""Export a trained run to SavedModel (TF Serving layout), TFLite and ONNX.

    python export/export_model.py --run_dir=runs/gradnorm_tiny_seed0 --out_dir=exported
    python export/export_model.py --model=runs/gradnorm_tiny_seed0/checkpoint.keras \
        --export.formats="('tflite_int8',)" --export.target_far=1e-4
    python export/export_model.py --run_dir=runs/gradnorm_tiny_seed0 \
        --ensemble=runs/static_tiny_seed0,runs/famo_tiny_seed0   # one model of three runs

Writes the artifacts, `manifest.json`, and `export_report.{md,json}` (parity of
every format against Keras on the run's held-out subjects, sizes, thresholds).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_dmtl.startup import quiet_logs  # noqa: E402
from keras_dmtl.startup import quiet_native_startup  # noqa: E402

quiet_native_startup()  # before anything imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from keras_dmtl.training import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Run folder written by train.py (holds model.keras); "
                    "default: the folder holding --model.")
flags.DEFINE_string("model", None, "A .keras model of a run (default <run_dir>/model.keras); "
                    "its run folder still gives the data, split and labels.")
flags.DEFINE_string("out_dir", None, "Where to write the artifacts; default <run_dir>/export.")
flags.DEFINE_list("ensemble", [], "Other runs (folders or .keras files) trained on the same "
                  "split, exported with this one as one model: mean expression probabilities, "
                  "the members' embeddings side by side (costs N times one model).")
_EXPORT = config_flags.DEFINE_config_dict(
    "export", config_lib.default_config().export,
    "Export settings; default: the export group of the run's config.json. Override keys "
    "as --export.formats=\"('tflite_int8',)\", --export.representative_samples=200, "
    "--export.target_far=1e-4, --export.calibration_data=/path/to/faces (face sets of "
    "many people, any layout train.py reads, comma-separated, each a population whose every "
    "pair calibrates the thresholds, the strictest kept; held_out: the run's held-out "
    "people), "
    "--export.calibration_detector=haar (how faces are found in it; default the run's).")
flags.register_validator("run_dir", lambda value: value or FLAGS.model,
                         "Give --run_dir or --model.")


def main(argv):
    del argv
    quiet_logs()
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
    # Only the keys given here change the run's own export settings.
    overrides = config_flags.get_override_values(FLAGS["export"])
    settings = {key: overrides[key] for key in ("formats", "representative_samples",
                                                "target_far", "calibration_data",
                                                "calibration_detector")
                if key in overrides}
    try:
        config_lib.validate(config_lib.update(config_lib.default_config(),
                                              {f"export.{k}": v for k, v in settings.items()}))
        results = export_run(run_dir, out_dir, model_path=FLAGS.model,
                             ensemble=tuple(FLAGS.ensemble), **settings)
    except (DataError, ValueError) as error:
        logging.error("%s", error)
        sys.exit(2)
    print(report_table(results))
    print(f"Artifacts, manifest.json and export_report.md in {out_dir}")


if __name__ == "__main__":
    app.run(main, flags_parser=config_lib.parse_flags)
