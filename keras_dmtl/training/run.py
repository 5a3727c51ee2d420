"""One training run: data in, a trained and evaluated model in a run folder out.

The run folder holds `config.json` and `labels.json` (written before training;
a resumed run must match both), `checkpoint.keras` (model and training state,
one file, after every epoch; `resume=True` continues from it), TensorBoard logs
under `logs/`, `metrics.json`, the PNG plots and the final `model.keras`.
"""

import dataclasses
import logging
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_dmtl import weighting as weighting_lib
from keras_dmtl.data.faces.loading import load_faces
from keras_dmtl.data.generated.synthetic import write_synthetic_dataset
from keras_dmtl.data.pipeline import make_dataset
from keras_dmtl.data.pipeline import make_training_dataset
from keras_dmtl.data.readers import combine_arrays
from keras_dmtl.data.readers import read_ckplus48
from keras_dmtl.data.readers import read_dataset
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.shards.index import is_shard_dir
from keras_dmtl.data.shards.index import read_index
from keras_dmtl.data.shards.streaming import ShardSplit
from keras_dmtl.data.shards.streaming import make_shard_dataset
from keras_dmtl.data.shards.streaming import make_shard_training_dataset
from keras_dmtl.data.shards.streaming import read_shard_arrays
from keras_dmtl.data.shards.streaming import read_split_arrays
from keras_dmtl.data.shards.streaming import split_shards
from keras_dmtl.data.sources import check_mix
from keras_dmtl.data.sources import parse_sources
from keras_dmtl.data.splits import split_by_subject
from keras_dmtl.evaluation.expression import write_confusion_csv
from keras_dmtl.evaluation.expression import write_confusion_png
from keras_dmtl.evaluation.plots import plot_series
from keras_dmtl.io_utils import atomic_path
from keras_dmtl.io_utils import read_json
from keras_dmtl.io_utils import write_json
from keras_dmtl.models.multitask import DynamicMultiTaskModel
from keras_dmtl.models.multitask import task_names as model_task_names
from keras_dmtl.training import config as config_lib
from keras_dmtl.training import distribute
from keras_dmtl.training import finetune
from keras_dmtl.training import schedule
from keras_dmtl.training import teacher
from keras_dmtl.training.action_units import action_unit_settings
from keras_dmtl.training.action_units import keep_labelled_subjects
from keras_dmtl.training.action_units import with_action_unit_columns
from keras_dmtl.training.callbacks import EpochCheckpoint
from keras_dmtl.training.callbacks import StepHistory
from keras_dmtl.training.callbacks import VerificationBinCallback
from keras_dmtl.training.checkpoint import CHECKPOINT_NAME
from keras_dmtl.training.checkpoint import read_checkpoint_state
from keras_dmtl.training.evaluate import evaluate_split
from keras_dmtl.training.progress import progress_reporting

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Splits:
    """The train, validation and test parts of a run's data: `FaceArrays` with
    `verification_subjects` ({split: per sample its subject key, "" without an
    identity label}), or streamed `ShardSplit`s (verification_subjects None:
    evaluation reads them from the shards)."""

    train: object
    validation: object
    test: object
    verification_subjects: dict


def _sources(config):
    """The `SourceSpec`s of `config.data_dir` (empty: generated faces)."""
    return parse_sources(config.data_dir, config.dataset, config.detector)


def _shard_dir(config):
    """The shard folder the run reads, or None (a dataset, several, or generated faces).

    Raises:
        DataError: a shard folder among several sources.
    """
    sources = _sources(config)
    sharded = [source.path for source in sources if is_shard_dir(source.path)]
    if sharded and len(sources) > 1:
        raise DataError(
            f"--config.data_dir: {sharded[0]} is a shard folder among several sources; a run "
            "reads one shard set. Write the sources into one set with python -m "
            "keras_dmtl.data.shards --data_dir=<first>,<second> --out_dir=<shards>, and "
            "train on that.")
    return sharded[0] if sharded else None


def _shard_index(config):
    """The shard set in `config.data_dir`, checked against the config."""
    index = read_index(config.data_dir)
    if (index.image_size, index.channels) != (config.image_size, config.channels):
        raise DataError(
            f"--config.data_dir={config.data_dir} holds {index.image_size} px crops with "
            f"{index.channels} channel(s): set --config.image_size={index.image_size} "
            f"--config.channels={index.channels}, or write shards of the size you want.")
    if config.dataset != "auto":
        raise DataError(f"--config.dataset={config.dataset}: {config.data_dir} is a shard "
                        "folder; leave --config.dataset at auto.")
    return index


def streams(config):
    """Whether the run streams its data from shards: `config.streaming`, where
    "auto" means whenever `data_dir` is a shard folder.

    Raises:
        DataError: streaming=true for data that is not a shard folder.
    """
    sharded = _shard_dir(config) is not None
    if config.streaming == "true" and not sharded:
        where = (f"{config.data_dir} is not a shard folder (no index.json)" if config.data_dir
                 else "no --config.data_dir")
        raise DataError(
            f"--config.streaming=true: {where}; "
            "write shards with python -m keras_dmtl.data.shards --data_dir=<dataset> "
            "--out_dir=<shards> and train on them, or set --config.streaming=auto.")
    return sharded and config.streaming != "false"


def load_arrays(config):
    """Reads, detects, aligns and caches the faces the config points at.

    With no `data_dir`, a generated face set (CK+48 layout) is written once under
    `cache_dir` and used; a shard folder is read into memory. Several sources are
    each read with their own format and detector, then combined
    (`readers.combine_arrays`: identities kept apart, `source` recorded).
    """
    arrays = _load_arrays(config)
    return teacher.with_teacher(arrays, config) if config.teacher.model else arrays


def _load_arrays(config):
    """`load_arrays` before the teacher's soft labels."""
    if _shard_dir(config):
        return read_shard_arrays(_shard_index(config))
    sources = [(read_dataset(source.path, source.dataset, skip_bad=config.skip_bad_images),
                source.detector) for source in _sources(config)]
    if not sources:
        generated = os.path.join(
            config.cache_dir,
            f"generated_faces_{config.generated_identities}ids_"
            f"{config.generated_sequences}seq_seed{config.seed}",
        )
        write_synthetic_dataset(
            generated,
            num_identities=config.generated_identities,
            sequences_per_pair=config.generated_sequences,
            image_size=max(config.image_size, 64),
            seed=config.seed,
        )
        sources = [(read_ckplus48(generated), config.detector)]
    if config.teacher.embeddings:
        sources = [(teacher.with_embedding_teacher(records, config), detector)
                   for records, detector in sources]
    parts = [load_faces(records, image_size=config.image_size, channels=config.channels,
                        detector=detector, cache_dir=config.cache_dir,
                        skip_bad_images=config.skip_bad_images)
             for records, detector in sources]
    arrays = (parts[0] if len(parts) == 1
              else combine_arrays(parts, [part.source_names[0] for part in parts]))
    if config.teacher.embeddings and config.teacher.center_embeddings:
        arrays = teacher.centered_embedding_targets(arrays)
    return arrays


def _fractions(config):
    return (1.0 - config.val_fraction - config.test_fraction, config.val_fraction,
            config.test_fraction)


def split_arrays(arrays, config):
    """Splits by subject, within each source, with the config's fractions and seed
    (see `make_splits`)."""
    return make_splits(arrays, *split_by_subject(arrays.subject, _fractions(config),
                                                 seed=config.seed, groups=arrays.source,
                                                 group_names=arrays.source_names))


def load_splits(config):
    """The run's splits, by subject with the config's fractions and seed: in
    memory, or streamed from shards when `streams(config)`.

    Both give every subject the same split and the same identity classes.

    Raises:
        DataError: settings the data cannot serve (named with what to do).
    """
    if config.teacher.embeddings and _shard_dir(config):
        raise DataError(f"--config.teacher.embeddings={config.teacher.embeddings} embeds the "
                        f"source photos, which the shards in {config.data_dir} no longer hold: "
                        "train on the datasets themselves.")
    if not streams(config):
        splits = split_arrays(load_arrays(config), config)
    elif config.balance:
        raise DataError(f"--config.balance={config.balance} resamples data held in memory: "
                        "set --config.streaming=false to load the shards into memory.")
    else:
        parts = split_shards(_shard_index(config), _fractions(config), config.seed)
        if config.teacher.model:
            parts = teacher.with_teacher_shards(parts, config)
        splits = Splits(*parts, None)
    source_mix(config, splits.train)  # a mix that does not fit the data stops the run here
    return splits


def split_in_memory(splits, name, limit=None):
    """One split as (`FaceArrays`, verification subjects); of a streamed split, its
    first `limit` examples (a random sample: shards are shuffled when written)."""
    part = getattr(splits, name)
    if isinstance(part, ShardSplit):
        return read_split_arrays(part, limit)
    return part, splits.verification_subjects[name]


def make_splits(arrays, train_indices, validation_indices, test_indices):
    """Builds the splits; identities are renumbered over the training split.

    Held-out subjects are never in the identity classifier (their identity label
    becomes -1); they are scored by verification instead.
    """
    train = arrays.subset(train_indices)
    trained_ids = np.unique(train.identity[train.identity >= 0])
    if len(trained_ids) == 0:
        raise DataError(
            "The training split has no identity labels: add a dataset with identities "
            "(e.g. LFW-style folders) to --config.data_dir."
        )
    new_index = np.full(max(arrays.identity.max() + 1, 1), MISSING_LABEL, dtype=np.int64)
    new_index[trained_ids] = np.arange(len(trained_ids))
    names = [arrays.identity_names[i] for i in trained_ids]

    def renumber(part):
        identity = np.where(part.identity >= 0, new_index[np.maximum(part.identity, 0)],
                            MISSING_LABEL)
        return dataclasses.replace(part, identity=identity, identity_names=names)

    parts = [arrays.subset(i) for i in (train_indices, validation_indices, test_indices)]
    verification = {
        name: np.where(part.identity >= 0, part.subject, "")
        for name, part in zip(("train", "validation", "test"), parts)
    }
    return Splits(*(renumber(part) for part in parts), verification)


def with_action_units(config, splits):
    """The AU task's settings for `config` and `splits` with every split's AU labels
    over the AU head's names (`training.action_units`).

    Returns:
        (settings or None when the task is off, the splits to train on).

    Raises:
        DataError: as `action_unit_settings` (data without AU labels, a table
            that does not cover them).
    """
    if not config.action_units.enabled:
        return None, splits
    splits = dataclasses.replace(splits, train=keep_labelled_subjects(
        splits.train, config.action_units.labelled_subjects, config.seed))
    settings = action_unit_settings(config, splits.train)
    parts = (with_action_unit_columns(getattr(splits, name), settings["names"])
             for name in ("train", "validation", "test"))
    return settings, Splits(*parts, splits.verification_subjects)


def evaluate_by_source(model, splits, name, seed=0):
    """`evaluate_split` of one split; with several sources, also of each source's
    part of it, under "sources" (a metric is there only where the source has the
    labels: expression, identity)."""
    part = getattr(splits, name)
    subjects = splits.verification_subjects and splits.verification_subjects[name]
    metrics = evaluate_split(model, part, subjects, seed=seed)
    names = part.source_names
    if len(names) > 1:
        metrics["sources"] = {}
        for source, source_name in enumerate(names):
            if isinstance(part, ShardSplit):
                mine, mine_subjects = part.of_source(source), None
            else:
                rows = np.flatnonzero(part.source == source)
                mine, mine_subjects = part.subset(rows), np.asarray(subjects)[rows]
            metrics["sources"][source_name] = evaluate_split(model, mine, mine_subjects,
                                                             seed=seed)
    return metrics


def use_xla(config):
    """Whether to XLA-compile the train step: config.jit_compile, where "auto" means
    where a GPU is present (XLA:CPU is slower for our trunks: docs/ecosystem.md)."""
    if config.jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return config.jit_compile == "true"


def task_names(config, action_units=None):
    """The tasks of the model `config` builds, in the order the strategy weighs them:
    face, expression, then the AU task (with `action_units`) and the embedding
    teacher's (`teacher.embeddings` with `teacher.embedding_task`)."""
    settings = teacher.distillation_settings(config) or {}
    return model_task_names(bool(action_units), bool(settings.get("embedding_task")))


def build_model(config, num_identities, num_expressions, weighting=None, steps_per_epoch=None,
                label_names=None, action_units=None):
    """A compiled `DynamicMultiTaskModel` for the config.

    With `config.init_from`, its first weights come from that model
    (`keras_dmtl.training.finetune`), and `config.freeze_batchnorm` freezes the
    transferred BatchNorm layers.

    Args:
        config: the run config (`keras_dmtl.training.config`).
        num_identities: identity classes of the training split.
        num_expressions: expression classes.
        weighting: a `Weighting` that overrides `config.weighting`.
        steps_per_epoch: told to the strategy (those that average per epoch use it).
        label_names: the run's labels ({"identity_names", "expression_names"});
            with init_from they decide which classifiers transfer.
        action_units: the AU task (`training.action_units.action_unit_settings`),
            or None for the two-task model.
    """
    if weighting is None:
        weighting = weighting_lib.get(config.weighting.name,
                                      **{"num_tasks": len(task_names(config, action_units)),
                                         **config.weighting.kwargs})
    if steps_per_epoch:
        weighting.set_steps_per_epoch(steps_per_epoch)
    model = DynamicMultiTaskModel(
        num_identities,
        num_expressions,
        backbone=config.backbone,
        input_shape=(config.image_size, config.image_size, config.channels),
        backbone_width=config.backbone_width,
        embedding_dim=config.embedding_dim,
        weighting=weighting,
        center_loss_alpha=config.center_loss_alpha,
        identity_head=config.identity_head.name,
        identity_head_kwargs=dict(config.identity_head.kwargs),
        expression_label_smoothing=config.expression_loss.label_smoothing,
        expression_f1_weight=config.expression_loss.macro_f1_weight,
        distillation=teacher.distillation_settings(config),
        quantization_aware=config.quantization_aware,
        action_units=action_units,
    )
    if config.init_from:
        report = finetune.initialise_from(model, config.init_from, config.init_scope,
                                          label_names)
        if config.freeze_batchnorm:
            frozen = [layer.name for layer in model.batch_norm_layers(report["transferred"])]
            model.freeze_batchnorm(frozen)
            _LOG.warning("Froze the %d transferred BatchNorm layers: %s", len(frozen),
                         ", ".join(frozen))
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        weight_optimizer=keras.optimizers.SGD(config.weight_lr),
        jit_compile=use_xla(config),
    )
    return model


def load_run_config(run_dir):
    """The config saved in a run folder's config.json (the resolved config).

    Raises:
        DataError: naming the file, when it is missing or invalid.
    """
    path = os.path.join(run_dir, "config.json")
    try:
        return config_lib.from_dict(read_json(path), path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable run config ({error}).") from None


def resume_config(run_dir, **overrides):
    """The config that resumes the run in `run_dir`: its saved settings, with
    `overrides` ({"key" or "group.key": value}, e.g. from the command line) on top."""
    saved = load_run_config(run_dir)
    saved.init_from = None  # the run's first weights; resuming takes its checkpoint's
    return config_lib.with_updates(saved, **{**overrides, "out_dir": run_dir, "resume": True})


def _prepare_run_dir(config, restarting=False, chief=True):
    """Checks the run folder against `config`; returns the checkpoint's state or None.

    A new run refuses a folder that holds a run; a resumed run refuses settings
    that differ from its config.json where they change the model or the data.

    Args:
        config: the run config.
        restarting: a multi-worker run continues from its `BackupAndRestore`
            backup: checked like a resumed run.
        chief: False for the other workers of a cluster, which write nothing
            here and read the run folder only to resume.
    """
    checkpoint = os.path.join(config.out_dir, CHECKPOINT_NAME)
    config_path = os.path.join(config.out_dir, "config.json")
    if not chief and not config.resume:
        return None
    if config.resume or restarting:
        if not os.path.exists(config_path):
            raise DataError(
                f"--config.resume: no checkpoint and no config.json in {config.out_dir}; run "
                "without resume to start a new run, or point --config.out_dir at the run to "
                "continue" + ("" if chief else " (every worker resumes from the run folder: "
                              "it must be on storage the workers share)") + ".")
        saved = load_run_config(config.out_dir)
        conflicts = config_lib.resume_conflicts(saved, config)
        if conflicts:
            raise DataError(
                f"--config.resume: {'; '.join(conflicts)}. These settings change the model or the "
                f"data of the run in {config.out_dir}: drop them to resume it, or start a new "
                "run in another --config.out_dir.")
        state = read_checkpoint_state(checkpoint) if os.path.exists(checkpoint) else None
        done = state["epochs_done"] if state else 0
        changed = schedule.first_changed_epoch(saved, config, done)
        if changed is not None:
            raise DataError(
                f"--config.learning_rate_drops={tuple(config.learning_rate_drops)}: the run in "
                f"{config.out_dir} trained epoch {changed} at another rate (its config.json has "
                f"drops {tuple(saved.learning_rate_drops)}, factor "
                f"{saved.learning_rate_drop_factor}); a resumed run may change the drops only "
                f"from epoch {done} on, where it has not trained yet.")
        if chief:  # config.json is the run's config: how long and at which rates it trains
            write_json(config_path, config.to_dict())
        if state is not None:
            return state
        _LOG.warning("%s has no checkpoint yet (the run stopped in its first epoch): "
                     "starting it from epoch 0.", config.out_dir)
        return None
    for existing in (checkpoint, os.path.join(config.out_dir, "model.keras")):
        if os.path.exists(existing):
            raise DataError(
                f"--config.out_dir={config.out_dir} already holds a run ({existing}); set "
                "--config.resume=True to continue it or choose another --config.out_dir "
                "(nothing was overwritten).")
    os.makedirs(config.out_dir, exist_ok=True)
    write_json(config_path, config.to_dict())
    return None


def _run_labels(splits, action_units=False):
    """What the run's labels and split are: written at the start, checked on resume.
    With the AU task, also its AU labels (the AU head's order)."""
    labels = {
        "identity_names": list(splits.train.identity_names),
        "expression_names": list(splits.train.expression_names),
        "split_subjects": {name: _subject_keys(getattr(splits, name))
                           for name in ("train", "validation", "test")},
    }
    if action_units:
        labels["action_unit_names"] = list(splits.train.action_unit_names)
    return labels


def _subject_keys(part):
    if isinstance(part, ShardSplit):
        return list(part.subjects)
    return sorted({str(s) for s in part.subject})


def source_mix(config, part):
    """`config.source_mix` as probabilities over the sources of `part`, or None.

    Raises:
        DataError: a weight count other than the data's number of sources.
    """
    try:
        return check_mix(config.source_mix, len(part.source_names))
    except ValueError as error:
        raise DataError(f"{error} The data has the sources "
                        f"{', '.join(part.source_names)}.") from None


def _datasets(splits, config, initial_epoch):
    """(training dataset, its steps per epoch, validation dataset)."""
    mix = source_mix(config, splits.train)
    units = config.action_units.enabled
    if isinstance(splits.train, ShardSplit):
        train_ds, steps_per_epoch = make_shard_training_dataset(
            splits.train, config.batch_size, config.seed, initial_epoch, config.epochs,
            augment=config.augment, shuffle_window=config.shuffle_window, source_mix=mix,
            action_units=units)
        return train_ds, steps_per_epoch, make_shard_dataset(splits.validation,
                                                             config.batch_size,
                                                             action_units=units)
    train_ds, steps_per_epoch = make_training_dataset(
        splits.train, config.batch_size, config.seed, initial_epoch, config.epochs,
        augment=config.augment, balance=config.balance, source_mix=mix, action_units=units)
    validation_ds = make_dataset(splits.validation, config.batch_size, training=False,
                                 seed=config.seed, action_units=units)
    return train_ds, steps_per_epoch, validation_ds


def _check_or_write_labels(run_dir, splits, resuming, action_units=False):
    path = os.path.join(run_dir, "labels.json")
    labels = _run_labels(splits, action_units)
    if resuming and os.path.exists(path):
        saved = read_json(path)
        changed = [key for key in labels if saved.get(key) != labels[key]]
        if changed:
            raise DataError(
                f"--config.resume: the data no longer gives the run's {' and '.join(changed)} "
                f"({path}): the dataset changed since the run started. Restore it, or start "
                "a new run in another --config.out_dir.")
        return
    write_json(path, labels)


def _write_confusion(run_dir, metrics):
    for split in ("validation", "test"):
        expression = metrics[split].get("expression")
        if expression:
            base = os.path.join(run_dir, f"confusion_{split}")
            write_confusion_csv(base + ".csv", expression["confusion_matrix"],
                                expression["class_names"])
            write_confusion_png(base + ".png", expression["confusion_matrix"],
                                expression["class_names"], title=f"Expression, {split} split")


def _write_plots(run_dir, step_history, epoch_history):
    plot_series(
        os.path.join(run_dir, "task_weights.png"),
        {name: values for name, values in step_history.items() if name.startswith("w_")},
        title="Task weights over training",
        xlabel="step",
        ylabel="weight",
    )
    curves = {name: values for name, values in epoch_history.items() if name.endswith("loss")}
    plot_series(
        os.path.join(run_dir, "loss_curves.png"),
        curves,
        title="Losses per epoch",
        xlabel="epoch",
        ylabel="loss",
    )


def train(config):
    """Runs training, evaluation and saving for `config`.

    Under `config.distribute=multi_worker` every worker of the cluster runs this
    with the same config; the chief writes the run folder, the others a
    temporary folder deleted at the end, and a restarted cluster continues from
    each worker's `BackupAndRestore` backup (`keras_dmtl.training.distribute`).

    Args:
        config: the run config (`keras_dmtl.training.config`), validated.

    Returns:
        The metrics dict that is also written to `metrics.json`.

    Raises:
        DataError: bad input (named in the message); nothing already in the run
            folder is overwritten.
    """
    # First: MultiWorkerMirroredStrategy configures the process's collective ops.
    strategy = distribute.make_strategy(config.distribute)
    chief = distribute.is_chief(strategy)
    backup = distribute.backup_dir(config.out_dir, strategy)
    restored = distribute.restored_epoch(backup)
    run_dir = config.out_dir if chief else tempfile.mkdtemp(prefix="keras_dmtl_worker_")
    try:
        return _train(config, strategy, run_dir, chief, backup, restored)
    finally:
        if not chief:
            shutil.rmtree(run_dir, ignore_errors=True)


def _state_at_epoch(state, epochs_done, steps_per_epoch):
    """The checkpoint's training state cut back to `epochs_done` epochs (a backup
    can be one epoch behind the chief's checkpoint when a kill fell between them)."""
    steps = epochs_done * steps_per_epoch
    return {
        "epochs_done": epochs_done,
        "global_step": steps,
        "step_history": {k: v[:steps] for k, v in state["step_history"].items()},
        "epoch_history": {k: v[:epochs_done] for k, v in state["epoch_history"].items()},
    }


def _train(config, strategy, run_dir, chief, backup, restored):
    """`train` for one worker; it writes into `run_dir` (the run folder on the chief)."""
    state = _prepare_run_dir(config, restarting=restored is not None, chief=chief)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(config.seed)
    # Read before the training data, so that a bad .bin stops the run at once.
    verification = None
    if config.verification_bins:
        verification = VerificationBinCallback(
            config.verification_bins, config.verification_every_steps, config.image_size,
            config.channels, log_dir=os.path.join(run_dir, "logs", "verification"),
            initial_step=state["global_step"] if state else 0,
            history=state.get("verification_history") if state else None)

    splits = load_splits(config)
    # Before anything trains: data without AU labels, or a table that does not
    # cover them, stops the run here.
    action_units, splits = with_action_units(config, splits)
    if chief:
        _check_or_write_labels(config.out_dir, splits,
                               resuming=state is not None or restored is not None,
                               action_units=bool(action_units))
    initial_epoch = 0 if state is None else state["epochs_done"]
    if restored is not None:
        _LOG.warning("Continuing from the backup in %s: %d epochs done.", backup, restored)
        initial_epoch = restored
    distribute.check_same_epoch(strategy, restored)
    train_ds, steps_per_epoch, validation_ds = _datasets(splits, config, initial_epoch)
    # Each worker builds the whole global batch and keeps its replicas' share of
    # it, so N workers see the batches one process would.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds, validation_ds = train_ds.with_options(options), validation_ds.with_options(options)
    if state is not None and restored is not None:
        state = _state_at_epoch(state, restored, steps_per_epoch)
    with strategy.scope():
        if state is not None and config.resume:
            model = keras.saving.load_model(os.path.join(config.out_dir, CHECKPOINT_NAME))
            model.jit_compile = use_xla(config)  # may change on resume; state is kept
        else:
            # A restarted worker's weights come from its backup (BackupAndRestore).
            model = build_model(config, len(splits.train.identity_names),
                                len(splits.train.expression_names),
                                steps_per_epoch=steps_per_epoch,
                                label_names=_run_labels(splits), action_units=action_units)
    if state is not None:
        step_history = StepHistory(os.path.join(run_dir, "logs", "steps"),
                                   state["global_step"], state["step_history"])
        epoch_history = state["epoch_history"]
    else:
        epoch_history = {}
        step_history = StepHistory(os.path.join(run_dir, "logs", "steps"),
                                   initial_epoch * steps_per_epoch,
                                   names=model.step_value_names)
    callbacks = [
        step_history,
        *([verification] if verification else []),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), update_freq="epoch"),
        schedule.StepLearningRate(config.learning_rate, config.learning_rate_drops,
                                  config.learning_rate_drop_factor),
        EpochCheckpoint(run_dir, step_history, epoch_history,
                        verification.history if verification else None),
    ]
    if backup is not None:
        # After EpochCheckpoint: a backup is never ahead of checkpoint.keras.
        callbacks.append(keras.callbacks.BackupAndRestore(backup))
    verbose, reporting = progress_reporting(config.verbose, config.epochs)
    if initial_epoch < config.epochs:
        model.fit(train_ds, validation_data=validation_ds, epochs=config.epochs,
                  initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                  callbacks=callbacks + reporting, verbose=verbose, shuffle=False)
    if backup is not None and chief:
        try:  # each worker deleted its own backup at the end of fit
            os.rmdir(os.path.dirname(backup))
        except OSError:  # another worker's is still there: it deletes it in a moment
            pass

    metrics = {
        "weighting": keras.saving.serialize_keras_object(model.weighting)["config"],
        "final_task_weights": {
            name: values[-1] if values else None
            for name, values in step_history.history.items() if name.startswith("w_")},
        "train_mode_last_epoch": {k: v[-1] for k, v in epoch_history.items()},
    }
    if verification:
        metrics["verification_bins"] = verification.history
    for name in ("train", "validation", "test"):
        metrics[name] = evaluate_by_source(model, splits, name, config.seed)
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    _write_plots(run_dir, step_history.history, epoch_history)
    _write_confusion(run_dir, metrics)
    with atomic_path(os.path.join(run_dir, "model.keras")) as temporary:
        model.save(temporary)
    return metrics
