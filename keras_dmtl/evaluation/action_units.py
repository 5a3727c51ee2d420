"""Action-unit metrics over annotated entries (label -1 = not annotated): F1 per AU
at a fixed threshold and their mean, the usual AU detection score (BP4D, DISFA)."""

import numpy as np

# An AU counts as predicted present when its probability reaches this.
THRESHOLD = 0.5


def align_action_units(labels, names, wanted):
    """AU labels laid out in another AU order: the columns of `wanted`, -1 where
    `labels` has no column of that name.

    Args:
        labels: int (N, len(names)) 1, 0, -1.
        names: the AU names of `labels`' columns.
        wanted: the AU names to lay out (a model's).

    Returns:
        int8 (N, len(wanted)).
    """
    labels = np.asarray(labels)
    aligned = np.full((len(labels), len(wanted)), -1, np.int8)
    column = {name: j for j, name in enumerate(names)}
    for i, name in enumerate(wanted):
        if name in column:
            aligned[:, i] = labels[:, column[name]]
    return aligned


def evaluate_action_units(labels, probabilities, names, threshold=THRESHOLD):
    """F1 of each AU over the samples that annotate it, and the mean F1.

    An AU with no annotated sample, or one neither present nor predicted on any
    (F1 undefined), gets None and is left out of the mean.

    Args:
        labels: int (N, A): 1 present, 0 absent, -1 not annotated.
        probabilities: float (N, A) predicted probabilities (sigmoid outputs).
        names: the A AU names.
        threshold: the probability from which an AU is predicted present.

    Returns:
        A JSON-serialisable dict: "f1" {name: F1 or None}, "mean_f1" (None when
        no AU has an F1), "annotated" {name: samples}, "threshold".

    Example:

    >>> labels = np.array([[1, 0], [0, -1], [1, 1]])
    >>> probabilities = np.array([[0.9, 0.2], [0.7, 0.9], [0.3, 0.8]])
    >>> scores = evaluate_action_units(labels, probabilities, ["AU1", "AU2"])
    >>> scores["f1"], scores["mean_f1"]
    ({'AU1': 0.5, 'AU2': 1.0}, 0.75)
    """
    labels = np.asarray(labels)
    predicted = np.asarray(probabilities) >= threshold
    annotated = labels >= 0
    present = labels == 1
    true_positive = (present & predicted & annotated).sum(axis=0)
    positives = (present & annotated).sum(axis=0)
    predicted_positives = (predicted & annotated).sum(axis=0)
    denominator = positives + predicted_positives
    f1 = {name: (float(2 * true_positive[i] / denominator[i]) if denominator[i] else None)
          for i, name in enumerate(names)}
    defined = [value for value in f1.values() if value is not None]
    return {
        "f1": f1,
        "mean_f1": float(np.mean(defined)) if defined else None,
        "annotated": {name: int(count) for name, count in zip(names, annotated.sum(axis=0))},
        "threshold": float(threshold),
    }
