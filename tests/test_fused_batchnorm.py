"""FusedBatchNormalization trains exactly like Keras' BatchNormalization, faster."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.models.normalization import BatchNormalization as FusedBatchNormalization


def _pair(**kwargs):
    fused = FusedBatchNormalization(momentum=0.9, synchronized=True, **kwargs)
    plain = keras.layers.BatchNormalization(momentum=0.9, synchronized=True, **kwargs)
    return fused, plain


def _step(layer, images, jit_compile):
    # Random weights per element: a loss whose gradient the normalisation does not cancel.
    weights = tf.constant(np.random.default_rng(7).normal(size=images.shape), tf.float32)

    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(outputs * weights)
        return outputs, tape.gradient(loss, [x] + layer.trainable_variables)

    return step(tf.constant(images))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_training_outputs_gradients_and_moving_statistics_match_keras(jit_compile):
    images = np.random.default_rng(0).normal(3.0, 2.0, (6, 5, 5, 4)).astype(np.float32)
    fused, plain = _pair()
    for layer in (fused, plain):
        layer.build(images.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 4))
        layer.beta.assign(np.linspace(-1.0, 1.0, 4))
    for _ in range(2):  # two steps: the moving averages compound
        got, got_gradients = _step(fused, images, jit_compile)
        want, want_gradients = _step(plain, images, jit_compile)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for a, b in zip(got_gradients, want_gradients):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-4)
    # Inference takes the Keras path on the same statistics.
    np.testing.assert_allclose(fused(images, training=False), plain(images, training=False),
                               rtol=1e-5, atol=1e-5)


def test_other_inputs_take_the_keras_path_and_the_layer_round_trips():
    fused, plain = _pair(axis=1)
    images = np.random.default_rng(1).normal(size=(3, 4, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(fused(images, training=True), plain(images, training=True),
                               rtol=1e-5, atol=1e-5)
    config = keras.saving.serialize_keras_object(fused)
    assert isinstance(keras.saving.deserialize_keras_object(config), FusedBatchNormalization)


def test_models_saved_with_keras_batch_norm_load_into_it(tmp_path):
    # A .keras file keys each layer's weights by its class name: a model saved
    # before the fused layer existed must still load (and vice versa).
    def network(layer_class):
        inputs = keras.Input((4, 4, 2))
        return keras.Model(inputs, layer_class(name="bn")(inputs))

    images = np.random.default_rng(2).normal(size=(3, 4, 4, 2)).astype(np.float32)
    old = network(keras.layers.BatchNormalization)
    old(images, training=True)
    old.layers[-1].moving_mean.assign([0.5, -0.5])
    old.save_weights(tmp_path / "old.weights.h5")
    new = network(FusedBatchNormalization)
    new.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_allclose(new(images), old(images), rtol=1e-6)
