"""The settings of a run: one `ml_collections.ConfigDict`, defined here once.

`default_config()` is every setting with its default and its meaning; the files
in `configs/` start from it and change what their recipe needs, and the command
line changes single keys (`--config.epochs=30`). The same object flows from
`train.py`, the comparison runner and the export into the library, and the run
folder's `config.json` is the resolved config.

TF-free on purpose: `train.py` checks the config before it imports TensorFlow.
"""

import math
import numbers
import os
import sys

import ml_collections
from ml_collections import config_dict

from keras_dmtl.data.sources import check_mix
from keras_dmtl.data.sources import parse_sources
from keras_dmtl.training import schedule

# The config `train.py` and the comparison runner read when no --config is given.
DEFAULT_CONFIG_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                   os.pardir, "configs", "default.py")
EXPORT_FORMATS = ("saved_model", "onnx", "tflite_float32", "tflite_float16",
                  "tflite_dynamic", "tflite_int8")


def default_config():
    """Every setting of a run, with its default: the generated-face run.

    Returns:
        A ConfigDict; keys are documented by the comments below.
    """
    config = ml_collections.ConfigDict()
    # --- data
    # Dataset folder or CSV, or a shard folder (python -m keras_dmtl.data.shards);
    # several datasets separated by commas train together (keras_dmtl.data.sources);
    # None: generated faces.
    config.data_dir = config_dict.placeholder(str)
    # Format name (keras_dmtl.data.readers) or "auto": from the layout; one for
    # every source, or one per source, comma-separated.
    config.dataset = "auto"
    config.cache_dir = "data_cache"  # aligned crops and generated faces are cached here
    # none (crops), mtcnn, haar or yunet:/path/face_detection_yunet.onnx; one for
    # every source, or one per source, comma-separated.
    config.detector = "none"
    # Share of the training samples drawn from each source of data_dir, e.g.
    # (0.7, 0.3); () = in proportion to the sources' sizes.
    config.source_mix = ()
    config.skip_bad_images = False  # skip (and count) bad images instead of stopping
    config.image_size = 64  # face crop side in pixels
    config.channels = 1  # 1 = grayscale, 3 = RGB
    config.val_fraction = 0.15  # share of subjects held out for validation
    config.test_fraction = 0.15  # share of subjects held out for testing
    config.augment = True  # flip, small affine, brightness/contrast jitter
    config.balance = config_dict.placeholder(str)  # None, "expression" or "identity"
    config.generated_identities = 20  # people in the generated face set
    config.generated_sequences = 2  # sequences per person and expression in it
    # Shards in data_dir: "auto" / "true" stream them (memory stays flat whatever
    # their size), "false" loads them into memory (small sets, exact epoch shuffles).
    config.streaming = "auto"
    config.shuffle_window = 8192  # streamed examples shuffled together (held encoded)
    # --- model
    config.backbone = "tiny"  # shared trunk: keras_dmtl.models.backbones
    config.backbone_width = 1.0  # trunk width multiplier
    config.embedding_dim = 128  # size of the face embedding
    config.center_loss_alpha = 0.1  # weight of the center loss inside the face loss
    config.identity_head = ml_collections.ConfigDict()
    # softmax (the paper), cosface or arcface: keras_dmtl.models.identity_heads
    config.identity_head.name = "softmax"
    config.identity_head.kwargs = ml_collections.ConfigDict()  # e.g. scale, margin
    # The expression loss: cross-entropy (the paper), optionally label-smoothed, plus
    # macro_f1_weight * (1 - soft macro-F1), which gives rare classes their share.
    config.expression_loss = ml_collections.ConfigDict()
    config.expression_loss.label_smoothing = 0.0
    config.expression_loss.macro_f1_weight = 0.0
    # Teacher soft labels (Deng et al. 2020; keras_dmtl.training.teacher): a trained
    # model of ours whose expression predictions fill missing expression labels and
    # whose embedding fills missing identity labels. Computed once, cached.
    config.teacher = ml_collections.ConfigDict()
    config.teacher.model = config_dict.placeholder(str)  # a run folder or .keras; None: none
    config.teacher.temperature = 2.0  # softens the teacher's and student's expression softmax
    # Teacher's share of the loss of samples that have the ground truth (0: theirs
    # is the ground truth alone; the teacher fills in only the missing labels).
    config.teacher.mix = 0.0
    # Weight of the embedding distillation (1 - cosine to the teacher's embedding)
    # in the face loss; 0: distil expressions only.
    config.teacher.embedding_weight = 1.0
    # How the embedding follows the teacher's: "cosine" (1 - cos to its vector:
    # the same space) or "pairwise" (the batch's cosine similarities matched:
    # only who is near whom).
    config.teacher.embedding_loss = "cosine"
    # An external face-recognition model whose embedding of every source photo is
    # the embedding target instead (keras_dmtl.teachers, e.g. "dlib_resnet": dlib's
    # CC0 ResNet, 128-d, trained on ~7,500 people). Computed once per photo, in
    # parallel, cached under cache_dir (python -m keras_dmtl.teachers.embed does
    # it ahead of training). None: none.
    config.teacher.embeddings = config_dict.placeholder(str)
    config.teacher.workers = 2  # processes that compute the external teacher's embeddings
    # With an external teacher, its embedding loss is a task of its own that the
    # weighting strategy weighs beside face and expression (the last task,
    # "distillation"); False: a term of the face loss, as with a model teacher.
    config.teacher.embedding_task = True
    # Take the mean of the external teacher's embeddings off every target (over all
    # the run's faces, then unit length again): dlib's strangers lie at a cosine of
    # 0.84 otherwise (keras_dmtl.training.teacher.centered_embedding_targets).
    config.teacher.center_embeddings = False
    # A third task, facial action units (multi-label), coupled to the expression
    # task by distribution matching (docs/method.md, section 11; docs/training.md,
    # "Action units as a third task"). Off: the two-task model of the paper.
    config.action_units = ml_collections.ConfigDict()
    config.action_units.enabled = False
    # P(AU | expression) that couples the heads: "estimated" from the training
    # split's samples with both labels, "prior" (Du et al. 2014, FaceBehaviorNet's
    # prior knowledge; no contempt row, 17 AUs), or a CSV file of that layout.
    config.action_units.relatedness = "estimated"
    # Additive smoothing of "estimated": pulls each entry toward 1/2 by this many
    # pseudo-samples, so a pair with no co-labelled sample reads 1/2.
    config.action_units.smoothing = 1.0
    # Weight of the distribution matching (the AUs the expression head implies
    # against the AU head, on samples lacking either label) inside the AU loss.
    config.action_units.matching_weight = 1.0
    # Weight of the reverse matching (the expression the AU head implies against
    # the expression head) inside the AU loss; 0: off.
    config.action_units.reverse_weight = 0.0
    # Share of the training split's subjects whose AU labels are kept (drawn with
    # the seed; the others' are masked, validation and test keep theirs): studies
    # how the task does when AU coding is scarce, as it is in practice. 1: all.
    config.action_units.labelled_subjects = 1.0
    config.weighting = ml_collections.ConfigDict()
    # A strategy of keras_dmtl.weighting. GradNorm had the best Delta_m on real
    # faces (CK+48, 10 subject folds; docs/results.md, "Results on real faces");
    # "dynamic" is the paper's scheme, reproduced faithfully.
    config.weighting.name = "gradnorm"
    # The strategy's constructor arguments; configs/default.py:<name> fills in
    # the strategy's defaults so that each can be set from the command line.
    config.weighting.kwargs = ml_collections.ConfigDict()
    # --- training
    config.epochs = 20  # in total, also when resuming
    config.batch_size = 32
    config.learning_rate = 1e-3  # Adam, trunk and branches
    # Step schedule (keras_dmtl.training.schedule): from each of these epochs
    # (0-based) on, the rate is multiplied by learning_rate_drop_factor; () keeps
    # one rate. A resumed run may add or move drops only where it has not trained yet.
    config.learning_rate_drops = ()
    config.learning_rate_drop_factor = 0.1
    config.weight_lr = 0.01  # SGD, the dynamic-weight-unit
    # XLA-compile the train step: "auto" = on where a GPU is present, off on
    # CPU-only machines (XLA:CPU measured 11x slower for the mobile trunk, 1.3x
    # for tiny; docs/ecosystem.md); "true" / "false" force it.
    config.jit_compile = "auto"
    config.mixed_precision = False  # mixed_float16 (GPU)
    # none: one device; mirrored: every GPU of this machine
    # (tf.distribute.MirroredStrategy); multi_worker: every machine named in the
    # TF_CONFIG environment variable (MultiWorkerMirroredStrategy; docs/training.md,
    # "More than one machine"). batch_size is the global batch, split over the
    # replicas.
    config.distribute = "none"
    config.seed = 0  # splits, generated data, shuffling, augmentation, weights
    # Keras progress output: 0 none, 1 a progress bar on a terminal (a line per
    # epoch when stdout is a file or a pipe), 2 a line per epoch.
    config.verbose = 1
    # insightface verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin) scored during
    # training: 10-fold accuracy with flipped images, into TensorBoard and
    # metrics.json. () = none. Read safely: a .bin that asks to import code is refused.
    config.verification_bins = ()
    config.verification_every_steps = 1000  # and after the last step
    # --- run folder
    config.out_dir = config_dict.placeholder(str)  # default runs/<weighting>_<backbone>_seed<seed>
    config.resume = False  # continue the run in out_dir from its checkpoint
    # --- fine-tuning: start from a model of ours (a run's model.keras or checkpoint.keras)
    config.init_from = config_dict.placeholder(str)  # the .keras file; None: random init
    config.init_scope = "all"  # "all": trunk and branches; "trunk": the trunk only
    # Freeze the transferred BatchNorm layers (moving mean/variance and scale/offset
    # stay as trained): for small fine-tuning sets, whose batch statistics are noisy.
    config.freeze_batchnorm = False
    # Quantisation-aware training (keras_dmtl.models.quantization): the network
    # simulates int8 TFLite while it trains. Meant for a short fine-tuning of a
    # trained model (init_from, with freeze_batchnorm) before an int8 export.
    config.quantization_aware = False
    # --- export after training (also the defaults of export/export_model.py)
    config.export = ml_collections.ConfigDict()
    config.export.enabled = True
    config.export.formats = EXPORT_FORMATS
    config.export.representative_samples = 500  # training crops that calibrate int8
    # False-accept rate the thresholds are calibrated for: Android's class-1
    # biometric bar (FAR < 0.002 %).
    config.export.target_far = 2e-5
    # Face sets (any layout train.py reads; comma-separated, each a population
    # whose every pair calibrates the thresholds, the strictest kept; "held_out" is
    # the run's held-out subjects); None: the run's held-out subjects.
    config.export.calibration_data = config_dict.placeholder(str)
    # How faces are found in calibration_data (none, haar, mtcnn, yunet:...); None:
    # the run's detector. Photos need one when the model was trained on crops.
    config.export.calibration_detector = config_dict.placeholder(str)
    # --- comparison runner (keras_dmtl.experiments.compare)
    config.experiment = ml_collections.ConfigDict()
    config.experiment.out_dir = "experiments/generated"
    config.experiment.methods = ()  # labels to run; () = every registered method
    config.experiment.folds = 10  # subject folds (the CK+ / Oulu-CASIA protocol)
    config.experiment.max_folds = 0  # run only the first N folds (0 = all)
    config.experiment.seeds = (0,)
    config.experiment.validation_fraction = 0.15  # of the non-test subjects
    # How each method uses knowledge for the labels a sample lacks, one table row
    # per use (keras_dmtl.experiments.label_use, which checks the names): masks,
    # soft_labels (the fold's masks model as teacher), matching (an AU third task
    # coupled by distribution matching; its settings from action_units),
    # soft_labels+matching.
    config.experiment.label_uses = ("masks",)
    # The AU task's weight beside the static sweep's (w1, 1 - w1) in matching rows.
    config.experiment.action_unit_weight = 0.2
    return config


# (lower, upper, lower_inclusive) per numeric key; None = unbounded. A numeric
# key without bounds fails `validate` (and the tests), so none is forgotten.
NUMERIC_BOUNDS = {
    "image_size": (16, 1024, True),
    "channels": (1, 3, True),
    "val_fraction": (0.0, 1.0, False),
    "test_fraction": (0.0, 1.0, False),
    "generated_identities": (3, 100000, True),
    "generated_sequences": (1, 1000, True),
    "shuffle_window": (1, None, True),
    "backbone_width": (0.0, 8.0, False),
    "embedding_dim": (2, 4096, True),
    "center_loss_alpha": (0.0, None, True),
    "expression_loss.label_smoothing": (0.0, 0.9, True),
    "expression_loss.macro_f1_weight": (0.0, None, True),
    "teacher.temperature": (0.0, 100.0, False),
    "teacher.mix": (0.0, 1.0, True),
    "teacher.embedding_weight": (0.0, None, True),
    "teacher.workers": (1, 64, True),
    "action_units.smoothing": (0.0, None, True),
    "action_units.matching_weight": (0.0, None, True),
    "action_units.reverse_weight": (0.0, None, True),
    "action_units.labelled_subjects": (0.0, 1.0, True),
    "epochs": (1, None, True),
    "batch_size": (1, None, True),
    "learning_rate": (0.0, 10.0, False),
    "learning_rate_drop_factor": (0.0, 1.0, False),
    "weight_lr": (0.0, 10.0, True),
    "seed": (0, 2**31 - 1, True),
    "verbose": (0, 2, True),
    "verification_every_steps": (1, None, True),
    "export.representative_samples": (1, None, True),
    "export.target_far": (0.0, 1.0, False),
    "experiment.folds": (2, None, True),
    "experiment.max_folds": (0, None, True),
    "experiment.validation_fraction": (0.0, 1.0, False),
    "experiment.action_unit_weight": (0.0, None, True),
}
CHOICES = {
    "jit_compile": ("auto", "true", "false"),
    "streaming": ("auto", "true", "false"),
    "channels": (1, 3),
    "balance": (None, "expression", "identity"),
    "distribute": ("none", "mirrored", "multi_worker"),
    "init_scope": ("all", "trunk"),
    "teacher.embedding_loss": ("cosine", "pairwise"),
}

# Keys a resumed run may change: how long it trains (with the learning-rate drops
# of epochs it has not trained yet: checked against its checkpoint) and how it
# computes, reports or exports, never what it learns from or what it is. Every
# other key must equal the run's config.json. (init_from only chose the first
# weights; a resumed run takes its weights from its checkpoint.)
RESUMABLE_PREFIXES = ("epochs", "learning_rate_drop", "resume", "out_dir", "cache_dir",
                      "jit_compile", "verbose",
                      "verification_", "distribute", "init_from", "export.", "experiment.",
                      "teacher.workers")


def flatten(config, prefix=""):
    """{"a.b": value} for every leaf of a ConfigDict (or dict)."""
    items = {}
    for key, value in config.items():
        if isinstance(value, (ml_collections.ConfigDict, dict)) and key != "kwargs":
            items.update(flatten(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def setting_problem(name, value):
    """What is wrong with `value` for the numeric key `name`, or None.

    Args:
        name: a key of `NUMERIC_BOUNDS` ("epochs", "export.target_far", ...).
        value: the value to check.

    Returns:
        A short reason ("must be at least 1"), or None when the value is valid.
    """
    lower, upper, lower_inclusive = NUMERIC_BOUNDS[name]
    if not _is_number(value) or not math.isfinite(value):
        return "give a finite number"
    if isinstance(lower, int) and isinstance(upper, (int, type(None))) and int(value) != value:
        return "give a whole number"
    if lower is not None and (value < lower or (value == lower and not lower_inclusive)):
        return f"must be {'at least' if lower_inclusive else 'more than'} {lower}"
    if upper is not None and value > upper:
        return f"must be at most {upper}"
    return None


def validate(config):
    """Checks every key; raises ValueError with one line naming `--config.<key>`.

    Args:
        config: a ConfigDict shaped like `default_config()`.

    Returns:
        The config, for chaining.
    """
    values = flatten(config)
    for name in NUMERIC_BOUNDS:
        problem = setting_problem(name, values[name])
        if problem is not None:
            raise ValueError(f"--config.{name}={values[name]}: {problem}.")
    unchecked = sorted(name for name, value in values.items()
                       if _is_number(value) and name not in NUMERIC_BOUNDS)
    if unchecked:  # a numeric key added to default_config() without bounds
        raise ValueError(f"No bounds for the numeric settings {unchecked}: add them to "
                         "NUMERIC_BOUNDS in keras_dmtl/training/config.py.")
    config.jit_compile = str(config.jit_compile).lower()  # --config.jit_compile=False too
    config.streaming = str(config.streaming).lower()
    for name, choices in CHOICES.items():
        value = config[name]
        if value not in choices:
            raise ValueError(f"--config.{name}={value}: choose one of "
                             f"{', '.join(str(c) for c in choices if c is not None)}"
                             f"{' (or leave it unset)' if None in choices else ''}.")
    if config.val_fraction + config.test_fraction >= 1.0:
        raise ValueError(f"--config.val_fraction={config.val_fraction} plus "
                         f"--config.test_fraction={config.test_fraction} leave no training "
                         "subjects: keep their sum below 1.")
    problem = schedule.drops_problem(config.learning_rate_drops, config.epochs)
    if problem:
        raise ValueError(f"--config.learning_rate_drops={config.learning_rate_drops}: "
                         f"{problem}.")
    if config.resume and config.init_from:
        raise ValueError(f"--config.init_from={config.init_from} with --config.resume=True: "
                         "resume continues a run from its own checkpoint, init_from starts a "
                         "new run from another model; give one of them.")
    if config.freeze_batchnorm and not (config.init_from or config.resume):
        raise ValueError("--config.freeze_batchnorm=True freezes the BatchNorm statistics of "
                         "a trained model: give it with --config.init_from=<model.keras>.")
    if config.teacher.model and config.teacher.embeddings:
        raise ValueError(f"--config.teacher.model={config.teacher.model} and "
                         f"--config.teacher.embeddings={config.teacher.embeddings} both give "
                         "the embedding target: keep one (set --config.teacher.embedding_weight"
                         "=0 on a model teacher to distil only its expressions).")
    if config.data_dir is None and config.dataset != "auto":
        raise ValueError(f"--config.dataset={config.dataset} needs the dataset: give "
                         "--config.data_dir=<its folder or CSV>.")
    mix = config.source_mix
    if not isinstance(mix, (tuple, list)):
        raise ValueError(f"--config.source_mix={mix}: give a tuple of weights, one per source, "
                         "e.g. \"(0.7, 0.3)\", or () to mix in proportion to size.")
    sources = parse_sources(config.data_dir, config.dataset, config.detector)
    if mix and not sources:
        raise ValueError(f"--config.source_mix={tuple(mix)} mixes several sources: give them "
                         "as --config.data_dir=<first>,<second>, or leave source_mix at ().")
    check_mix(mix, len(mix))  # the form; the count is checked against the data's sources
    if mix and config.balance:
        raise ValueError(f"--config.balance={config.balance} and --config.source_mix="
                         f"{tuple(mix)} both resample the training data: give one of them.")
    bins = config.verification_bins
    if not isinstance(bins, (tuple, list)) or not all(isinstance(p, str) for p in bins):
        raise ValueError(f"--config.verification_bins={bins}: give a tuple of .bin paths, "
                         "e.g. \"('/data/lfw.bin', '/data/agedb_30.bin')\".")
    _check_action_units(config.action_units)
    unknown = sorted(set(config.export.formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"--config.export.formats: unknown {unknown}; choose from "
                         f"{', '.join(EXPORT_FORMATS)}.")
    return config


RELATEDNESS_SOURCES = ("estimated", "prior")


def _check_action_units(settings):
    """The AU settings' form (the CSV file itself is read when the run starts)."""
    if not isinstance(settings.enabled, bool):
        raise ValueError(f"--config.action_units.enabled={settings.enabled}: give True or "
                         "False.")
    relatedness = settings.relatedness
    if not isinstance(relatedness, str) or not (
            relatedness in RELATEDNESS_SOURCES or relatedness.lower().endswith(".csv")):
        raise ValueError(f"--config.action_units.relatedness={relatedness}: give estimated, "
                         "prior, or the path of a relatedness table .csv (header "
                         "expression,AU<n>,..., one row per expression).")


def make_config(**overrides):
    """`default_config()` with `overrides` (top-level keys or "group.key"), validated.

    Example:
        config = make_config(epochs=3, image_size=32, **{"weighting.name": "famo"})
    """
    config = default_config()
    update(config, overrides)
    return validate(config)


def update(config, overrides):
    """Sets `overrides` ({"key": v} or {"group.key": v}) on `config` in place.

    Raises:
        ValueError: a key that `config` does not have (a typo), or a value of
            another type than the key's, named.
    """
    for path, value in overrides.items():
        *groups, key = path.split(".")
        node = config
        for group in groups:
            node = node[group]
        if key not in node and not (groups and groups[-1] == "kwargs"):
            raise ValueError(f"--config.{path}: no such setting; see "
                             "keras_dmtl/training/config.py for every key.")
        if isinstance(value, bool) and isinstance(node.get(key), str):
            value = str(value).lower()  # a switch with an "auto" setting: true / false
        try:
            node[key] = value
        except TypeError:  # ConfigDict keeps each key's type
            raise ValueError(f"--config.{path}={value}: give a {type(node[key]).__name__}, "
                             f"like the default {node[key]!r}.") from None
    return config


def from_dict(saved, path="config.json"):
    """The config saved as a dict (a run folder's config.json), validated.

    Raises:
        ValueError: naming `path`, when it holds unknown or invalid settings.
    """
    config = default_config()
    try:
        update(config, flatten(saved))
        return validate(config)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error} It was written by another version of keras_dmtl, "
                         "or edited.") from None


def with_updates(config, **overrides):
    """A validated copy of `config` with `overrides` (see `update`)."""
    copy = ml_collections.ConfigDict(config.to_dict())
    return validate(update(copy, overrides))


def resume_conflicts(saved, requested):
    """The keys a resumed run asks to change although they must not change.

    Args:
        saved: the run's config (from its config.json).
        requested: the config of the resuming invocation.

    Returns:
        A list of "--config.key=requested (the run has saved)" strings; empty
        when the invocation may resume the run.
    """
    before, after = flatten(saved), flatten(requested)
    conflicts = []
    for name in sorted(set(before) | set(after)):
        if name.startswith(RESUMABLE_PREFIXES):
            continue
        old, new = _comparable(before.get(name)), _comparable(after.get(name))
        if old != new:
            conflicts.append(f"--config.{name}={after.get(name)} (the run has "
                             f"{before.get(name)})")
    return conflicts


def _comparable(value):
    """Lists and tuples compare equal (JSON turns one into the other)."""
    if isinstance(value, (ml_collections.ConfigDict, dict)):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def use_strategy(config, name):
    """Sets the weighting strategy and its constructor arguments with their defaults,
    so that each argument can be changed as --config.weighting.kwargs.<arg>."""
    from keras_dmtl import weighting  # noqa: PLC0415 (strategies import TensorFlow)

    config.weighting.name = name
    config.weighting.kwargs = ml_collections.ConfigDict(weighting.default_kwargs(name))
    return config


def resolve_out_dir(config):
    """Sets the default run folder, runs/<weighting>_<backbone>_seed<seed>, if unset."""
    if config.out_dir is None:
        config.out_dir = os.path.join(
            "runs", f"{config.weighting.name}_{config.backbone}_seed{config.seed}")
    return config


def _exit_on_bad_override(error):
    """One line for a mistyped or ill-typed --config.<key>, instead of a traceback."""
    text = str(error).replace("\\n", " ").replace("\\'", "").replace("'", "")
    message = " ".join(text.split())
    if isinstance(error, (AttributeError, KeyError)):
        message = f"no such setting {message}"
    sys.stderr.write(f"FATAL Flags parsing error: --config: {message}\n"
                     "Every key: keras_dmtl/training/config.py.\n")
    sys.exit(1)


_OVERRIDE_ERRORS = (AttributeError, KeyError, TypeError, ValueError)


def define_config_flag(help_text):
    """Defines --config (a config file, `DEFAULT_CONFIG_FILE` when not given) and
    its --config.<key> overrides; returns the flag holder (`.value` is the config).

    config_flags applies the overrides already when the flag is defined, so a
    typo is caught here too.
    """
    from ml_collections import config_flags  # noqa: PLC0415 (only the CLIs define flags)

    try:
        return config_flags.DEFINE_config_file("config", DEFAULT_CONFIG_FILE, help_text,
                                               lock_config=True)
    except _OVERRIDE_ERRORS as error:
        _exit_on_bad_override(error)


def parse_flags(argv):
    """absl's flag parser, but a mistyped or ill-typed --config.<key> ends with one
    line instead of a traceback (`app.run(main, flags_parser=parse_flags)`)."""
    from absl import app  # noqa: PLC0415 (only the CLIs parse flags)

    try:
        return app.parse_flags_with_usage(argv)
    except _OVERRIDE_ERRORS as error:
        _exit_on_bad_override(error)
