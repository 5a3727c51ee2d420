"""Subject-disjoint splits and folds."""

import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.data.splits import split_by_subject, subject_kfold


def _subjects(n_subjects=20, seed=0):
    # Uneven subjects (1 to 6 samples), interleaved so that no split can be formed
    # by cutting the sample order.
    rng = np.random.default_rng(seed)
    keys = np.repeat([f"s{i:02d}" for i in range(n_subjects)],
                     rng.integers(1, 7, n_subjects))
    return keys[rng.permutation(keys.size)]


@pytest.mark.parametrize("seed", range(5))
def test_split_by_subject_is_disjoint_and_covers_all(seed):
    subjects = _subjects(seed=seed)
    splits = split_by_subject(subjects, (0.6, 0.2, 0.2), seed=seed)
    assert sorted(np.concatenate(splits).tolist()) == list(range(subjects.size))
    members = [set(subjects[idx]) for idx in splits]
    assert all(members)
    assert not members[0] & members[1]
    assert not members[0] & members[2]
    assert not members[1] & members[2]
    assert [len(m) for m in members] == [12, 4, 4]


def test_split_by_subject_is_deterministic_and_seeded():
    subjects = _subjects()
    first = split_by_subject(subjects, seed=3)
    again = split_by_subject(subjects.tolist(), seed=3)
    other = split_by_subject(subjects, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_split_by_subject_gives_each_nonzero_split_a_subject():
    train, val, test = split_by_subject(["a", "b", "c"], (0.9, 0.05, 0.05))
    assert len(train) == len(val) == len(test) == 1
    train, val, test = split_by_subject(["a", "b"], (0.5, 0.0, 0.5))
    assert len(val) == 0 and len(train) == len(test) == 1


def test_split_by_subject_too_few_subjects():
    with pytest.raises(DataError, match="2 subject.*cannot fill the 3 non-empty splits"):
        split_by_subject(["a", "a", "b"], (0.7, 0.15, 0.15))


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_split_by_subject_rejects_bad_fractions(fractions):
    with pytest.raises(DataError, match="summing to 1"):
        split_by_subject(["a", "b", "c"], fractions)


@pytest.mark.parametrize("seed", range(5))
def test_subject_kfold_covers_each_subject_once(seed):
    subjects = _subjects(n_subjects=23, seed=seed)
    folds = subject_kfold(subjects, k=5, seed=seed)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(subjects.size))
    for train, test in folds:
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(subjects.size))
        assert not set(subjects[train]) & set(subjects[test])
    held_out = [set(subjects[test]) for _, test in folds]
    assert sum(len(s) for s in held_out) == 23
    sizes = [len(test) for _, test in folds]
    # Largest-first dealing keeps folds within one subject's size (<= 6) of each other.
    assert max(sizes) - min(sizes) <= 6


def test_subject_kfold_seed_changes_folds():
    subjects = np.array([f"s{i}" for i in range(30)])
    first = [test.tolist() for _, test in subject_kfold(subjects, k=3, seed=0)]
    assert first == [test.tolist() for _, test in subject_kfold(subjects, k=3, seed=0)]
    assert first != [test.tolist() for _, test in subject_kfold(subjects, k=3, seed=1)]


def test_subject_kfold_rejects_more_folds_than_subjects():
    with pytest.raises(DataError, match="--folds=4 is more than the 3 subject"):
        subject_kfold(["a", "b", "c", "c"], k=4)
    with pytest.raises(DataError, match="at least 2 folds"):
        subject_kfold(["a", "b"], k=1)
