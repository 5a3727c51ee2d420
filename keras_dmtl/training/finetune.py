"""Fine-tuning: a new run's first weights from a trained model of ours.

`config.init_from` names a `.keras` file written by train.py (a run's
`model.keras` or `checkpoint.keras`). With `init_scope="trunk"` only the shared
trunk is copied; with "all" the branches come too: the face bottleneck and
embedding, the expression bottleneck, the weight unit, and each classifier whose
classes are the new data's. The identity classifier (and its centers) is
rebuilt unless the new data has the same people in the same order; the
expression classifier is copied when the class names match, or, when the source
run's `labels.json` is not beside the file, when the class counts do. The
weight unit is rebuilt when the source weighs another number of tasks, and an
action-unit head is copied only from a source with the same AUs. The weighting
strategy's state is never copied: the new run balances its own tasks.
"""

import logging
import os

import keras

from keras_dmtl.data.records import DataError
from keras_dmtl.io_utils import read_json
from keras_dmtl.models.heads import IDENTITY_HEAD_NAME
from keras_dmtl.models.quantization import copy_weights_by_name
from keras_dmtl.models.multitask import DynamicMultiTaskModel
from keras_dmtl.models.network import WEIGHT_UNIT_NAME

_LOG = logging.getLogger(__name__)

# Branch layers that transfer with init_scope="all" whatever the classes.
BRANCH_LAYERS = ("face_bottleneck", "embedding", "expression_bottleneck",
                 "expression_bottleneck_bn", WEIGHT_UNIT_NAME)
EXPRESSION_CLASSIFIER = "expression_logits"
# The action-unit head of a three-task model.
ACTION_UNIT_LAYERS = ("action_unit_bottleneck", "action_unit_bottleneck_bn",
                      "action_unit_logits")
# The source's architecture keys that must equal the new run's, and the flag of each.
_MUST_MATCH = (("backbone", "--config.backbone"), ("backbone_width", "--config.backbone_width"),
               ("input_shape", "--config.image_size / --config.channels"))


def run_model_file(path, flag):
    """The `.keras` file of a model given as a run folder (its model.keras) or a file.

    Raises:
        DataError: naming `flag`, for a folder without model.keras.
    """
    if os.path.isdir(path):
        model = os.path.join(path, "model.keras")
        if not os.path.isfile(model):
            raise DataError(f"{flag}={path}: the folder has no model.keras (a finished "
                            "train.py run has one); give the run folder or a .keras file.")
        return model
    return path


def load_source(path, flag="--config.init_from"):
    """The model in `path`, a `.keras` file written by train.py.

    Args:
        path: the file.
        flag: the setting that named it, for the errors.

    Raises:
        DataError: naming `flag`, when the file is missing or not ours.
    """
    if not os.path.isfile(path):
        raise DataError(f"{flag}={path}: no such file; give a model.keras or "
                        "checkpoint.keras of a train.py run.")
    try:
        source = keras.saving.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 (Keras raises many kinds on a bad archive)
        raise DataError(f"{flag}={path}: not a Keras model file ({error}).") from None
    if not isinstance(source, DynamicMultiTaskModel):
        raise DataError(f"{flag}={path}: a {type(source).__name__}, not a model "
                        "written by train.py (DynamicMultiTaskModel).")
    return source


def source_labels(path):
    """The label names saved beside `path` by its run (`labels.json`), or None."""
    labels = os.path.join(os.path.dirname(os.path.abspath(path)), "labels.json")
    return read_json(labels) if os.path.exists(labels) else None


def _check_architecture(source, target, path, scope):
    for key, flag in _MUST_MATCH:
        have, want = source.architecture[key], target.architecture[key]
        if key == "input_shape":  # a list once read back from the file
            have, want = tuple(have), tuple(want)
        if have != want:
            raise DataError(f"{flag}: the model in --config.init_from={path} has {key} "
                            f"{have}, this run {want}; set {flag} to match it.")
    if scope == "all" and source.architecture["embedding_dim"] != target.architecture[
            "embedding_dim"]:
        raise DataError(
            f"--config.embedding_dim={target.architecture['embedding_dim']}: the model in "
            f"--config.init_from={path} has {source.architecture['embedding_dim']}; match it, "
            "or copy the trunk only with --config.init_scope=trunk.")


def _copy(source_layer, target_layer):
    # By layer name: a quantisation-aware target has quantizers between the layers.
    copy_weights_by_name(source_layer, target_layer)
    return target_layer


def _same_classes(task, source, target, source_names, target_names):
    """Whether the `task` classifier of `source` fits `target`'s classes, and why."""
    count = f"num_{'identities' if task == 'identity' else 'expressions'}"
    have, want = source.architecture[count], target.architecture[count]
    if source_names is not None and target_names is not None:
        key = f"{task}_names"
        if list(source_names[key]) == list(target_names[key]):
            return True, f"the same {want} {task} classes"
        return False, f"{have} {task} classes in the source, {want} others here"
    if have != want:
        return False, f"{have} {task} classes in the source, {want} here"
    if task == "identity":
        return False, "the source's people are unknown (no labels.json beside it)"
    return True, f"{want} classes, order unchecked (no labels.json beside the source)"


def initialise_from(model, path, scope="all", label_names=None):
    """Copies the weights of the model in `path` into `model` (built, not compiled).

    Args:
        model: the new run's `DynamicMultiTaskModel`.
        path: the source `.keras` file (`config.init_from`).
        scope: "all" (trunk and branches) or "trunk".
        label_names: the new run's {"identity_names": [...], "expression_names":
            [...]} (labels.json's), which decide which classifiers fit; None
            compares class counts only.

    Returns:
        {"from": path, "transferred": [layer names], "fresh": [layer names]}.

    Raises:
        DataError: the file is not ours, or its trunk, input or embedding does
            not match this run's (the message names the flag).
    """
    source = load_source(path)
    _check_architecture(source, model, path, scope)
    transferred = [_copy(source.trunk, model.trunk).name]
    fresh, reasons = [], []
    if scope == "all":
        for name in BRANCH_LAYERS:
            if name == WEIGHT_UNIT_NAME and source.task_names != model.task_names:
                fresh.append(name)
                reasons.append(f"{name}: {len(source.task_names)} tasks in the source, "
                               f"{len(model.task_names)} here")
                continue
            transferred.append(_copy(source.network.get_layer(name),
                                     model.network.get_layer(name)).name)
        if model.action_unit_names:
            if source.action_unit_names == model.action_unit_names:
                transferred += [_copy(source.network.get_layer(name),
                                      model.network.get_layer(name)).name
                                for name in ACTION_UNIT_LAYERS]
            else:
                fresh += list(ACTION_UNIT_LAYERS)
                reasons.append("action_unit_logits: " + (
                    "other AUs in the source" if source.action_unit_names
                    else "the source has no AU head"))
        names = source_labels(path)
        for task, layer in (("expression", EXPRESSION_CLASSIFIER),
                            ("identity", IDENTITY_HEAD_NAME)):
            fits, why = _same_classes(task, source, model, names, label_names)
            same_head = task == "expression" or (source.architecture["identity_head"]
                                                  == model.architecture["identity_head"])
            if fits and same_head:
                transferred.append(_copy(source.network.get_layer(layer),
                                         model.network.get_layer(layer)).name)
                if task == "identity":
                    transferred.append(_copy(source.center_loss, model.center_loss).name)
            else:
                fresh.append(layer)
                reasons.append(f"{layer}: " + (why if not fits else "another "
                                               "--config.identity_head.name"))
        if IDENTITY_HEAD_NAME in fresh:
            fresh.append(model.center_loss.name)
    else:
        fresh += list(BRANCH_LAYERS) + [EXPRESSION_CLASSIFIER, IDENTITY_HEAD_NAME,
                                        model.center_loss.name]
        fresh += list(ACTION_UNIT_LAYERS) if model.action_unit_names else []
        reasons.append("--config.init_scope=trunk")
    started = (f"{', '.join(fresh)} ({'; '.join(reasons)}) and the weighting state" if fresh
               else "only the weighting state")
    _LOG.warning("Initialised from %s: transferred %s; freshly initialised %s.", path,
                 ", ".join(transferred), started)
    return {"from": path, "transferred": transferred, "fresh": fresh}
