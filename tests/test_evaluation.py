"""Verification and expression metrics against values computed by hand."""

import numpy as np
import pytest

from keras_dmtl.evaluation import expression
from keras_dmtl.evaluation import verification
from keras_dmtl.evaluation.plots import plot_series

GENUINE = [0.9, 0.8, 0.6, 0.4]
IMPOSTOR = [0.7, 0.5, 0.3, 0.2, 0.1]
SCORES = np.array(GENUINE + IMPOSTOR)
IS_SAME = np.array([True] * 4 + [False] * 5)


def test_auc_counts_genuine_above_impostor():
    # Impostors below each genuine score: 5, 5, 4, 3 of 5 -> 17 / 20.
    assert verification.roc_auc(SCORES, IS_SAME) == pytest.approx(17 / 20)


def test_equal_error_rate():
    # FAR goes 0.2 -> 0.4 between thresholds 0.6 and 0.5 while FRR stays 0.25.
    assert verification.equal_error_rate(SCORES, IS_SAME) == pytest.approx(0.25)


def test_threshold_and_tar_at_far():
    threshold, tar = verification.threshold_at_far(SCORES, IS_SAME, 0.2)
    # One impostor of five (0.7) may pass: the threshold sits just above 0.5.
    assert 0.5 < threshold <= 0.6
    assert tar == pytest.approx(3 / 4)
    # A FAR of 0.1 needs at least ten impostor pairs.
    assert verification.threshold_at_far(SCORES, IS_SAME, 0.1) is None
    metrics = verification.evaluate_pairs(SCORES, IS_SAME, folds=3, fars=(0.1,))
    assert metrics["tar@far=0.1"] == verification.NOT_ENOUGH_PAIRS


def test_ten_fold_protocol_by_hand():
    scores = np.array([0.9, 0.2, 0.8, 0.3, 0.6, 0.7, 0.4, 0.1])
    is_same = np.array([True, False, True, False, True, False, True, False])
    mean, std, thresholds = verification.ten_fold_accuracy(scores, is_same, folds=2)
    # Fold 0 held out: best threshold on fold 1 is 0.25 -> 3/4 on fold 0.
    # Fold 1 held out: best threshold on fold 0 is 0.55 -> 2/4 on fold 1.
    assert thresholds == pytest.approx([0.25, 0.55])
    assert mean == pytest.approx(0.625)
    assert std == pytest.approx(0.125)


def test_make_pairs_balanced_and_seeded():
    subjects = np.array(["a", "a", "a", "b", "b", "c"])
    a, b, same = verification.make_pairs(subjects, seed=1)
    assert same.sum() == 4 and (~same).sum() == 4
    assert np.all(subjects[a[same]] == subjects[b[same]])
    assert np.all(subjects[a[~same]] != subjects[b[~same]])
    again = verification.make_pairs(subjects, seed=1)
    for x, y in zip((a, b, same), again):
        np.testing.assert_array_equal(x, y)


def test_evaluate_verification_separable_embeddings():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 16))
    subjects = np.repeat(np.arange(6), 5)
    embeddings = centers[subjects] + 0.05 * rng.normal(size=(30, 16))
    metrics = verification.evaluate_verification(embeddings, subjects.astype(str))
    assert metrics["auc"] > 0.99 and metrics["accuracy"] > 0.95
    assert metrics["tar@far=0.0001"] == verification.NOT_ENOUGH_PAIRS


def test_expression_metrics_by_hand(tmp_path):
    y_true = np.array([0, 0, 1, 2, -1])
    y_pred = np.array([0, 1, 1, 1, 2])
    metrics = expression.evaluate_expression(y_true, y_pred, ["a", "b", "c"])
    assert metrics["labelled"] == 4
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    # F1 per class: 2/3, 1/2, 0.
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    matrix = np.array(metrics["confusion_matrix"])
    expression.write_confusion_csv(tmp_path / "cm.csv", matrix, ["a", "b", "c"])
    expression.write_confusion_png(tmp_path / "cm.png", matrix, ["a", "b", "c"])
    plot_series(tmp_path / "w.png", {"w_face": [0.5, 0.6]}, "t", "step", "w")
    assert (tmp_path / "cm.csv").read_text().splitlines()[1] == "a,1,1,0"
    for name in ("cm.png", "w.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".tmp-*"))


def test_verification_across_expressions_by_hand():
    # Two people, each neutral twice and smiling once. Embeddings on the unit
    # circle: a person's smile is turned away from their neutral face.
    angle = np.array([0.0, 0.05, 0.9, 2.0, 2.05, 2.1])
    embeddings = np.column_stack([np.cos(angle), np.sin(angle)])
    subjects = np.array(["a", "a", "a", "b", "b", "b"])
    expressions = np.array([0, 0, 1, 0, 0, 1])
    result = verification.verification_across_expressions(embeddings, subjects, expressions,
                                                          far=0.1)
    # 9 impostor pairs: FAR 0.1 allows none, so the threshold sits just above the
    # highest impostor cosine, cos(2.0 - 0.9) = cos(1.1).
    assert result["threshold"] == pytest.approx(np.cos(1.1)) and result["far"] == 0.0
    # Every genuine pair is closer than 1.1 rad: all accepted in both groups.
    assert result["same_expression"] == {"pairs": 2, "tar": 1.0}
    assert result["different_expression"] == {"pairs": 4, "tar": 1.0}
    # a's smile turned further (1.5 rad): it is now 0.5 rad from b's neutral face,
    # the closest impostor, and 1.45-1.5 rad from a's own neutral faces: rejected.
    angle[2] = 1.5
    embeddings = np.column_stack([np.cos(angle), np.sin(angle)])
    result = verification.verification_across_expressions(embeddings, subjects, expressions,
                                                          far=0.1)
    assert result["threshold"] == pytest.approx(np.cos(0.5))
    assert result["same_expression"]["tar"] == 1.0
    assert result["different_expression"] == {"pairs": 4, "tar": 0.5}


def test_verification_all_pairs_by_hand():
    # Two people, two images each, on the unit circle: 2 genuine, 4 impostor pairs.
    angle = np.array([0.0, 0.2, 1.0, 1.1])
    embeddings = np.column_stack([np.cos(angle), np.sin(angle)])
    result = verification.verification_all_pairs(embeddings, np.array(["a", "a", "b", "b"]),
                                                 fars=(0.25, 1e-3))
    assert (result["genuine_pairs"], result["impostor_pairs"]) == (2, 4)
    assert result["genuine_similarity_median"] == pytest.approx(np.median(np.cos([0.2, 0.1])))
    assert result["impostor_similarity_median"] == pytest.approx(np.median(np.cos(
        [1.0, 1.1, 0.8, 0.9])))
    # FAR 0.25 of 4 impostors allows one (cos 0.8): the threshold sits above cos 0.9,
    # and both genuine pairs (cos 0.2, cos 0.1) pass.
    assert result["tar@far=0.25"] == 1.0
    assert result["tar@far=0.001"] == verification.NOT_ENOUGH_PAIRS
