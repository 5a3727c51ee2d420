"""What an enrollment must show, and what it binds a template to: pure logic, no model.

- **One person.** At least `MIN_ENROLL_IMAGES` images, each with a face, and every
  pair of them at least as similar as an unlock must be: the enrollment floor is
  the threshold in force at enrollment. The threshold is the export's calibrated
  answer to "is this pair one person?"; an enrollment mixing two people then
  passes only when each of their cross pairs is already a false accept at that
  threshold, i.e. when the second person could already unlock as the first.
- **The export.** The signed store entry records the model's sha256, the threshold
  in force and the expression labels. `verify` refuses an export whose model or
  labels differ, or whose threshold (or an explicit `--threshold`) is looser than
  the enrolled one: whoever can write the export folder cannot loosen the decision.

The Android app's JVM core (`android_demo/unlock-core`, `Enrollment.java`) applies the
same rules; the golden vectors hold the two to each other.
"""

import math

import numpy as np

from keras_dmtl.edge.templates import average_template

MIN_ENROLL_IMAGES = 3
# Kinds of `export_mismatch`, in the order they are checked.
UNRECORDED, MODEL, THRESHOLD, LABELS = "unrecorded", "model", "threshold", "labels"


class EnrollmentError(ValueError):
    """An enrollment the rules refuse (too few images, two people, locked out, enrolled)."""


def pair_similarities(embeddings):
    """Cosine similarity of every pair of embeddings (normalised here), as a matrix."""
    embeddings = np.asarray(embeddings, np.float64)
    units = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return units @ units.T


def weakest_pair(embeddings):
    """The least similar pair of embeddings (the first such pair on ties).

    Returns:
        (i, j, similarity) with i < j.
    """
    similarities = pair_similarities(embeddings)
    pairs = [(i, j) for i in range(len(similarities)) for j in range(i + 1, len(similarities))]
    i, j = min(pairs, key=lambda pair: similarities[pair])
    return i, j, float(similarities[i, j])


def check_image_count(count):
    """Refuses an enrollment from fewer than `MIN_ENROLL_IMAGES` images.

    Raises:
        EnrollmentError: saying the minimum.
    """
    if count < MIN_ENROLL_IMAGES:
        raise EnrollmentError(f"enroll needs at least {MIN_ENROLL_IMAGES} images of the user's "
                              f"face, got {count}.")


def check_one_person(embeddings, names, floor):
    """Refuses an enrollment that may not show one person.

    Args:
        embeddings: one per enrollment image, each of a face.
        names: what to call each image in the error (paths, "image 2", ...).
        floor: the lowest similarity allowed between any two of them (the
            threshold in force).

    Raises:
        EnrollmentError: fewer than `MIN_ENROLL_IMAGES` images, or a pair below
            `floor`, naming the least similar pair.
    """
    check_image_count(len(embeddings))
    i, j, similarity = weakest_pair(embeddings)
    if similarity < floor:
        raise EnrollmentError(
            f"{names[i]} and {names[j]} score {similarity:.3f} against each other, below the "
            f"enrollment floor {floor:.3f} (the threshold in force): they may not show one "
            "person. Enroll from images of the user only, taken alike (replace one of the two).")


def new_entry(embeddings, names, model_sha256, threshold, threshold_backed, labels):
    """The store entry of a user enrolled from `embeddings`, after `check_one_person`.

    Args:
        embeddings: one per enrollment image, each of a face.
        names: what to call each image in an error.
        model_sha256: the model file's sha256 (checked against the file at load).
        threshold: the threshold in force (the manifest's or the operator's): the
            enrollment floor, and the loosest threshold verify will take.
        threshold_backed: whether that threshold meets the export's target FAR.
        labels: the expression labels, in the model's order.

    Returns:
        dict: template (the average, normalised), images, and the enrolled export:
        model_sha256, threshold, threshold_backed, expression_labels.

    Raises:
        EnrollmentError: see `check_one_person`.
    """
    check_one_person(embeddings, names, threshold)
    return {"template": average_template(embeddings).tolist(), "images": len(embeddings),
            "model_sha256": model_sha256, "threshold": float(threshold),
            "threshold_backed": bool(threshold_backed), "expression_labels": list(labels)}


def export_mismatch(entry, model_sha256, threshold, labels):
    """What keeps a user's template from being used with this export, or None.

    Args:
        entry: the user's store entry.
        model_sha256, threshold, labels: the export's, and the threshold in force.

    Returns:
        None, or `UNRECORDED` (enrolled before the store recorded the export),
        `MODEL` (another model), `THRESHOLD` (looser than enrolled) or `LABELS`.
    """
    if not all(key in entry for key in ("threshold", "threshold_backed", "expression_labels")):
        return UNRECORDED
    if entry["model_sha256"] != model_sha256:
        return MODEL
    if not (math.isfinite(threshold) and threshold >= entry["threshold"]):
        return THRESHOLD
    if list(labels) != entry["expression_labels"]:
        return LABELS
    return None
