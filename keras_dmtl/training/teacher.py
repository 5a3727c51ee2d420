"""Teacher soft labels, computed once per (teacher, data) and stored with the data.

`--config.teacher.model` names a trained model of ours (a run folder, or its
`model.keras` / `checkpoint.keras`). Before training, the teacher runs once over
every sample in inference mode; its expression logits (in the run's class
order) and its L2-normalised embedding are cached under `cache_dir`, keyed by
the teacher file's bytes and the crops, and travel with the samples into the
training batches (`FaceArrays.extras`), where the model's distillation losses
use them (`keras_dmtl.losses.distillation`). No step runs the teacher.
"""

import dataclasses
import hashlib
import logging
import os

import numpy as np

from keras_dmtl.data.records import DataError
from keras_dmtl.io_utils import atomic_path
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.losses.distillation import TEACHER_EXPRESSION
from keras_dmtl.training.finetune import load_source
from keras_dmtl.training.finetune import run_model_file
from keras_dmtl.training.finetune import source_labels

_LOG = logging.getLogger(__name__)
FLAG = "--config.teacher.model"
_CACHE_VERSION = 1


def _digest(path, images, expression_names, with_embedding):
    digest = hashlib.sha256(repr((_CACHE_VERSION, list(expression_names),
                                  with_embedding)).encode())
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:24]


def _class_order(path, teacher, expression_names):
    """Column of each of the run's expression classes in the teacher's logits."""
    count = teacher.architecture["num_expressions"]
    labels = source_labels(path)
    if labels is None:
        if count != len(expression_names):
            raise DataError(
                f"{FLAG}={path}: the teacher has {count} expression classes, the data "
                f"{len(expression_names)}, and no labels.json beside it names them: give the "
                "teacher's run folder.")
        _LOG.warning("%s: no labels.json beside it; assuming its %d expression classes are "
                     "the data's, in the same order.", path, count)
        return np.arange(count)
    names = list(labels["expression_names"])
    missing = [name for name in expression_names if name not in names]
    if missing:
        raise DataError(f"{FLAG}={path}: the teacher never learnt the expressions {missing} "
                        "the data has; train a teacher on them, or leave the teacher out.")
    return np.asarray([names.index(name) for name in expression_names])


def teacher_targets(path, arrays, cache_dir=None, with_embedding=True, batch_size=64):
    """The teacher's soft labels for every sample of `arrays`, cached.

    Args:
        path: the teacher (run folder or `.keras` file).
        arrays: the run's `FaceArrays` (crops the teacher must take as they are).
        cache_dir: folder of the cache; None computes them every time.
        with_embedding: also the normalised embeddings.
        batch_size: inference batch size.

    Returns:
        {TEACHER_EXPRESSION: float32 (N, K) logits in `arrays.expression_names`
        order, TEACHER_EMBEDDING: float32 (N, D) unit vectors (with_embedding)}.

    Raises:
        DataError: a teacher that is not ours, takes other crops, or lacks one
            of the data's expression classes.
    """
    model_path = run_model_file(path, FLAG)
    if not os.path.isfile(model_path):
        raise DataError(f"{FLAG}={path}: no such file or run folder.")
    cache_path = None
    if cache_dir:
        key = _digest(model_path, arrays.images, arrays.expression_names, with_embedding)
        cache_path = os.path.join(cache_dir, f"teacher_{key}.npz")
        if os.path.exists(cache_path):
            with np.load(cache_path) as cached:
                _LOG.info("Loaded the teacher's soft labels from %s", cache_path)
                return {name: cached[name] for name in cached.files}
    from keras_dmtl.training.evaluate import predict_arrays  # noqa: PLC0415 (TF)

    teacher = load_source(model_path, FLAG)
    wanted = tuple(teacher.architecture["input_shape"])
    if wanted != tuple(arrays.images.shape[1:]):
        raise DataError(
            f"{FLAG}={path}: the teacher takes {wanted[0]} px crops with {wanted[2]} "
            f"channel(s), the data is {arrays.images.shape[1]} px with "
            f"{arrays.images.shape[3]}: set --config.image_size / --config.channels to the "
            "teacher's.")
    order = _class_order(model_path, teacher, arrays.expression_names)
    outputs = predict_arrays(teacher, arrays.images, batch_size)
    targets = {TEACHER_EXPRESSION: outputs["expression_logits"][:, order].astype(np.float32)}
    if with_embedding:
        embedding = outputs["embedding"].astype(np.float32)
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        targets[TEACHER_EMBEDDING] = embedding / np.maximum(norms, 1e-12)
    if cache_path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_path(cache_path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, **targets)
    return targets


def with_teacher(arrays, config):
    """`arrays` with the teacher's soft labels of `config.teacher` in `extras`.

    The embedding target is left out when `config.teacher.embedding_weight` is 0.

    Raises:
        DataError: as `teacher_targets`, or a teacher embedding of another size
            than `config.embedding_dim`.
    """
    settings = config.teacher
    targets = teacher_targets(settings.model, arrays, config.cache_dir,
                              with_embedding=settings.embedding_weight > 0)
    if TEACHER_EMBEDDING in targets and targets[TEACHER_EMBEDDING].shape[1] != \
            config.embedding_dim:
        raise DataError(
            f"{FLAG}={settings.model}: its embedding has {targets[TEACHER_EMBEDDING].shape[1]} "
            f"dimensions, the student's {config.embedding_dim}: set --config.embedding_dim="
            f"{targets[TEACHER_EMBEDDING].shape[1]}, or --config.teacher.embedding_weight=0 "
            "to distil the expression only.")
    return dataclasses.replace(arrays, extras={**arrays.extras, **targets})


def distillation_settings(config):
    """The model's `distillation` argument for `config`, or None without a teacher."""
    if not config.teacher.model:
        return None
    return {"temperature": float(config.teacher.temperature), "mix": float(config.teacher.mix),
            "embedding_weight": float(config.teacher.embedding_weight)}
