"""Scores a trained model on a split: expression, identity and verification metrics."""

import weakref

import numpy as np
import tensorflow as tf

from keras_dmtl.data.shards.streaming import ShardSplit
from keras_dmtl.data.shards.streaming import make_shard_dataset
from keras_dmtl.evaluation.action_units import align_action_units
from keras_dmtl.evaluation.action_units import evaluate_action_units
from keras_dmtl.evaluation.expression import evaluate_expression
from keras_dmtl.evaluation.verification import evaluate_verification
from keras_dmtl.evaluation.verification import verification_across_expressions
from keras_dmtl.evaluation.verification import verification_all_pairs

# Verification scores every pair of its images: larger splits are scored on a
# seeded sample of this many (`verification_sample`).
MAX_VERIFICATION_IMAGES = 4000


def predict_arrays(model, images, batch_size=64):
    """Runs the network in inference mode over `images`.

    Returns:
        dict of numpy arrays: "embedding", "identity_logits", "expression_logits",
        "task_weights".
    """
    outputs = model.predict(images.astype("float32"), batch_size=batch_size, verbose=0)
    return {name: np.asarray(value) for name, value in outputs.items()}


def verification_sample(count, seed=0):
    """The positions of a split whose embeddings verification scores.

    Verification scores every pair of its images (memory grows as N^2), so a
    split of more than `MAX_VERIFICATION_IMAGES` is scored on a seeded random
    sample of that many; a smaller split is scored whole.

    Returns:
        Sorted int64 positions.
    """
    if count <= MAX_VERIFICATION_IMAGES:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, MAX_VERIFICATION_IMAGES,
                                                      replace=False))


def _array_batches(arrays, verification_subjects, batch_size, action_unit_names):
    action_units = align_action_units(arrays.action_units, arrays.action_unit_names,
                                      action_unit_names)
    for start in range(0, len(arrays), batch_size):
        rows = slice(start, start + batch_size)
        yield (arrays.images[rows], arrays.expression[rows], arrays.identity[rows],
               np.asarray(verification_subjects)[rows], action_units[rows])


def _shard_batches(split, batch_size, action_unit_names):
    names = np.asarray(split.index.subjects)
    with_units = bool(action_unit_names and split.action_unit_names)
    batches = make_shard_dataset(split, batch_size, with_subjects=True,
                                 action_units=with_units)
    for images, labels, subjects, has_identity in batches.as_numpy_iterator():
        action_units = (align_action_units(labels["action_units"], split.action_unit_names,
                                           action_unit_names) if with_units else
                        np.full((len(images), len(action_unit_names)), -1, np.int8))
        yield (images, labels["expression"], labels["identity"],
               np.where(has_identity, names[subjects], ""), action_units)


# One compiled forward pass per model, kept while the model lives: evaluation runs
# every epoch (the comparison's best-epoch selection), and tracing anew each time
# would cost more than the evaluation.
_INFERENCE_FUNCTIONS = weakref.WeakKeyDictionary()


def _inference_function(model):
    """`model(images, training=False)` compiled, for this model.

    A plain forward pass, not `predict_on_batch`: under a multi-worker strategy
    that one distributes the batch and gathers every worker's copy of it. Each
    worker scores the whole split on its own (only the chief writes).
    """
    if model not in _INFERENCE_FUNCTIONS:
        # A weak reference: the cached function must not keep its model alive.
        reference = weakref.ref(model)
        _INFERENCE_FUNCTIONS[model] = tf.function(
            lambda batch: reference()(batch, training=False), reduce_retracing=True)
    return _INFERENCE_FUNCTIONS[model]


def evaluate_split(model, arrays, verification_subjects, batch_size=64, seed=0):
    """Evaluates `model` on one split, batch by batch.

    Only predicted classes and the embeddings of `verification_sample` are kept,
    so memory does not grow with the images (nor with the identity classes).

    Args:
        model: a `DynamicMultiTaskModel`.
        arrays: the split's `FaceArrays` (identity labels index the model's
            classifier, -1 where the identity was not trained on), or a streamed
            `ShardSplit`.
        verification_subjects: (N,) subject key per sample for verification
            pairs, or "" for samples that carry no identity; None for a
            `ShardSplit`, which reads them from the shards.
        batch_size: inference batch size.
        seed: seeds the verification sample and the impostor pairs.

    Returns:
        A JSON-serialisable dict of metrics; with an AU head, "action_units"
        (per-AU F1 and their mean, `evaluation.action_units`) where the split
        annotates AUs.
    """
    if len(arrays) == 0:
        return {"samples": 0}
    unit_names = model.action_unit_names
    if isinstance(arrays, ShardSplit):
        batches = _shard_batches(arrays, batch_size, unit_names)
    else:
        batches = _array_batches(arrays, verification_subjects, batch_size, unit_names)
    sample = verification_sample(len(arrays), seed)
    predicted = {"expression": [], "identity": []}
    truth = {"expression": [], "identity": []}
    embeddings, subjects, expressions = [], [], []
    unit_truth, unit_probabilities = [], []
    weights, seen = 0.0, 0
    forward = _inference_function(model)
    for images, expression, identity, batch_subjects, action_units in batches:
        outputs = forward(tf.constant(np.asarray(images, np.float32)))
        if unit_names:
            unit_truth.append(action_units)
            unit_probabilities.append(tf.sigmoid(outputs["action_unit_logits"]).numpy())
        predicted["expression"].append(np.asarray(outputs["expression_logits"]).argmax(axis=1))
        predicted["identity"].append(np.asarray(outputs["identity_logits"]).argmax(axis=1))
        truth["expression"].append(np.asarray(expression))
        truth["identity"].append(np.asarray(identity))
        chosen = sample[(sample >= seen) & (sample < seen + len(images))] - seen
        embeddings.append(np.asarray(outputs["embedding"])[chosen])
        subjects.append(batch_subjects[chosen])
        expressions.append(np.asarray(expression)[chosen])
        weights = weights + np.asarray(outputs["task_weights"]).sum(axis=0)
        seen += len(images)
    predicted = {name: np.concatenate(values) for name, values in predicted.items()}
    truth = {name: np.concatenate(values) for name, values in truth.items()}
    metrics = {"samples": int(seen)}
    if (truth["expression"] >= 0).any():
        metrics["expression"] = evaluate_expression(truth["expression"], predicted["expression"],
                                                    arrays.expression_names)
    if unit_names and (np.concatenate(unit_truth) >= 0).any():
        metrics["action_units"] = evaluate_action_units(
            np.concatenate(unit_truth), np.concatenate(unit_probabilities), unit_names)
    identity_labelled = truth["identity"] >= 0
    if identity_labelled.any():
        metrics["identity_accuracy"] = float(np.mean(
            predicted["identity"][identity_labelled] == truth["identity"][identity_labelled]))
    embeddings, subjects = np.concatenate(embeddings), np.concatenate(subjects)
    expressions = np.concatenate(expressions)
    metrics.update(_verification(embeddings, subjects, expressions, seed))
    if len(sample) < seen:
        metrics["verification_images"] = int(len(sample))
    metrics["task_weights_mean"] = [float(w) for w in np.atleast_1d(weights) / max(seen, 1)]
    return metrics


def _verification(embeddings, subjects, expressions, seed):
    """The verification metrics of samples with an identity ("" marks those without)."""
    with_identity = subjects != ""
    _, per_subject = np.unique(subjects[with_identity], return_counts=True)
    if len(per_subject) < 2 or (per_subject >= 2).sum() < 2:
        return {}
    embeddings, subjects = embeddings[with_identity], subjects[with_identity]
    return {
        "verification": evaluate_verification(embeddings, subjects, seed=seed),
        "verification_all_pairs": verification_all_pairs(embeddings, subjects),
        "verification_across_expressions": verification_across_expressions(
            embeddings, subjects, expressions[with_identity]),
    }


def evaluate_lfw_pairs(model, pairs, image_size, channels, detector="none", cache_dir=None,
                       folds=10, batch_size=64):
    """The LFW protocol on a pair list (e.g. from `readers.read_lfw_pairs`).

    Pairs stay in file order, so the 10 folds are pairs.txt's own folds.

    Args:
        model: a `DynamicMultiTaskModel`.
        pairs: list of (path_a, path_b, is_same).
        image_size, channels, detector, cache_dir: as for training (`load_faces`).
        folds: folds of the file (the first number of pairs.txt's header).
        batch_size: inference batch size.

    Returns:
        The dict of `verification.evaluate_pairs`.
    """
    from keras_dmtl.data.faces.loading import load_faces
    from keras_dmtl.data.records import FaceRecords
    from keras_dmtl.evaluation.verification import cosine_scores
    from keras_dmtl.evaluation.verification import evaluate_pairs

    paths = sorted({path for a, b, _ in pairs for path in (a, b)})
    records = FaceRecords(paths, [-1] * len(paths), [-1] * len(paths), paths, [], [], "lfw_pairs")
    faces = load_faces(records, image_size, channels, detector=detector, cache_dir=cache_dir)
    embeddings = predict_arrays(model, faces.images, batch_size)["embedding"]
    row = {path: index for index, path in enumerate(paths)}
    first = embeddings[[row[a] for a, _, _ in pairs]]
    second = embeddings[[row[b] for _, b, _ in pairs]]
    return evaluate_pairs(cosine_scores(first, second), np.array([s for _, _, s in pairs]),
                          folds=folds)
