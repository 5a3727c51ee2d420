"""Train, evaluate, save and export a dynamic multi-task face model.

    python train.py                                        # generated faces (configs/default.py)
    python train.py --config=configs/ckplus.py --config.data_dir=/data/CK+48 --config.epochs=30
    python train.py --config.resume=True --config.out_dir=runs/gradnorm_tiny_seed0

Every setting is a key of one config (keras_dmtl/training/config.py); config files
in configs/ hold the recipes. Writes a run folder (docs/training.md, "The run
folder"). Config in, library calls, results out.
"""

import os
import sys

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

quiet_native_startup()  # before anything imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from keras_dmtl.training import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS
_CONFIG = config_lib.define_config_flag(
    "Config file (configs/*.py, optionally :<weighting strategy>); override single keys "
    "with --config.<key>=<value>, e.g. --config.epochs=30.")


def _config():
    """The run's config. With resume=True and no --config file named, the run's own
    config.json with the --config.<key> overrides of this command line on top."""
    config = config_lib.resolve_out_dir(config_lib.validate(_CONFIG.value))
    if not config.resume or FLAGS["config"].present:
        return config
    from keras_dmtl.training.run import resume_config

    overrides = config_flags.get_override_values(FLAGS["config"])
    return resume_config(config.out_dir, **overrides)


def _scores(part):
    """The split's headline metrics, those its labels allow."""
    scores = []
    if "expression" in part:
        scores.append(f"expression accuracy {part['expression']['accuracy']:.3f}")
    if "verification" in part:
        scores.append(f"verification AUC {part['verification']['auc']:.3f}, "
                      f"verification accuracy {part['verification']['accuracy']:.3f}")
    if part.get("action_units", {}).get("mean_f1") is not None:
        scores.append(f"AU mean F1 {part['action_units']['mean_f1']:.3f}")
    return ", ".join(scores) or "no expression labels, too few people to verify"


def _summary(metrics, out_dir):
    lines = [f"Run folder: {out_dir}"]
    for split in ("validation", "test"):
        lines.append(f"{split:>10}: {_scores(metrics[split])}")
        for source, part in metrics[split].get("sources", {}).items():
            lines.append(f"{'':>12}{source} ({part['samples']} images): {_scores(part)}")
    for name, entries in metrics.get("verification_bins", {}).items():
        if entries:
            last = entries[-1]
            lines.append(f"{name:>10}: accuracy-flip {last['accuracy']:.4f} +- "
                         f"{last['accuracy_std']:.4f} (10-fold, step {last['step']})")
    weights = metrics["final_task_weights"]
    lines.append("final task weights: " + ", ".join(
        f"{name[2:].replace('_', ' ')} {value}" for name, value in weights.items()))
    return "\n".join(lines)


def main(argv):
    del argv
    quiet_logs()
    from keras_dmtl.data.records import DataError

    try:
        config = _config()
        from keras_dmtl.training import distribute
        from keras_dmtl.training.run import train

        metrics = train(config)
    except (DataError, ValueError) as error:
        # Bad input: one clear line, no traceback.
        logging.error("%s", error)
        sys.exit(2)
    if config.distribute == "multi_worker" and not distribute.is_chief_task(
            *distribute.cluster_from_environment()):
        return  # the chief reports and exports
    print(_summary(metrics, config.out_dir))
    if config.export.enabled:
        from keras_dmtl.export.artifacts import export_run
        from keras_dmtl.export.artifacts import report_table

        export_dir = os.path.join(config.out_dir, "export")
        print(report_table(export_run(config.out_dir, export_dir)))
        print(f"Exported to {export_dir} (manifest.json, export_report.md)")


if __name__ == "__main__":
    app.run(main, flags_parser=config_lib.parse_flags)
