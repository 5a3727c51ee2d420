"""The expression loss options: soft macro-F1 and label smoothing, by hand."""

import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.losses import masked_soft_macro_f1_loss
from keras_dmtl.losses import masked_sparse_cross_entropy
from keras_dmtl.training import config as config_lib
from tests.core_helpers import make_batch
from tests.core_helpers import make_model
from tests.core_helpers import saved_and_reloaded


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_soft_macro_f1_matches_a_hand_computation():
    labels = np.array([0, 0, 1, 2, -1])
    logits = np.array([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 3.0, -1.0],
                       [1.0, 0.0, 0.2], [5.0, -5.0, 0.0]])
    probabilities = _softmax(logits)[:4]  # the unlabelled row does not count
    one_hot = np.eye(3)[labels[:4]]
    true_positive = (probabilities * one_hot).sum(0)
    false_positive = (probabilities * (1 - one_hot)).sum(0)
    false_negative = ((1 - probabilities) * one_hot).sum(0)
    f1 = 2 * true_positive / (2 * true_positive + false_positive + false_negative)
    expected = 1 - f1.mean()
    assert float(masked_soft_macro_f1_loss(labels, logits)) == pytest.approx(expected, rel=1e-5)


def test_soft_macro_f1_leaves_out_classes_absent_from_the_batch():
    # Class 2 has no sample and (almost) no predicted mass: it must not count as F1 = 0.
    labels = np.array([0, 1])
    logits = np.array([[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]])
    assert float(masked_soft_macro_f1_loss(labels, logits)) < 1e-6
    assert float(masked_soft_macro_f1_loss(np.array([-1, -1]), logits)) == 0.0


def test_soft_macro_f1_rewards_a_rare_class_more_than_cross_entropy_does():
    # Nine samples of class 0, one of class 1. Getting the rare one right halves the
    # soft F1 loss, while it moves the mean cross-entropy by a tenth as much.
    labels = np.array([0] * 9 + [1])
    right = np.array([[4.0, 0.0]] * 9 + [[0.0, 4.0]])
    wrong = np.array([[4.0, 0.0]] * 10)
    f1_gain = float(masked_soft_macro_f1_loss(labels, wrong) - masked_soft_macro_f1_loss(labels, right))
    ce_gain = float(masked_sparse_cross_entropy(labels, wrong) - masked_sparse_cross_entropy(labels, right))
    assert f1_gain > 0.4
    assert f1_gain > ce_gain


def test_label_smoothing_matches_a_hand_computation():
    labels = np.array([1, -1, 0])
    logits = np.array([[0.2, 1.5, -0.3], [9.0, 9.0, 9.0], [2.0, 0.0, 1.0]])
    smoothing = 0.1
    targets = np.eye(3)[[1, 0]] * (1 - smoothing) + smoothing / 3
    log_probabilities = np.log(_softmax(logits[[0, 2]]))
    expected = -(targets * log_probabilities).sum(1).mean()
    loss = masked_sparse_cross_entropy(labels, logits, label_smoothing=smoothing)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_model_adds_the_soft_f1_term_and_keeps_it_through_saving(tmp_path):
    plain = make_model("static")
    with_f1 = make_model("static", expression_f1_weight=0.5, expression_label_smoothing=0.1)
    images, labels = make_batch()
    outputs = plain(images, training=False)
    plain_losses, _ = plain.compute_task_losses(outputs, labels)
    f1_losses, _ = with_f1.compute_task_losses(outputs, labels)
    expected = (masked_sparse_cross_entropy(labels["expression"], outputs["expression_logits"],
                                            label_smoothing=0.1)
                + 0.5 * masked_soft_macro_f1_loss(labels["expression"],
                                                  outputs["expression_logits"]))
    np.testing.assert_allclose(float(f1_losses[1]), float(expected), rtol=1e-5)
    np.testing.assert_allclose(float(f1_losses[0]), float(plain_losses[0]), rtol=1e-6)
    with_f1.train_on_batch(images, labels)
    restored = saved_and_reloaded(with_f1, images, tmp_path)
    assert restored.expression_f1_weight == 0.5
    assert restored.expression_label_smoothing == pytest.approx(0.1)


@pytest.mark.parametrize("key, value", [("expression_loss.macro_f1_weight", -0.1),
                                        ("expression_loss.label_smoothing", 1.0)])
def test_config_refuses_bad_expression_loss_settings(key, value):
    with pytest.raises(ValueError, match=f"--config.{key}"):
        config_lib.make_config(**{key: value})


def test_gradient_of_soft_f1_flows_to_the_logits():
    logits = tf.Variable([[0.3, -0.2, 0.1], [0.0, 0.4, -0.1]])
    with tf.GradientTape() as tape:
        loss = masked_soft_macro_f1_loss(np.array([0, 1]), logits)
    gradient = tape.gradient(loss, logits).numpy()
    # Raising the true class's logit lowers the loss.
    assert gradient[0, 0] < 0 and gradient[1, 1] < 0


def test_crowd_votes_replace_the_one_hot_label_where_a_sample_has_them():
    model = make_model("static")
    images, labels = make_batch(batch_size=4)
    outputs = model(images, training=False)
    logits = outputs["expression_logits"].numpy().astype(np.float64)
    votes = np.zeros((4, logits.shape[1]), np.float32)
    votes[1, :2] = (0.25, 0.75)
    votes[3, -1] = 1.0
    with_votes = dict(labels, expression_votes=votes)
    losses, _ = model.compute_task_losses(outputs, with_votes)
    log_p = np.log(_softmax(logits))
    per_sample = -log_p[np.arange(4), labels["expression"]]
    per_sample[[1, 3]] = -(votes[[1, 3]] * log_p[[1, 3]]).sum(axis=1)
    assert float(losses[1]) == pytest.approx(per_sample.mean(), rel=1e-5)
    plain, _ = model.compute_task_losses(outputs, labels)
    assert float(plain[1]) != pytest.approx(float(losses[1]), rel=1e-3)
