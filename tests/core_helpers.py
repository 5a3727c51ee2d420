"""Small models and batches shared by the training-core tests."""

import keras
import numpy as np
import tensorflow as tf

from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.models.multitask import DynamicMultiTaskModel

IMAGE_SHAPE = (16, 16, 1)
NUM_IDENTITIES = 8
NUM_EXPRESSIONS = 2


def make_batch(batch_size=16, seed=0, expression_missing=False, teacher_dim=None):
    """Random images and labels; identities are random, so L1 stays large.

    With `teacher_dim`, the labels also carry random unit teacher embeddings of
    that size (every fourth row 0: a photo where the teacher found no face)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (batch_size,) + IMAGE_SHAPE).astype("float32")
    expression = rng.integers(0, NUM_EXPRESSIONS, batch_size)
    if expression_missing:
        expression = np.full(batch_size, -1)
    labels = {
        "identity": rng.integers(0, NUM_IDENTITIES, batch_size).astype("int32"),
        "expression": expression.astype("int32"),
    }
    if teacher_dim:
        target = rng.normal(size=(batch_size, teacher_dim)).astype("float32")
        target /= np.linalg.norm(target, axis=1, keepdims=True)
        target[::4] = 0.0
        labels[TEACHER_EMBEDDING] = target
    return images, labels


def make_model(weighting="dynamic", seed=0, main_lr=0.05, unit_lr=0.5, jit_compile=False,
               run_eagerly=False, **kwargs):
    """A tiny compiled model with plain SGD, so one step is easy to predict."""
    keras.utils.set_random_seed(seed)
    model = DynamicMultiTaskModel(
        NUM_IDENTITIES,
        NUM_EXPRESSIONS,
        backbone="tiny",
        input_shape=IMAGE_SHAPE,
        embedding_dim=8,
        expression_dim=8,
        weighting=weighting,
        **kwargs,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(main_lr),
        weight_optimizer=keras.optimizers.SGD(unit_lr),
        jit_compile=jit_compile,
        run_eagerly=run_eagerly,
    )
    return model


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def copy_weights(source, target):
    target.set_weights(source.get_weights())


def saved_and_reloaded(model, images, tmp_path):
    """`model` saved as `.keras` and loaded again; checks identical outputs on `images`."""
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    expected, actual = model(images), restored(images)
    for key in expected:
        np.testing.assert_array_equal(expected[key], actual[key], err_msg=key)
    return restored


def check_save_reload_resume(name, tmp_path, **model_kwargs):
    """Trains strategy `name` a step, saves, reloads, compares outputs and state,
    and checks that the next step of the reloaded model is the original's.

    Args:
        model_kwargs: more `DynamicMultiTaskModel` arguments; a `distillation`
            with "embedding_task" gets batches with teacher embeddings.
    """
    model = make_model(name, **model_kwargs)
    teacher_dim = 8 if model.distillation_task else None
    images, labels = make_batch(seed=1, teacher_dim=teacher_dim)
    model.train_on_batch(images, labels)
    restored = saved_and_reloaded(model, images, tmp_path)
    for original, reloaded in zip(model.weighting.weights, restored.weighting.weights):
        np.testing.assert_array_equal(original.numpy(), reloaded.numpy(), err_msg=original.path)
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations)

    # Resuming: the next step of the reloaded model is the next step of the original.
    next_images, next_labels = make_batch(seed=2, teacher_dim=teacher_dim)
    original_logs = model.train_on_batch(next_images, next_labels, return_dict=True)
    resumed_logs = restored.train_on_batch(next_images, next_labels, return_dict=True)
    for key in original_logs:
        np.testing.assert_allclose(resumed_logs[key], original_logs[key], rtol=1e-6, atol=1e-7,
                                   err_msg=key)
    for original, reloaded in zip(model.weights, restored.weights):
        np.testing.assert_allclose(reloaded.numpy(), original.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=original.path)


def losses_on_tape(model, images, labels):
    """Forward pass + losses exactly as train_step computes them, on a tape.

    Returns:
        (persistent tape, outputs, the task losses unstacked on the tape so that
        each can be differentiated, the strategy's combined losses).
    """
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(images, training=True)
        task_losses, _ = model.compute_task_losses(outputs, labels)
        unit_weights = model.batch_mean_weights(outputs["task_weights"])
        combined = model.weighting.combine(task_losses, unit_weights)
        task_losses = tf.unstack(task_losses)
    return tape, outputs, task_losses, combined
