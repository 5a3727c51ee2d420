"""Each added strategy behaves as its paper says on a controlled two-loss problem."""

import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl import weighting
from tests.core_helpers import copy_weights
from tests.core_helpers import make_batch
from tests.core_helpers import make_model


def _built(name, **kwargs):
    strategy = weighting.get(name, **kwargs)
    strategy.build((2,))
    return strategy


def _weights(strategy, losses):
    return strategy.combine(tf.constant(losses, tf.float32), tf.constant([0.5, 0.5])).weights.numpy()


def test_dwa_favours_the_task_whose_loss_falls_slower():
    dwa = _built("dwa", window_steps=2)
    losses = np.array([4.0, 1.0])
    for _ in range(6):
        assert _weights(dwa, losses).sum() == pytest.approx(2.0)
        dwa.update_state(tf.constant(losses, tf.float32))
        losses = losses * np.array([0.5, 0.95])  # task 0 falls fast, task 1 slowly
    weights = _weights(dwa, losses)
    assert weights[1] > weights[0]


def test_rlw_weights_are_random_positive_and_reproducible():
    first, second = _built("rlw", seed=3), _built("rlw", seed=3)
    draws = []
    for _ in range(5):
        draws.append(_weights(first, [1.0, 1.0]))
        np.testing.assert_array_equal(draws[-1], _weights(second, [1.0, 1.0]))
        first.update_state(tf.constant([1.0, 1.0]))
        second.update_state(tf.constant([1.0, 1.0]))
    draws = np.array(draws)
    assert np.all(draws > 0) and np.allclose(draws.sum(axis=1), 2.0)
    assert len({round(float(d[0]), 6) for d in draws}) == 5


def _unit_logit_step(strategy, losses):
    """Which task's logit one descent step on the unit loss raises (+1 task 0, -1 task 1)."""
    logits = tf.Variable([0.0, 0.0])
    with tf.GradientTape() as tape:
        unit_loss = strategy.combine(tf.constant(losses), tf.nn.softmax(logits)).unit_loss
    gradient = tape.gradient(unit_loss, logits).numpy()
    return np.sign(gradient[1] - gradient[0])


def test_dynamic_normalized_follows_the_loss_ratio_not_the_raw_loss():
    # Task 0: 4.0 -> 1.0 (ratio 0.25); task 1: 1.0 -> 0.9 (ratio 0.9).
    raw = _built("dynamic")
    normalized = _built("dynamic_normalized", initial_steps=1)
    normalized.update_state(tf.constant([4.0, 1.0]))
    now = [1.0, 0.9]
    assert _unit_logit_step(raw, now) == 1  # raw loss: task 0 looks harder
    assert _unit_logit_step(normalized, now) == -1  # ratio: task 1 is harder


def test_famo_favours_the_task_whose_loss_improves_slower():
    famo = _built("famo")
    losses = np.array([2.0, 2.0])
    for _ in range(20):
        _weights(famo, losses)
        famo.update_state(tf.constant(losses, tf.float32))
        losses = losses * np.array([0.8, 0.99])
    z = tf.nn.softmax(famo.logits).numpy()
    assert z[1] > z[0]


# dynamic's XLA step is compared in test_training_core.
@pytest.mark.parametrize("name", [n for n in weighting.available() if n != "dynamic"])
def test_strategy_step_under_xla_equals_the_eager_step(name):
    xla = make_model(name, jit_compile=True)
    eager = make_model(name, run_eagerly=True)
    copy_weights(xla, eager)
    assert xla.jit_compile is True and eager.jit_compile is False
    for step in range(2):
        images, labels = make_batch(seed=step)
        xla_logs = xla.train_on_batch(images, labels, return_dict=True)
        if name == "rlw":
            # XLA's stateless normal is another generator than TensorFlow's kernel
            # (same seed, other numbers): the eager step is given the XLA step's draw.
            drawn = tf.constant([xla_logs["w_face"], xla_logs["w_expression"]], tf.float32)
            eager.weighting.current_weights = lambda drawn=drawn: drawn
        eager_logs = eager.train_on_batch(images, labels, return_dict=True)
        assert xla_logs.keys() == eager_logs.keys()
        for key, value in eager_logs.items():
            # float32 steps, summed in another order by XLA's fused kernels.
            np.testing.assert_allclose(xla_logs[key], value, rtol=1e-4, atol=1e-5, err_msg=key)
    # The strategy's own state (weights, loss history, log-variances...) too.
    for a, b in zip(xla.weighting.variables, eager.weighting.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    for a, b in zip(xla.weights, eager.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4, err_msg=a.path)
