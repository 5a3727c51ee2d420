"""The expression-AU coupling losses against hand computations in numpy: values,
masking, empty batches, gradient routing and XLA."""

import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.losses import distribution_matching as dm
from keras_dmtl.losses.masked import masked_multilabel_cross_entropy

# Expressions happy, sadness, surprise, neutral over AU1, AU6, AU12, AU15.
RELATEDNESS = np.array([
    [0.0, 0.5, 1.0, 0.0],
    [0.6, 0.0, 0.0, 1.0],
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0],
], np.float32)
EXPRESSION_LOGITS = np.array([
    [2.0, 0.0, -1.0, 0.5],
    [-1.0, 1.5, 0.0, 0.0],
    [0.0, 0.0, 3.0, -2.0],
], np.float32)
AU_LOGITS = np.array([
    [-1.0, 0.5, 2.0, -2.0],
    [0.3, -0.5, -1.0, 1.0],
    [1.5, -2.0, 0.0, 0.2],
], np.float32)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def xlogy(x, y):
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def bernoulli_kl(t, p):
    return xlogy(t, t) - xlogy(t, p) + xlogy(1 - t, 1 - t) - xlogy(1 - t, 1 - p)


def implied_expressions(p, annotated=None):
    annotated = np.ones_like(p) if annotated is None else annotated
    table = np.clip(RELATEDNESS, 0.01, 0.99)
    log_likelihood = (p * annotated) @ np.log(table).T + (annotated - p * annotated) @ np.log(
        1 - table).T
    return softmax(log_likelihood)


def categorical_kl(q, logits):
    return (q * (np.log(q) - np.log(softmax(logits)))).sum(axis=-1)


def test_implied_action_units_are_the_expression_mixture_of_the_table_rows():
    q = dm.implied_action_unit_probabilities(EXPRESSION_LOGITS, RELATEDNESS)
    np.testing.assert_allclose(q, softmax(EXPRESSION_LOGITS) @ RELATEDNESS, rtol=1e-6)
    # One sure expression implies exactly its row.
    sure = dm.implied_action_unit_probabilities([[0.0, 50.0, 0.0, 0.0]], RELATEDNESS)
    np.testing.assert_allclose(sure, RELATEDNESS[1:2], atol=1e-6)


def test_distribution_matching_is_the_mean_bernoulli_kl_over_masked_samples():
    q = softmax(EXPRESSION_LOGITS) @ RELATEDNESS
    per_sample = bernoulli_kl(q, sigmoid(AU_LOGITS)).mean(axis=1)
    loss = dm.distribution_matching_loss(AU_LOGITS, EXPRESSION_LOGITS, RELATEDNESS)
    np.testing.assert_allclose(float(loss), per_sample.mean(), rtol=1e-5)
    masked = dm.distribution_matching_loss(AU_LOGITS, EXPRESSION_LOGITS, RELATEDNESS,
                                           mask=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(float(masked), per_sample[[0, 2]].mean(), rtol=1e-5)


def test_distribution_matching_is_zero_when_the_heads_agree():
    q = np.clip(softmax(EXPRESSION_LOGITS) @ RELATEDNESS, 1e-6, 1 - 1e-6)
    agreeing = np.log(q / (1 - q)).astype(np.float32)
    assert abs(float(dm.distribution_matching_loss(agreeing, EXPRESSION_LOGITS,
                                                   RELATEDNESS))) < 1e-4


def test_expressions_implied_by_action_units_follow_bayes_rule():
    p = sigmoid(AU_LOGITS)
    log_q = dm.implied_expression_log_probabilities(p, RELATEDNESS)
    np.testing.assert_allclose(np.exp(log_q), implied_expressions(p), rtol=1e-5, atol=1e-7)
    # Hard evidence: a smile without a frown reads happy; no AU at all reads neutral.
    hard = np.exp(dm.implied_expression_log_probabilities(
        [[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]], RELATEDNESS))
    assert hard[0].argmax() == 0 and hard[1].argmax() == 3


def test_only_the_annotated_action_units_are_evidence():
    annotated = np.array([[1, 0, 1, 0]], np.float32)
    p = np.array([[0.0, 1.0, 1.0, 1.0]], np.float32)  # the unannotated entries are ignored
    log_q = dm.implied_expression_log_probabilities(p, RELATEDNESS, annotated)
    np.testing.assert_allclose(np.exp(log_q), implied_expressions(p, annotated), rtol=1e-5)
    nothing = dm.implied_expression_log_probabilities(p, RELATEDNESS, np.zeros_like(p))
    np.testing.assert_allclose(np.exp(nothing), [[0.25] * 4], rtol=1e-6)


def test_reverse_distribution_matching_is_the_kl_to_the_implied_expressions():
    q = implied_expressions(sigmoid(AU_LOGITS))
    per_sample = categorical_kl(q, EXPRESSION_LOGITS)
    loss = dm.reverse_distribution_matching_loss(EXPRESSION_LOGITS, AU_LOGITS, RELATEDNESS,
                                                 mask=[0.0, 1.0, 1.0])
    np.testing.assert_allclose(float(loss), per_sample[1:].mean(), rtol=1e-5)


def test_soft_action_unit_labels_fill_only_the_missing_units_of_expression_labelled_samples():
    expression_labels = np.array([0, 1, -1])
    au_labels = np.array([[1, -1, -1, 0], [-1, -1, -1, -1], [-1, -1, -1, -1]])
    loss = dm.soft_action_unit_annotation_loss(AU_LOGITS, expression_labels, au_labels,
                                               RELATEDNESS)
    kl = bernoulli_kl(RELATEDNESS[[0, 1, 0]], sigmoid(AU_LOGITS))
    expected = np.mean([kl[0, [1, 2]].mean(), kl[1].mean()])  # sample 2 has no expression
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_soft_expression_labels_come_from_the_annotated_units_of_unlabelled_samples():
    expression_labels = np.array([-1, 2, -1, -1])
    au_labels = np.array([[0, 1, 1, -1], [1, 0, 0, 0], [-1, -1, -1, -1], [1, 0, -1, 0]])
    logits = np.concatenate([EXPRESSION_LOGITS, EXPRESSION_LOGITS[:1]])
    loss = dm.soft_expression_annotation_loss(logits, au_labels, expression_labels, RELATEDNESS)
    annotated = (au_labels >= 0).astype(np.float32)
    q = implied_expressions((au_labels == 1).astype(np.float32), annotated)
    per_sample = categorical_kl(q, logits)
    # Sample 1 has an expression label, sample 2 no annotated unit.
    np.testing.assert_allclose(float(loss), per_sample[[0, 3]].mean(), rtol=1e-5)


def test_the_multilabel_cross_entropy_averages_annotated_entries_per_sample():
    labels = np.array([[1, 0, -1, -1], [-1, -1, -1, -1], [0, 1, 1, 1]])
    p = sigmoid(AU_LOGITS)
    bce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    expected = np.mean([bce[0, :2].mean(), bce[2].mean()])
    np.testing.assert_allclose(float(masked_multilabel_cross_entropy(labels, AU_LOGITS)),
                               expected, rtol=1e-5)


def _losses(au_logits, expression_logits, expression_labels, au_labels, mask):
    return {
        "dm": dm.distribution_matching_loss(au_logits, expression_logits, RELATEDNESS, mask),
        "reverse": dm.reverse_distribution_matching_loss(expression_logits, au_logits,
                                                         RELATEDNESS, mask),
        "soft_au": dm.soft_action_unit_annotation_loss(au_logits, expression_labels, au_labels,
                                                       RELATEDNESS),
        "soft_expression": dm.soft_expression_annotation_loss(expression_logits, au_labels,
                                                              expression_labels, RELATEDNESS),
        "au": masked_multilabel_cross_entropy(au_labels, au_logits),
    }


@pytest.mark.parametrize("batch", [0, 3])
def test_a_batch_without_what_a_loss_needs_gives_zero_and_finite_zero_gradients(batch):
    au_logits = tf.Variable(AU_LOGITS[:batch])
    expression_logits = tf.Variable(EXPRESSION_LOGITS[:batch])
    # Each loss gets a batch it cannot use: the matchings masked out, no label at all
    # for the soft and supervised ones (and with batch 0, no sample).
    with tf.GradientTape(persistent=True) as tape:
        losses = {
            "dm": dm.distribution_matching_loss(au_logits, expression_logits, RELATEDNESS,
                                                mask=tf.zeros([batch])),
            "reverse": dm.reverse_distribution_matching_loss(
                expression_logits, au_logits, RELATEDNESS, mask=tf.zeros([batch])),
            "soft_au": dm.soft_action_unit_annotation_loss(
                au_logits, -tf.ones([batch], tf.int32), -tf.ones([batch, 4], tf.int32),
                RELATEDNESS),
            "soft_expression": dm.soft_expression_annotation_loss(
                expression_logits, -tf.ones([batch, 4], tf.int32), -tf.ones([batch], tf.int32),
                RELATEDNESS),
            "au": masked_multilabel_cross_entropy(-tf.ones([batch, 4], tf.int32), au_logits),
        }
    for name, loss in losses.items():
        assert float(loss) == 0.0, name
        for gradient in tape.gradient(loss, [au_logits, expression_logits]):
            if gradient is not None:
                assert np.isfinite(gradient.numpy()).all() and not gradient.numpy().any(), name


def test_gradients_reach_the_heads_each_loss_trains():
    au_logits = tf.Variable(AU_LOGITS)
    expression_logits = tf.Variable(EXPRESSION_LOGITS)
    expression_labels = tf.constant([0, -1, -1])
    au_labels = tf.constant([[1, -1, 0, 0], [-1, -1, -1, -1], [0, 1, -1, -1]])
    with tf.GradientTape(persistent=True) as tape:
        losses = _losses(au_logits, expression_logits, expression_labels, au_labels, None)
        one_way = dm.distribution_matching_loss(au_logits, tf.stop_gradient(expression_logits),
                                                RELATEDNESS)

    def gradients(loss):
        return [np.zeros(v.shape) if g is None else g.numpy()
                for g, v in zip(tape.gradient(loss, [au_logits, expression_logits]),
                                [au_logits, expression_logits])]

    for name in ("dm", "reverse"):  # the matchings train both heads, every sample
        au_gradient, expression_gradient = gradients(losses[name])
        assert np.abs(au_gradient).sum(axis=1).all() and np.abs(expression_gradient).sum(
            axis=1).all(), name
    au_gradient, expression_gradient = gradients(one_way)
    assert au_gradient.any() and not expression_gradient.any()
    # Soft AU labels: only the missing units of the expression-labelled sample 0.
    au_gradient, expression_gradient = gradients(losses["soft_au"])
    assert (au_gradient != 0).tolist() == [[False, True, False, False]] + [[False] * 4] * 2
    assert not expression_gradient.any()
    # Soft expression labels: only sample 2 (no expression label, annotated units).
    au_gradient, expression_gradient = gradients(losses["soft_expression"])
    assert not au_gradient.any()
    assert (np.abs(expression_gradient).sum(axis=1) > 0).tolist() == [False, False, True]
    # Supervised units: only the annotated entries.
    au_gradient, _ = gradients(losses["au"])
    assert ((au_gradient != 0) == (au_labels.numpy() >= 0)).all()


def test_a_table_of_zeros_and_ones_keeps_every_gradient_finite():
    au_logits = tf.Variable(np.full((2, 4), 30.0, np.float32))  # saturated AU head
    expression_logits = tf.Variable(np.array([[-50, -50, -50, 50]] * 2, np.float32))  # neutral
    with tf.GradientTape(persistent=True) as tape:
        losses = _losses(au_logits, expression_logits, tf.constant([3, -1]),
                         tf.constant([[-1, -1, -1, -1], [1, 1, 1, 1]]), None)
    for name, loss in losses.items():
        assert np.isfinite(float(loss)), name
        for gradient in tape.gradient(loss, [au_logits, expression_logits]):
            if gradient is not None:
                assert np.isfinite(gradient.numpy()).all(), name


def test_the_losses_compile_under_xla_and_match_eager():
    expression_labels = tf.constant([0, -1, -1])
    au_labels = tf.constant([[1, -1, 0, 0], [-1, -1, -1, -1], [0, 1, -1, -1]])
    mask = tf.constant([1.0, 1.0, 0.0])
    compiled = tf.function(_losses, jit_compile=True)(
        tf.constant(AU_LOGITS), tf.constant(EXPRESSION_LOGITS), expression_labels, au_labels, mask)
    eager = _losses(AU_LOGITS, EXPRESSION_LOGITS, expression_labels, au_labels, mask)
    for name, value in eager.items():
        np.testing.assert_allclose(float(compiled[name]), float(value), rtol=1e-5, err_msg=name)
