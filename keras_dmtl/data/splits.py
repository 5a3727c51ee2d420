"""Subject-disjoint splits: a person's images never sit on both sides of a split.

Both functions shuffle the distinct subject keys, never the samples, and then hand
every sample of a subject to the split its subject went to. Results depend only on
the subject keys and the seed.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from keras_dmtl.data.records import DataError

_SPLIT_NAMES = ("train", "val", "test")


def _shuffled_subjects(subjects: Sequence[str], seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Returns (shuffled distinct subjects, per-sample index into the unshuffled ones)."""
    keys, sample_subject = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)
    if keys.size == 0:
        raise DataError("There are no samples to split: the dataset is empty.")
    # np.unique sorts, so the shuffle sees the same order whatever the sample order.
    order = np.random.default_rng(seed).permutation(keys.size)
    return order, sample_subject.reshape(-1)


def _subject_counts(fractions: Sequence[float], n_subjects: int) -> np.ndarray:
    """Subjects per split: nearest to the fractions, at least one where non-zero."""
    fractions = np.asarray(fractions, dtype=np.float64)
    wanted = fractions * n_subjects
    counts = np.floor(wanted).astype(np.int64)
    # Largest remainders take the subjects that flooring left over.
    for i in np.argsort(-(wanted - counts), kind="stable")[: n_subjects - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((fractions > 0) & (counts == 0)):
        counts[np.argmax(counts)] -= 1
        counts[i] += 1
    return counts


def split_by_subject(
    subjects: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    groups: Optional[Sequence[int]] = None,
    group_names: Optional[Sequence[str]] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits samples into train, validation and test sets by subject.

    The fractions apportion subjects, not samples. Every split with a non-zero
    fraction gets at least one subject. With `groups` (the source of each sample,
    when a run reads several datasets), each group's subjects are split on their
    own, so every source is in every split in its proportion.

    Args:
        subjects: the subject key of each sample (`FaceRecords.subject`).
        fractions: the train, validation and test fractions, non-negative, summing
            to 1; a zero fraction leaves that split empty.
        seed: seeds the shuffle of subjects.
        groups: optional int per sample; subjects are split within each group.
        group_names: names the groups in errors (e.g. `FaceArrays.source_names`).

    Returns:
        (train_idx, val_idx, test_idx): sorted int64 sample indices.
    """
    if groups is not None:
        groups = np.asarray(groups)
        subjects = np.asarray(subjects, dtype=str)
        parts = [[], [], []]
        for group in np.unique(groups):
            members = np.flatnonzero(groups == group)
            try:
                split = split_by_subject(subjects[members], fractions, seed)
            except DataError as error:
                name = group_names[group] if group_names is not None else f"group {group}"
                raise DataError(f"Source {name}: {error}") from None
            for part, indices in zip(parts, split):
                part.append(members[indices])
        return tuple(np.sort(np.concatenate(part)).astype(np.int64) for part in parts)
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise DataError(
            f"Split fractions {fractions} must be three non-negative numbers (train, val, "
            f"test) summing to 1: fix --val_fraction/--test_fraction."
        )
    order, sample_subject = _shuffled_subjects(subjects, seed)
    n_needed = sum(f > 0 for f in fractions)
    if order.size < n_needed:
        used = "/".join(name for name, f in zip(_SPLIT_NAMES, fractions) if f > 0)
        raise DataError(
            f"Too few subjects: {order.size} subject(s) cannot fill the {n_needed} "
            f"non-empty splits ({used}) that fractions {fractions} ask for; use data with "
            f"more subjects, or set --val_fraction/--test_fraction to 0."
        )
    boundaries = np.cumsum(_subject_counts(fractions, order.size))[:-1]
    split_of_subject = np.empty(order.size, dtype=np.int64)
    for split, members in enumerate(np.split(order, boundaries)):
        split_of_subject[members] = split
    sample_split = split_of_subject[sample_subject]
    return tuple(np.flatnonzero(sample_split == split) for split in range(3))


def subject_kfold(
    subjects: Sequence[str], k: int = 10, seed: int = 0, groups: Optional[Sequence[int]] = None
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """K-fold cross-validation folds that never split a subject.

    Each subject lands in exactly one test fold. Subjects are dealt, largest first,
    to the fold with the fewest samples so far, so folds hold similar numbers of
    samples even when subjects do not; the seed breaks ties between equal subjects.
    With `groups` (each sample's source), each group is dealt on its own, so every
    fold holds every source in its proportion.

    Args:
        subjects: the subject key of each sample (`FaceRecords.subject`).
        k: the number of folds, 2 or more and at most the number of subjects.
        seed: seeds the order of subjects of equal size.
        groups: optional int per sample (subjects never span groups).

    Returns:
        k pairs (train_idx, test_idx) of sorted int64 sample indices.
    """
    if k < 2:
        raise DataError(f"--folds={k}: k-fold cross-validation needs at least 2 folds.")
    order, sample_subject = _shuffled_subjects(subjects, seed)
    if k > order.size:
        raise DataError(
            f"--folds={k} is more than the {order.size} subject(s) in the data: every "
            f"fold needs a subject of its own; use at most {order.size} folds."
        )
    sizes = np.bincount(sample_subject, minlength=order.size)
    group_of_subject = np.zeros(order.size, dtype=np.int64)
    if groups is not None:
        group_of_subject[sample_subject] = np.asarray(groups, dtype=np.int64)
    fold_of_subject = np.empty(order.size, dtype=np.int64)
    fold_samples = np.zeros(k, dtype=np.int64)
    for group in np.unique(group_of_subject):
        group_samples = np.zeros(k, dtype=np.int64)
        members = order[group_of_subject[order] == group]
        for subject in members[np.argsort(-sizes[members], kind="stable")]:
            # Fewest of this group first; among those, fewest in all.
            fold = int(np.lexsort((fold_samples, group_samples))[0])
            fold_of_subject[subject] = fold
            group_samples[fold] += sizes[subject]
            fold_samples[fold] += sizes[subject]
    sample_fold = fold_of_subject[sample_subject]
    return [
        (np.flatnonzero(sample_fold != fold), np.flatnonzero(sample_fold == fold))
        for fold in range(k)
    ]
