"""Expression metrics over labelled samples (label -1 = absent): accuracy, macro-F1,
confusion matrix, and its CSV/PNG files."""

import csv

import numpy as np

from keras_dmtl.evaluation.plots import save_figure
from keras_dmtl.io_utils import atomic_path


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts[i, j] = samples of true class i predicted as j; -1 labels ignored."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    keep = y_true >= 0
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (y_true[keep], y_pred[keep]), 1)
    return matrix


def macro_f1(matrix):
    """Mean F1 over the classes that occur in the truth or the predictions."""
    true_positive = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + predicted) > 0
    f1 = 2 * true_positive / np.maximum(support + predicted, 1)
    return float(f1[present].mean()) if present.any() else 0.0


def evaluate_expression(y_true, y_pred, class_names):
    """Accuracy, macro-F1 and the confusion matrix, JSON-serialisable."""
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    total = matrix.sum()
    return {
        "labelled": int(total),
        "accuracy": float(np.trace(matrix) / total) if total else 0.0,
        "macro_f1": macro_f1(matrix),
        "class_names": list(class_names),
        "confusion_matrix": matrix.tolist(),
    }


def write_confusion_csv(path, matrix, class_names):
    """Writes the matrix as CSV: header row of predicted names, one row per true class."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["true \\ predicted"] + list(class_names))
        for name, row in zip(class_names, np.asarray(matrix)):
            writer.writerow([name] + [int(v) for v in row])


def write_confusion_png(path, matrix, class_names, title="Expression confusion matrix"):
    """Draws the row-normalised matrix with counts in each cell."""
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1.0 + 0.7 * len(class_names),) * 2)
    axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    for (i, j), count in np.ndenumerate(matrix):
        axis.text(j, i, int(count), ha="center", va="center",
                  color="white" if rates[i, j] > 0.5 else "black")
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    save_figure(figure, path)
