"""Train, evaluate, save and export a dynamic multi-task face model.

    python train.py                                  # generated faces, default settings
    python train.py --data_dir=/data/CK+48 --backbone=inception_resnet --image_size=112

Writes a run folder (see README.md). Flags in, library calls, results out.
"""

import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset folder or CSV; default: a generated face set.")
flags.DEFINE_string("dataset", "auto", "Format: auto, ckplus, ckplus48, oulu_casia, fer2013, "
                    "lfw or manifest.")
flags.DEFINE_string("out_dir", None, "Run folder; default runs/<weighting>_<backbone>_seed<seed>.")
flags.DEFINE_string("cache_dir", "data_cache", "Where aligned faces and generated data are cached.")
flags.DEFINE_enum("backbone", "tiny", ["inception_resnet", "mobile", "tiny"], "Shared trunk.")
flags.DEFINE_float("backbone_width", 1.0, "Trunk width multiplier.")
flags.DEFINE_integer("image_size", 64, "Face crop height and width in pixels.")
flags.DEFINE_enum("channels", "1", ["1", "3"], "1 = grayscale, 3 = RGB.")
flags.DEFINE_integer("embedding_dim", 128, "Size of the face embedding.")
flags.DEFINE_string("weighting", "dynamic", "Task weighting strategy: dynamic, static, "
                    "naive_dynamic, uncertainty (see keras_dmtl/weighting/).")
flags.DEFINE_list("static_weights", ["0.5", "0.5"], "w_face,w_expression for --weighting=static; "
                  "1,0 and 0,1 are the single-task networks.")
flags.DEFINE_float("center_loss_alpha", 0.1, "Weight of the center loss inside the face loss.")
flags.DEFINE_integer("epochs", 20, "Epochs to train (in total, when resuming).")
flags.DEFINE_integer("batch_size", 32, "Images per step.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the trunk and branches.")
flags.DEFINE_float("weight_lr", 0.01, "SGD learning rate of the dynamic-weight-unit.")
flags.DEFINE_bool("jit_compile", True, "Compile the train step with XLA.")
flags.DEFINE_bool("mixed_precision", False, "Train with the mixed_float16 policy (GPU).")
flags.DEFINE_integer("seed", 0, "Seed of splits, generated data, shuffling and weights.")
flags.DEFINE_bool("resume", False, "Continue the run in --out_dir from its last checkpoint.")
flags.DEFINE_string("detector", "none", "Face detector for raw photos: none (already cropped), "
                    "mtcnn, haar or yunet:/path/to/face_detection_yunet.onnx.")
flags.DEFINE_bool("skip_bad_images", False, "Skip unreadable images and images without a face "
                  "(counted in the log) instead of stopping.")
flags.DEFINE_bool("augment", True, "Flip, small affine and brightness/contrast jitter.")
flags.DEFINE_enum("balance", None, ["expression", "identity"], "Resample to balance classes.")
flags.DEFINE_float("val_fraction", 0.15, "Fraction of subjects held out for validation.")
flags.DEFINE_float("test_fraction", 0.15, "Fraction of subjects held out for testing.")
flags.DEFINE_bool("export", True, "After training, export every format to <out_dir>/export "
                  "(export/export_model.py does the same with more options).")
flags.DEFINE_integer("generated_identities", 20, "Identities of the generated face set.")
flags.DEFINE_integer("generated_sequences", 2, "Sequences per identity and expression of the "
                     "generated face set.")


def _register_validators():
    """Every numeric flag is checked against its bounds before anything runs."""
    from keras_dmtl.training.config import NUMERIC_BOUNDS
    from keras_dmtl.training.config import setting_problem

    def checker(name):
        def check(value):
            problem = setting_problem(name, value)
            if problem is not None:
                raise flags.ValidationError(f"{problem}.")
            return True
        return check

    for name in NUMERIC_BOUNDS:
        if name in FLAGS:
            flags.register_validator(name, checker(name))


_register_validators()


def _config():
    """The `TrainConfig` of the command line; with --resume, the run's saved
    settings with the flags given here on top (the library refuses changes that
    would alter the model or the data)."""
    from keras_dmtl.training.config import TrainConfig

    try:
        static_weights = tuple(float(w) for w in FLAGS.static_weights)
    except ValueError:
        raise ValueError(f"--static_weights={','.join(FLAGS.static_weights)}: give two "
                         "numbers, e.g. --static_weights=0.7,0.3") from None
    out_dir = FLAGS.out_dir or os.path.join(
        "runs", f"{FLAGS.weighting}_{FLAGS.backbone}_seed{FLAGS.seed}")
    config = TrainConfig(
        data_dir=FLAGS.data_dir, dataset=FLAGS.dataset, out_dir=out_dir,
        cache_dir=FLAGS.cache_dir, backbone=FLAGS.backbone, backbone_width=FLAGS.backbone_width,
        image_size=FLAGS.image_size, channels=int(FLAGS.channels),
        embedding_dim=FLAGS.embedding_dim, weighting=FLAGS.weighting,
        static_weights=static_weights, center_loss_alpha=FLAGS.center_loss_alpha,
        epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
        weight_lr=FLAGS.weight_lr, jit_compile=FLAGS.jit_compile,
        mixed_precision=FLAGS.mixed_precision, seed=FLAGS.seed, resume=FLAGS.resume,
        detector=FLAGS.detector, skip_bad_images=FLAGS.skip_bad_images, augment=FLAGS.augment,
        balance=FLAGS.balance, val_fraction=FLAGS.val_fraction,
        test_fraction=FLAGS.test_fraction, generated_identities=FLAGS.generated_identities,
        generated_sequences=FLAGS.generated_sequences,
    )
    if not FLAGS.resume:
        return config
    from keras_dmtl.training.run import resume_config

    given = {name: getattr(config, name) for name in dataclasses.asdict(config)
             if name in FLAGS and FLAGS[name].present and name not in ("out_dir", "resume")}
    return resume_config(out_dir, **given)


def _summary(metrics, out_dir):
    lines = [f"Run folder: {out_dir}"]
    for split in ("validation", "test"):
        part = metrics[split]
        expression = part.get("expression", {}).get("accuracy")
        verification = part.get("verification", {})
        lines.append(
            f"{split:>10}: expression accuracy {expression if expression is None else f'{expression:.3f}'}"
            f", verification AUC {verification.get('auc', float('nan')):.3f}"
            f", verification accuracy {verification.get('accuracy', float('nan')):.3f}")
    weights = metrics["final_task_weights"]
    lines.append(f"final task weights: face {weights['w_face']}, expression {weights['w_expression']}")
    return "\n".join(lines)


def main(argv):
    del argv
    from keras_dmtl.data.records import DataError

    try:
        config = _config()
        from keras_dmtl.training.run import train

        metrics = train(config)
    except (DataError, ValueError) as error:
        # Bad input: one clear line, no traceback.
        logging.error("%s", error)
        sys.exit(2)
    print(_summary(metrics, config.out_dir))
    if FLAGS.export:
        from keras_dmtl.export.artifacts import export_run
        from keras_dmtl.export.artifacts import report_table

        export_dir = os.path.join(config.out_dir, "export")
        print(report_table(export_run(config.out_dir, export_dir)))
        print(f"Exported to {export_dir} (manifest.json, export_report.md)")


if __name__ == "__main__":
    app.run(main)
