"""Teacher soft labels, computed once per (teacher, data) and stored with the data.

`--config.teacher.model` names a trained model of ours (a run folder, or its
`model.keras` / `checkpoint.keras`). Before training, the teacher runs once over
every sample in inference mode; its expression logits (in the run's class
order) and its L2-normalised embedding are stored, keyed by the teacher file's
bytes and the data, and travel with the samples into the training batches,
where the model's distillation losses use them (`keras_dmtl.losses.distillation`).
No step runs the teacher.

- In memory: one `.npz` under `cache_dir`, keyed by the crops; the targets
  ride in `FaceArrays.extras`.
- Streamed shards: one TFRecord file per shard (`streaming.SoftLabelFiles`),
  written shard by shard (memory stays flat) into `teacher_<key>/` under
  `cache_dir`, or beside the shards without one; `soft_labels.json`, written
  last, says the folder is complete. A killed run keeps the shards it finished,
  and concurrent workers wait on one file lock instead of computing it twice.
"""

import dataclasses
import hashlib
import logging
import os

import filelock
import numpy as np

from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards.index import INDEX_NAME
from keras_dmtl.io_utils import atomic_path
from keras_dmtl.io_utils import read_json
from keras_dmtl.io_utils import write_json
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.losses.distillation import TEACHER_EXPRESSION
from keras_dmtl.training.finetune import load_source
from keras_dmtl.training.finetune import run_model_file
from keras_dmtl.training.finetune import source_labels

_LOG = logging.getLogger(__name__)
FLAG = "--config.teacher.model"
_CACHE_VERSION = 1


def _digest(path, data, expression_names, with_embedding):
    """Key of the targets of the teacher file `path` on `data` (bytes that name the
    crops: the crops themselves, or a shard set's index)."""
    digest = hashlib.sha256(repr((_CACHE_VERSION, list(expression_names),
                                  with_embedding)).encode())
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    digest.update(data)
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


def _teacher_file(path):
    """The `.keras` file of the teacher `path` (a run folder or a file).

    Raises:
        DataError: naming the flag, when there is none.
    """
    model_path = run_model_file(path, FLAG)
    if not os.path.isfile(model_path):
        raise DataError(f"{FLAG}={path}: no such file or run folder.")
    return model_path


def _loaded_teacher(model_path, input_shape, expression_names):
    """(model, column of each of the data's classes in its logits) of the teacher
    file `model_path`, checked against the data's crops and classes.

    Raises:
        DataError: a teacher that is not ours, takes other crops, or lacks one
            of the data's expression classes.
    """
    teacher = load_source(model_path, FLAG)
    wanted = tuple(teacher.architecture["input_shape"])
    if wanted != tuple(input_shape):
        raise DataError(
            f"{FLAG}={model_path}: the teacher takes {wanted[0]} px crops with {wanted[2]} "
            f"channel(s), the data is {input_shape[0]} px with {input_shape[2]}: set "
            "--config.image_size / --config.channels to the teacher's.")
    return teacher, _class_order(model_path, teacher, expression_names)


def _targets(outputs, order, with_embedding):
    """The stored targets of a batch of the teacher's outputs."""
    targets = {TEACHER_EXPRESSION: outputs["expression_logits"][:, order].astype(np.float32)}
    if with_embedding:
        embedding = outputs["embedding"].astype(np.float32)
        norms = np.linalg.norm(embedding, axis=1, keepdims=True)
        targets[TEACHER_EMBEDDING] = embedding / np.maximum(norms, 1e-12)
    return targets


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
    model_path = _teacher_file(path)
    cache_path = None
    if cache_dir:
        key = _digest(model_path, np.ascontiguousarray(arrays.images).tobytes(),
                      arrays.expression_names, with_embedding)
        cache_path = os.path.join(cache_dir, f"teacher_{key}.npz")
        if os.path.exists(cache_path):
            with np.load(cache_path) as cached:
                _LOG.info("Loaded the teacher's soft labels from %s", cache_path)
                return {name: cached[name] for name in cached.files}
    from keras_dmtl.training.evaluate import predict_arrays  # noqa: PLC0415 (TF)

    teacher, order = _loaded_teacher(model_path, arrays.images.shape[1:],
                                     arrays.expression_names)
    targets = _targets(predict_arrays(teacher, arrays.images, batch_size), order,
                       with_embedding)
    if cache_path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_path(cache_path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, **targets)
    return targets


def shard_soft_labels(path, index, folder=None, with_embedding=True, embedding_dim=None,
                      batch_size=64):
    """The teacher's soft labels for every example of a shard set, as files beside
    its shards (computed once, shard by shard, then reused).

    Args:
        path: the teacher (run folder or `.keras` file).
        index: the `ShardIndex`.
        folder: where `teacher_<key>/` goes; None: beside the shards.
        with_embedding: also the normalised embeddings.
        embedding_dim: the student's embedding size, checked against the
            teacher's before anything is computed; None: not checked.
        batch_size: inference batch size.

    Returns:
        `streaming.SoftLabelFiles` with the keys and widths of `teacher_targets`.

    Raises:
        DataError: as `teacher_targets`, or a folder that cannot be written.
    """
    from keras_dmtl.data.shards.streaming import SoftLabelFiles  # noqa: PLC0415 (TF)

    model_path = _teacher_file(path)
    with open(os.path.join(index.root, INDEX_NAME), "rb") as stream:
        key = _digest(model_path, stream.read(), index.expression_names, with_embedding)
    root = os.path.join(folder or index.root, f"teacher_{key}")
    done = os.path.join(root, "soft_labels.json")
    try:
        os.makedirs(root, exist_ok=True)
        with filelock.FileLock(root + ".lock"):
            if not os.path.exists(done):
                widths = _write_shard_soft_labels(model_path, index, root, with_embedding,
                                                  embedding_dim, batch_size)
                write_json(done, {"teacher": os.path.abspath(model_path), "widths": widths,
                                  "shard_examples": list(index.shard_examples)})
    except PermissionError as error:
        raise DataError(f"{FLAG}={path}: cannot write the soft labels of the shards in "
                        f"{index.root} ({error}); set --config.cache_dir to a writable "
                        "folder.") from None
    widths = dict(read_json(done)["widths"])
    if embedding_dim is not None:
        _check_embedding(path, widths.get(TEACHER_EMBEDDING), embedding_dim)
    _LOG.info("The teacher's soft labels of %s are in %s", index.root, root)
    return SoftLabelFiles(root, widths)


def _write_shard_soft_labels(model_path, index, root, with_embedding, embedding_dim,
                             batch_size):
    """Writes one soft-label file per shard of `index` into `root` (a file already
    there is whole: each is renamed into place when complete); returns the widths."""
    import tensorflow as tf  # noqa: PLC0415

    from keras_dmtl.data.shards.streaming import serialize_soft_labels  # noqa: PLC0415
    from keras_dmtl.data.shards.streaming import shard_crops  # noqa: PLC0415
    from keras_dmtl.training.evaluate import predict_arrays  # noqa: PLC0415

    teacher, order = _loaded_teacher(
        model_path, (index.image_size, index.image_size, index.channels), index.expression_names)
    widths = {TEACHER_EXPRESSION: len(order)}
    if with_embedding:
        widths[TEACHER_EMBEDDING] = teacher.architecture["embedding_dim"]
        if embedding_dim is not None:
            _check_embedding(model_path, widths[TEACHER_EMBEDDING], embedding_dim)
    for name, count in zip(index.shard_files, index.shard_examples):
        target = os.path.join(root, name)
        if os.path.exists(target):
            continue
        written = 0
        with atomic_path(target) as temporary, tf.io.TFRecordWriter(temporary) as writer:
            for images in shard_crops(index, name, batch_size).as_numpy_iterator():
                targets = _targets(predict_arrays(teacher, images, batch_size), order,
                                   with_embedding)
                for row in range(len(images)):
                    writer.write(serialize_soft_labels(
                        {key: value[row] for key, value in targets.items()}))
                written += len(images)
            if written != count:
                raise DataError(f"The shard {name} in {index.root} holds {written} examples, "
                                f"its index {count}: write the shards again.")
    return widths


def _check_embedding(path, width, embedding_dim):
    """Refuses a teacher embedding of another size than the student's."""
    if width is not None and width != embedding_dim:
        raise DataError(
            f"{FLAG}={path}: its embedding has {width} dimensions, the student's "
            f"{embedding_dim}: set --config.embedding_dim={width}, or "
            "--config.teacher.embedding_weight=0 to distil the expression only.")


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
    if TEACHER_EMBEDDING in targets:
        _check_embedding(settings.model, targets[TEACHER_EMBEDDING].shape[1],
                         config.embedding_dim)
    return dataclasses.replace(arrays, extras={**arrays.extras, **targets})


def with_teacher_shards(splits, config):
    """Streamed `splits` (`ShardSplit`s of one set) whose batches carry the
    teacher's soft labels of `config.teacher` (`shard_soft_labels`, under
    `config.cache_dir` when set).

    Raises:
        DataError: as `shard_soft_labels`, or a teacher embedding of another size
            than `config.embedding_dim`.
    """
    settings = config.teacher
    files = shard_soft_labels(settings.model, splits[0].index, config.cache_dir or None,
                              with_embedding=settings.embedding_weight > 0,
                              embedding_dim=config.embedding_dim)
    return [dataclasses.replace(split, soft_labels=files) for split in splits]


def with_embedding_teacher(records, config):
    """`records` with the external teacher's embedding of each source photo (the
    teacher `config.teacher.embeddings`, cached under `config.cache_dir`) in
    `extras[TEACHER_EMBEDDING]`: unit vectors, rows of 0 where it found no face.

    Raises:
        DataError: a teacher embedding of another size than `config.embedding_dim`,
            or a cache folder that cannot be written.
        ImportError: the teacher's library is not installed (the message says how).
    """
    from keras_dmtl.teachers import cache  # noqa: PLC0415 (the teacher's own libraries)
    from keras_dmtl.teachers import registry  # noqa: PLC0415

    name = config.teacher.embeddings
    width = registry.lookup(name).embedding_dim
    if width != config.embedding_dim:
        raise DataError(f"--config.teacher.embeddings={name} gives {width}-d embeddings, the "
                        f"student's are {config.embedding_dim}-d: set "
                        f"--config.embedding_dim={width}.")
    found = cache.teacher_embeddings(records.sources, name, config.cache_dir,
                                     workers=config.teacher.workers,
                                     progress=config.verbose == 1)
    return dataclasses.replace(records, extras={**records.extras,
                                                TEACHER_EMBEDDING: found.vectors})


def centered_embedding_targets(arrays):
    """`arrays` with the teacher embeddings centred: the mean of every target is
    taken off each, and each is made a unit vector again (rows of 0, no target,
    stay 0).

    A face-recognition network's embeddings share a large common component: in
    dlib's, two strangers' unit vectors lie at a median cosine of 0.84, the same
    person's at 0.95 (LFW), so the cosine target asks the student to resolve a few
    degrees; centred, -0.01 and 0.69.
    Centred, strangers spread over the sphere and the targets separate people by
    far wider angles.

    Args:
        arrays: `FaceArrays` whose `extras[TEACHER_EMBEDDING]` holds the targets.

    Returns:
        `FaceArrays` with the centred targets.
    """
    vectors = np.asarray(arrays.extras[TEACHER_EMBEDDING], np.float64)
    has_target = np.any(vectors != 0, axis=1)
    if not has_target.any():
        return arrays
    centred = vectors - vectors[has_target].mean(axis=0)
    centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
    centred[~has_target] = 0.0
    return dataclasses.replace(arrays, extras={**arrays.extras,
                                               TEACHER_EMBEDDING: centred.astype(np.float32)})


def distillation_settings(config):
    """The model's `distillation` argument for `config`, or None without a teacher."""
    if not (config.teacher.model or config.teacher.embeddings):
        return None
    return {"temperature": float(config.teacher.temperature), "mix": float(config.teacher.mix),
            "embedding_weight": float(config.teacher.embedding_weight),
            "embedding_loss": config.teacher.embedding_loss,
            "embedding_task": bool(config.teacher.embeddings and config.teacher.embedding_task)}
