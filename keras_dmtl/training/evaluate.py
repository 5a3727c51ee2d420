"""Scores a trained model on a split: expression, identity and verification metrics."""

import numpy as np

from keras_dmtl.evaluation.expression import evaluate_expression
from keras_dmtl.evaluation.verification import evaluate_verification
from keras_dmtl.evaluation.verification import verification_across_expressions
from keras_dmtl.evaluation.verification import verification_all_pairs


def predict_arrays(model, images, batch_size=64):
    """Runs the network in inference mode over `images`.

    Returns:
        dict of numpy arrays: "embedding", "identity_logits", "expression_logits",
        "task_weights".
    """
    outputs = model.predict(images.astype("float32"), batch_size=batch_size, verbose=0)
    return {name: np.asarray(value) for name, value in outputs.items()}


def evaluate_split(model, arrays, verification_subjects, batch_size=64, seed=0):
    """Evaluates `model` on one split.

    Args:
        model: a `DynamicMultiTaskModel`.
        arrays: the split's `FaceArrays` (identity labels index the model's
            classifier, -1 where the identity was not trained on).
        verification_subjects: (N,) subject key per sample for verification
            pairs, or "" for samples that carry no identity.
        batch_size: inference batch size.
        seed: seeds the impostor pairs.

    Returns:
        A JSON-serialisable dict of metrics.
    """
    outputs = predict_arrays(model, arrays.images, batch_size)
    metrics = {"samples": int(len(arrays))}
    expression_labelled = arrays.expression >= 0
    if expression_labelled.any():
        predicted = outputs["expression_logits"].argmax(axis=1)
        metrics["expression"] = evaluate_expression(
            arrays.expression, predicted, arrays.expression_names
        )
    identity_labelled = arrays.identity >= 0
    if identity_labelled.any():
        predicted = outputs["identity_logits"].argmax(axis=1)
        metrics["identity_accuracy"] = float(
            np.mean(predicted[identity_labelled] == arrays.identity[identity_labelled])
        )
    with_identity = verification_subjects != ""
    _, per_subject = np.unique(verification_subjects[with_identity], return_counts=True)
    if len(per_subject) >= 2 and (per_subject >= 2).sum() >= 2:
        metrics["verification"] = evaluate_verification(
            outputs["embedding"][with_identity],
            verification_subjects[with_identity],
            seed=seed,
        )
        metrics["verification_all_pairs"] = verification_all_pairs(
            outputs["embedding"][with_identity], verification_subjects[with_identity])
        metrics["verification_across_expressions"] = verification_across_expressions(
            outputs["embedding"][with_identity], verification_subjects[with_identity],
            arrays.expression[with_identity])
    metrics["task_weights_mean"] = [float(w) for w in outputs["task_weights"].mean(axis=0)]
    return metrics


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
    from keras_dmtl.data.loading import load_faces
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
