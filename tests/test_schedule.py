"""The step learning-rate schedule: the rate of each epoch, bad drops refused,
and the callback that sets it."""

import keras
import numpy as np
import pytest

from keras_dmtl.training import schedule
from keras_dmtl.training.config import make_config


def test_each_drop_passed_multiplies_the_rate_once():
    rates = [schedule.learning_rate_at(epoch, 1e-3, (2, 4), 0.1) for epoch in range(6)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    assert schedule.learning_rate_at(7, 1e-3, (), 0.1) == 1e-3


@pytest.mark.parametrize("drops, reason", [((3, 2), "increasing"), ((2, 2), "increasing"),
                                           ((0,), "inside"), ((5,), "inside"),
                                           ((1.5,), "whole"), ("3", "tuple")])
def test_drops_outside_the_run_or_out_of_order_are_refused(drops, reason):
    assert reason in schedule.drops_problem(drops, epochs=5)
    with pytest.raises(ValueError, match="--config.learning_rate_drops="):
        make_config(epochs=5, learning_rate_drops=drops)


def test_first_changed_epoch_compares_only_the_epochs_trained():
    saved = make_config(epochs=6, learning_rate_drops=(4,))
    later = make_config(epochs=8, learning_rate_drops=(4, 6))
    assert schedule.first_changed_epoch(saved, later, epochs=6) is None
    moved = make_config(epochs=6, learning_rate_drops=(3,))
    assert schedule.first_changed_epoch(saved, moved, epochs=6) == 3
    assert schedule.first_changed_epoch(saved, moved, epochs=3) is None


def test_the_callback_sets_each_epochs_rate_on_the_model_optimizer():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(float(model.optimizer.learning_rate)))
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0,
              callbacks=[schedule.StepLearningRate(1e-3, (1, 2), 0.5), record])
    np.testing.assert_allclose(seen, [1e-3, 5e-4, 2.5e-4], rtol=1e-6)
