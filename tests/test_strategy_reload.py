"""Every registered weighting strategy survives save -> load -> resume exactly.

The registry is iterated, so a new strategy is covered by adding its file.
"""

import keras
import numpy as np
import pytest

from keras_dmtl import weighting
from tests.core_helpers import make_batch
from tests.core_helpers import make_model


@pytest.mark.parametrize("name", weighting.available())
def test_strategy_trains_saves_reloads_and_resumes(name, tmp_path):
    model = make_model(name)
    images, labels = make_batch(seed=1)
    model.train_on_batch(images, labels)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)

    expected, actual = model(images), restored(images)
    for key in expected:
        np.testing.assert_array_equal(expected[key], actual[key], err_msg=key)
    for original, reloaded in zip(model.weighting.weights, restored.weighting.weights):
        np.testing.assert_array_equal(original.numpy(), reloaded.numpy(), err_msg=original.path)
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations)

    # Resuming: the next step of the reloaded model is the next step of the original.
    next_images, next_labels = make_batch(seed=2)
    original_logs = model.train_on_batch(next_images, next_labels, return_dict=True)
    resumed_logs = restored.train_on_batch(next_images, next_labels, return_dict=True)
    for key in original_logs:
        np.testing.assert_allclose(resumed_logs[key], original_logs[key], rtol=1e-6, atol=1e-7,
                                   err_msg=key)
    for original, reloaded in zip(model.weights, restored.weights):
        np.testing.assert_allclose(reloaded.numpy(), original.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=original.path)
