"""Compares weighting schemes over subject folds and seeds: the paper's experiment.

    python -m keras_dmtl.experiments.compare                       # generated faces
    python -m keras_dmtl.experiments.compare --config=configs/ckplus.py \\
        --config.data_dir=/data/CK+48 --config.experiment.seeds="(0, 1, 2)"

The run settings (data, model, epochs) and the comparison settings
(`config.experiment`: methods, folds, seeds, out_dir) come from one config
(`keras_dmtl.training.config`); every registered weighting strategy is compared.

For each (method, fold, seed) cell: the fold's subjects are the test set; a seeded
share of the remaining subjects is the validation set, on which the epoch is
selected (never on test). Each finished cell is saved in `cells/`, so a second
invocation skips it. The folder gets `results.csv`, `results.md` (mean +/- std per
method and Delta_m, the paired comparisons, and both again for each source where
the data mixes several), `static_sweep.png` and `weights_<method>.png`.

Each method is trained once per label use (`config.experiment.label_uses`,
`keras_dmtl.experiments.label_use`): "masks" (the default; rows keep the method's
label), and rows `<method>+soft_labels`, `<method>+matching`,
`<method>+soft_labels+matching`. A soft-label cell's teacher is the masks cell of
the same method, fold and seed, whose best model is kept as
`cells/<method>_fold<k>_seed<s>.keras` (trained first when missing).
"""

import os
import time

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import logging  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tqdm  # noqa: E402

from keras_dmtl.data.pipeline import make_training_dataset  # noqa: E402
from keras_dmtl.data.records import DataError  # noqa: E402
from keras_dmtl.data.splits import split_by_subject  # noqa: E402
from keras_dmtl.data.splits import subject_kfold  # noqa: E402
from keras_dmtl.experiments import label_use as label_use_lib  # noqa: E402
from keras_dmtl.experiments import methods as methods_lib  # noqa: E402
from keras_dmtl.experiments import report  # noqa: E402
from keras_dmtl.io_utils import atomic_path  # noqa: E402
from keras_dmtl.io_utils import read_json  # noqa: E402
from keras_dmtl.io_utils import write_json  # noqa: E402
from keras_dmtl.training import config as config_lib  # noqa: E402
from keras_dmtl.training import teacher as teacher_lib  # noqa: E402
from keras_dmtl.training.callbacks import StepHistory  # noqa: E402
from keras_dmtl.training.evaluate import evaluate_split  # noqa: E402
from keras_dmtl.training.run import build_model  # noqa: E402
from keras_dmtl.training.run import task_names  # noqa: E402
from keras_dmtl.training.run import evaluate_by_source  # noqa: E402
from keras_dmtl.training.run import load_arrays  # noqa: E402
from keras_dmtl.training.run import source_mix  # noqa: E402
from keras_dmtl.training.run import make_splits  # noqa: E402
from keras_dmtl.training.run import with_action_units  # noqa: E402

MASKS = label_use_lib.get(label_use_lib.MASKS)


def selection_score(metrics):
    """Mean of validation expression accuracy and verification AUC (what exists)."""
    parts = []
    if "expression" in metrics:
        parts.append(metrics["expression"]["accuracy"])
    if "verification" in metrics:
        parts.append(metrics["verification"]["auc"])
    return float(np.mean(parts)) if parts else 0.0


class SelectBestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best validation score."""

    def __init__(self, validation, verification_subjects, seed):
        super().__init__()
        self.validation = validation
        self.verification_subjects = verification_subjects
        self.seed = seed
        self.best_score, self.best_epoch, self.best_weights = -np.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        score = selection_score(evaluate_split(self.model, self.validation,
                                               self.verification_subjects, seed=self.seed))
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch + 1
            self.best_weights = self.model.get_weights()


def fold_splits(arrays, fold_test, seed, validation_fraction):
    """Train/validation/test indices: the fold's test subjects, validation subjects
    drawn (seeded) from the rest."""
    rest = np.setdiff1d(np.arange(len(arrays)), fold_test)
    train_part, validation_part, _ = split_by_subject(
        arrays.subject[rest], (1.0 - validation_fraction, validation_fraction, 0.0), seed=seed,
        groups=arrays.source[rest], group_names=arrays.source_names)
    return rest[train_part], rest[validation_part], np.sort(fold_test)


def _headline(metrics):
    """The test metrics a cell records (NaN where the labels do not allow one)."""
    expression = metrics.get("expression", {})
    verification = metrics.get("verification", {})
    action_unit_f1 = metrics.get("action_units", {}).get("mean_f1")
    return {
        "expression_accuracy": expression.get("accuracy", float("nan")),
        "expression_macro_f1": expression.get("macro_f1", float("nan")),
        "verification_accuracy": verification.get("accuracy", float("nan")),
        "verification_auc": verification.get("auc", float("nan")),
        # Only where the test split annotates AUs (and the model has an AU head).
        "action_unit_mean_f1": float("nan") if action_unit_f1 is None else action_unit_f1,
    }


def run_cell(arrays, indices, method, seed, config, use=MASKS, teacher=None,
             save_model=None):
    """Trains and tests one (method, label use, fold, seed) cell.

    Args:
        arrays: the whole dataset's `FaceArrays`.
        indices: (train, validation, test) sample indices of the fold.
        method: a `methods.Method`.
        seed: the cell's seed.
        config: the run config (`keras_dmtl.training.config`).
        use: a `label_use.LabelUse`; soft labels need `teacher`, matching turns
            `config.action_units` on.
        teacher: the `.keras` file of the teacher (this fold's masks model).
        save_model: where to save the best epoch's model (atomically), or None.

    Returns:
        dict with the row of results.csv and the step history of w_face.

    Raises:
        ValueError: a soft-label use without `teacher`.
        DataError: as `run.with_action_units` and `teacher.with_teacher`.
    """
    started = time.time()
    overrides = {"seed": seed}
    if use.soft_labels:
        if not teacher:
            raise ValueError(f"The {use.name} cell of {method.label} needs its teacher model.")
        overrides["teacher.model"] = teacher
    if use.matching:
        overrides["action_units.enabled"] = True
    train_config = config_lib.with_updates(config, **overrides)
    keras.utils.set_random_seed(seed)
    splits = make_splits(arrays, *indices)
    action_units, splits = with_action_units(train_config, splits)
    # The teacher labels the fold's training split only: the soft labels are the
    # cell's, and the teacher never saw this fold's test subjects.
    train = splits.train
    if use.soft_labels:
        train = teacher_lib.with_teacher(train, train_config)
    train_ds, steps_per_epoch = make_training_dataset(
        train, train_config.batch_size, seed, 0, train_config.epochs,
        augment=train_config.augment, balance=train_config.balance,
        source_mix=source_mix(train_config, train), action_units=bool(action_units))
    weighting = methods_lib.make_weighting(method, task_names(train_config, action_units),
                                           config.experiment.action_unit_weight)
    model = build_model(train_config, len(train.identity_names), len(train.expression_names),
                        weighting=weighting, steps_per_epoch=steps_per_epoch,
                        action_units=action_units)
    history = StepHistory()
    selector = SelectBestEpoch(splits.validation, splits.verification_subjects["validation"], seed)
    model.fit(train_ds, epochs=train_config.epochs, steps_per_epoch=steps_per_epoch,
              callbacks=[history, selector], verbose=0, shuffle=False)
    model.set_weights(selector.best_weights)
    if save_model:
        with atomic_path(save_model) as temporary:
            model.save(temporary)
    test = evaluate_by_source(model, splits, "test", seed)
    w_face = history.history["w_face"]
    unit_loss = history.history.get("action_unit_loss")
    return {
        **_headline(test),
        "sources": {name: _headline(part) for name, part in test.get("sources", {}).items()},
        "method": use.row_label(method.label),
        "base_method": method.label,
        "label_use": use.name,
        "teacher": os.path.basename(teacher) if teacher else None,
        "seed": seed,
        "best_epoch": selector.best_epoch,
        "seconds": round(time.time() - started, 1),
        "final_w_face": w_face[-1] if w_face else float("nan"),
        "final_action_unit_loss": unit_loss[-1] if unit_loss else float("nan"),
        "w_face_history": w_face,
    }


def _check_runner_config(config):
    """Refuses settings the runner sets per cell itself.

    Raises:
        ValueError: `config.action_units.enabled` or `config.teacher.model`.
    """
    if config.action_units.enabled:
        # Masks and soft-label rows are the two-task model; the matching rows
        # turn the AU task on for their own cells.
        raise ValueError("--config.action_units.enabled=True: the comparison runner turns the "
                         "AU task on for its matching rows only; leave it off and add "
                         f"matching to {label_use_lib.FLAG}, e.g. \"('masks', 'matching')\".")
    if config.teacher.model:
        # A teacher trained on another split may have seen a fold's test subjects.
        raise ValueError(f"--config.teacher.model={config.teacher.model}: the comparison "
                         "runner's teachers are each fold's masks models; leave it unset and "
                         f"add soft_labels to {label_use_lib.FLAG}.")


def _cell_path(cell_dir, label, fold, seed, extension=".json"):
    return os.path.join(cell_dir, f"{label}_fold{fold}_seed{seed}{extension}")


def run_experiment(config):
    """Runs every missing cell, then rewrites the CSV, the table and the PNGs.

    Args:
        config: the run config; `config.experiment` says what to compare.

    Returns:
        (summary rows, number of cells trained in this call; a masks cell
        trained to be a teacher counts).

    Raises:
        ValueError: `config.action_units.enabled` or `config.teacher.model`
            (the runner sets them per cell), an unknown method or label use.
    """
    _check_runner_config(config)
    experiment = config.experiment
    methods = methods_lib.select(list(experiment.methods))
    uses = label_use_lib.select(experiment.label_uses)
    needs_teacher = any(use.soft_labels for use in uses)
    arrays = load_arrays(config)
    folds = subject_kfold(arrays.subject, experiment.folds, seed=0, groups=arrays.source)
    if experiment.max_folds:
        folds = folds[:experiment.max_folds]
    cell_dir = os.path.join(experiment.out_dir, "cells")
    os.makedirs(cell_dir, exist_ok=True)
    write_json(os.path.join(experiment.out_dir, "experiment.json"), config.to_dict())
    if needs_teacher:
        # Names the teachers' expression classes (`teacher._class_order`), as a
        # run's labels.json does; every fold's cells share them.
        write_json(os.path.join(cell_dir, "labels.json"),
                   {"expression_names": list(arrays.expression_names)})
    computed, cells = 0, []
    progress = tqdm.tqdm(total=len(folds) * len(experiment.seeds) * len(methods) * len(uses),
                         unit="cell", desc="Comparison", disable=None)
    for fold, (_, fold_test) in enumerate(folds):
        for seed in experiment.seeds:
            indices = fold_splits(arrays, fold_test, seed, experiment.validation_fraction)
            for method in methods:
                teacher = None
                if needs_teacher:
                    teacher = _cell_path(cell_dir, method.label, fold, seed, ".keras")
                    if not os.path.exists(teacher):
                        # The masks cell again (also when its row is done): its
                        # model is the teacher, and its row matches that model.
                        logging.info("Teacher cell %s fold %d seed %d", method.label, fold, seed)
                        cell = {**run_cell(arrays, indices, method, seed, config,
                                           save_model=teacher), "fold": fold}
                        write_json(_cell_path(cell_dir, method.label, fold, seed), cell)
                        computed += 1
                for use in uses:
                    progress.update()
                    label = use.row_label(method.label)
                    path = _cell_path(cell_dir, label, fold, seed)
                    if os.path.exists(path):
                        cells.append(read_json(path))
                        continue
                    logging.info("Cell %s fold %d seed %d", label, fold, seed)
                    cell = {**run_cell(arrays, indices, method, seed, config, use,
                                       teacher=teacher if use.soft_labels else None),
                            "fold": fold}
                    write_json(path, cell)
                    cells.append(cell)
                    computed += 1
    order = [use.row_label(m.label) for m in methods for use in uses]
    _write_reports(experiment.out_dir, cells, methods, uses)
    return report.summarise(cells, order), computed


def _write_reports(out_dir, cells, methods, uses):
    order = [use.row_label(m.label) for m in methods for use in uses]
    report.write_results_csv(os.path.join(out_dir, "results.csv"), cells)
    rows = report.summarise(cells, order)
    with atomic_path(os.path.join(out_dir, "results.md")) as temporary:
        with open(temporary, "w") as stream:
            stream.write(report.markdown_table(rows))
            stream.write("\nThe paper's claim, paired by fold and seed:\n\n")
            stream.write(report.claim_table(cells))
            against_masks = report.label_use_comparisons(
                [(use.row_label(m.label), m.label) for m in methods for use in uses
                 if use is not MASKS])
            if against_masks:
                stream.write("\nEach label use against masks only, paired by fold and "
                             "seed:\n\n")
                stream.write(report.claim_table(cells, against_masks))
            sources = sorted({name for cell in cells for name in cell.get("sources", {})})
            if len(sources) > 1:
                stream.write("\nEach source of the test split on its own (pooled pairs "
                             "count the easy impostors of two sources):\n")
                for source in sources:
                    scored = report.source_cells(cells, source)
                    stream.write(f"\n### {source}\n\n")
                    stream.write(report.markdown_table(report.summarise(scored, order)))
                    stream.write("\n" + report.claim_table(scored))
    # The sweep's curve is of its masks rows; the other strategies' rows, of every
    # label use, are lines on it.
    static = {m.label for m in methods if m.strategy == "static"}
    dynamic = [use.row_label(m.label) for m in methods if m.strategy != "static"
               for use in uses]
    report.plot_static_sweep(os.path.join(out_dir, "static_sweep.png"),
                             [r for r in rows if r["method"] in static or r["method"] in dynamic],
                             dynamic)
    for label in dynamic:
        histories = {f"fold {c['fold']} seed {c['seed']}": c["w_face_history"]
                     for c in cells if c["method"] == label}
        if histories:
            report.plot_weight_histories(os.path.join(out_dir, f"weights_{label}.png"), label,
                                         histories)


_CONFIG = None


def main(argv):
    del argv
    quiet_logs()
    started = time.time()
    try:
        config = config_lib.validate(_CONFIG.value)
        rows, computed = run_experiment(config)
    except (DataError, ValueError) as error:
        logging.error("%s", error)
        raise SystemExit(2)
    print(report.markdown_table(rows))
    print(f"{computed} cells computed in {time.time() - started:.0f} s; "
          f"results in {config.experiment.out_dir}")


if __name__ == "__main__":
    _CONFIG = config_lib.define_config_flag(
        "Config file (configs/*.py); override single keys with --config.<key>=<value>.")
    app.run(main, flags_parser=config_lib.parse_flags)
