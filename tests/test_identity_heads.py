"""Identity heads: margin losses against a hand computation, training, export parity."""

import math

import keras
import numpy as np
import pytest

from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.losses import masked_sparse_cross_entropy
from keras_dmtl.models import identity_heads
from tests.core_helpers import make_batch
from tests.core_helpers import make_model

EMBEDDING = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, -2.0]], "float32")
KERNEL = np.array([[1.0, 0.0, -1.0], [0.0, 3.0, 1.0]], "float32")  # columns: class weights
LABELS = np.array([0, 2, -1])


def _cosines():
    x = EMBEDDING / np.linalg.norm(EMBEDDING, axis=1, keepdims=True)
    w = KERNEL / np.linalg.norm(KERNEL, axis=0, keepdims=True)
    return np.clip(x @ w, -1, 1)


def _head(name, **kwargs):
    head = identity_heads.get(name, 3, **kwargs)
    head.build((None, 2))
    head.kernel.assign(KERNEL)
    return head


def _cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    known = labels >= 0
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.mean(log_softmax[known, labels[known]])


def test_cosface_subtracts_the_margin_from_the_true_cosine():
    head = _head("cosface", scale=10.0, margin=0.35)
    cosine = _cosines()
    expected = 10.0 * cosine
    expected[0, 0] -= 10.0 * 0.35
    expected[1, 2] -= 10.0 * 0.35  # the sample without a label (-1) keeps its logits
    logits = head.training_logits(head(EMBEDDING), LABELS)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    loss = masked_sparse_cross_entropy(LABELS, logits)
    assert float(loss) == pytest.approx(_cross_entropy(expected, LABELS), rel=1e-5)


def test_arcface_adds_the_margin_to_the_true_angle():
    head = _head("arcface", scale=10.0, margin=0.5)
    cosine = _cosines()
    expected = 10.0 * cosine
    # Sample 0: theta = 0 -> cos(0 + 0.5). Sample 1 vs class 2: theta = acos(0.2 / sqrt 2) ~ 1.43
    # < pi - 0.5, so cos(theta + 0.5) as well.
    for row, label in ((0, 0), (1, 2)):
        expected[row, label] = 10.0 * math.cos(math.acos(cosine[row, label]) + 0.5)
    logits = head.training_logits(head(EMBEDDING), LABELS)
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert float(masked_sparse_cross_entropy(LABELS, logits)) == pytest.approx(
        _cross_entropy(expected, LABELS), rel=1e-4)
    # Past theta = pi - m the target falls back to cos(theta) - m sin(m) (monotone).
    opposite = head.training_logits(head(np.array([[-1.0, 0.0]], "float32")), np.array([0]))
    assert float(opposite[0, 0]) == pytest.approx(10.0 * (-1.0 - 0.5 * math.sin(0.5)), abs=1e-4)


def test_softmax_head_is_a_dense_layer_without_margin():
    head = _head("softmax")
    logits = head(EMBEDDING)
    np.testing.assert_allclose(logits, EMBEDDING @ KERNEL, atol=1e-6)
    np.testing.assert_array_equal(head.training_logits(logits, LABELS), logits)


@pytest.mark.parametrize("name", identity_heads.available())
def test_each_head_trains_reloads_and_leaves_the_exported_embedding_alone(name, tmp_path):
    model = make_model("dynamic", identity_head=name)
    images, labels = make_batch()
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert np.isfinite(list(logs.values())).all()
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored.identity_head) is type(model.identity_head)
    for key, value in model(images).items():
        np.testing.assert_array_equal(value, restored(images)[key], err_msg=key)
    # The head is training-only: the exported graph carries the same embedding.
    exported = build_inference_model(restored)(images)
    assert "identity_logits" not in exported
    np.testing.assert_allclose(exported["embedding"],
                               keras.ops.normalize(model(images)["embedding"]), atol=1e-5)


def test_an_unknown_head_names_the_setting():
    with pytest.raises(ValueError, match="--config.identity_head.name"):
        identity_heads.get("sphereface", 3)
