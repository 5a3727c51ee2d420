"""Thresholds that say how sure they are: the Clopper-Pearson FAR bound and its use."""

import logging

import numpy as np
import pytest
from scipy import stats

from keras_dmtl.export.calibration import calibrate
from keras_dmtl.export.calibration import far_upper_bound
from keras_dmtl.export.calibration import pairs_needed


def test_far_upper_bound_matches_known_binomial_cases():
    # No accepted impostor among N: the bound solves (1 - p)^N = 0.05, about 3 / N.
    assert far_upper_bound(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-9)
    assert far_upper_bound(0, 3000) == pytest.approx(3 / 3000, rel=0.01)
    # k of N: the 95 % quantile of Beta(k + 1, N - k).
    assert far_upper_bound(5, 1000) == pytest.approx(stats.beta.ppf(0.95, 6, 995), rel=1e-6)
    assert far_upper_bound(10, 10) == 1.0 and far_upper_bound(0, 0) == 1.0
    assert pairs_needed(1e-3) == 2995  # the "3 / N" rule of three
    assert far_upper_bound(0, pairs_needed(2e-5)) <= 2e-5 < far_upper_bound(0, 149000)


def _pairs(genuine, impostor, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(0.8, 0.05, genuine), rng.normal(0.2, 0.1, impostor)])
    return scores, np.arange(genuine + impostor) < genuine


def test_enough_pairs_give_the_lowest_backed_threshold():
    scores, is_same = _pairs(500, 100_000)
    result = calibrate(scores, is_same, 1e-4, subjects=40)
    assert result["backed"] and result["far_upper_bound"] <= 1e-4
    impostor = np.sort(scores[~is_same])[::-1]
    accepted = int(np.sum(impostor >= result["threshold"]))
    assert accepted / len(impostor) == result["far"] and accepted > 0
    # One more accepted impostor (the next lower threshold) would break the bound.
    assert far_upper_bound(accepted + 1, len(impostor)) > 1e-4
    assert result["subjects"] == 40 and result["impostor_pairs"] == 100_000


def test_too_few_pairs_give_the_strictest_threshold_marked_not_backed(caplog):
    scores, is_same = _pairs(200, 1000)
    with caplog.at_level(logging.WARNING):
        result = calibrate(scores, is_same, 2e-5)
    assert not result["backed"]
    assert result["threshold"] > scores[~is_same].max() and result["far"] == 0.0
    assert result["far_upper_bound"] == pytest.approx(far_upper_bound(0, 1000))
    assert "cannot back FAR" in caplog.text and "149786" in caplog.text


def test_an_impostor_at_similarity_one_keeps_the_threshold_a_cosine():
    scores = np.array([0.9, 0.95, 1.0, 0.3])
    result = calibrate(scores, np.array([True, True, False, False]), 1e-3)
    assert result["threshold"] == 1.0 and not result["backed"]


@pytest.mark.parametrize("detector, expected", [(None, "none"), ("haar", "haar")])
def test_calibration_photos_are_found_by_the_calibration_detector(monkeypatch, detector,
                                                                   expected):
    # A model trained on crops is calibrated on photos through a detector, as the
    # unlock runtime sees them; a photo without a face is left out, not fatal.
    from keras_dmtl.data.records import FaceArrays
    from keras_dmtl.export import artifacts
    from keras_dmtl.training.config import make_config

    seen = {}

    def fake_load_faces(records, image_size, channels, **kwargs):
        seen.update(kwargs)
        return FaceArrays(np.zeros((4, image_size, image_size, channels), np.uint8),
                          np.array([0, 0, 1, 1]), np.full(4, -1), np.array(list("aabb")),
                          ["a", "b"], [])

    monkeypatch.setattr(artifacts, "read_dataset", lambda *args, **kwargs: None)
    monkeypatch.setattr(artifacts, "load_faces", fake_load_faces)
    ((source, subjects, images, _),) = artifacts._calibration_sets(
        make_config(), "/photos", detector, None)
    assert seen["detector"] == expected and seen["skip_bad_images"] is True
    assert subjects.tolist() == list("aabb") and source == "/photos"
