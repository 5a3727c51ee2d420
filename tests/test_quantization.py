"""Quantisation-aware training (`keras_dmtl.models.quantization`): the kernels and
activations round as int8 TFLite does, the rounding sits where the converter
keeps int8 tensors, weights move between the plain and the quantisation-aware
network by name, and a quantisation-aware fine-tuning exports without the simulation."""

import keras
import numpy as np
import pytest

from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.models import DynamicMultiTaskModel
from keras_dmtl.models import quantization
from keras_dmtl.models.network import build_network
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import train


def _round_per_channel(kernel):
    """int8 TFLite's kernel rounding by hand: symmetric, [-127, 127], per last axis."""
    flat = kernel.reshape(-1, kernel.shape[-1])
    scale = np.abs(flat).max(axis=0) / 127.0
    return (np.clip(np.round(kernel / scale), -127, 127) * scale).astype(np.float32)


@pytest.mark.parametrize("plain, aware, kwargs, shape", [
    (keras.layers.Conv2D, quantization.QuantizeAwareConv2D,
     {"filters": 5, "kernel_size": 3, "padding": "same"}, (2, 6, 6, 4)),
    (keras.layers.Dense, quantization.QuantizeAwareDense, {"units": 3}, (2, 7)),
])
def test_kernel_layers_compute_with_the_kernel_rounded_per_output_channel(plain, aware, kwargs,
                                                                          shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    layer, reference = aware(**kwargs), plain(**kwargs)
    layer(x), reference(x)
    kernel, bias = reference.get_weights()
    layer.set_weights([kernel, bias])
    reference.set_weights([_round_per_channel(kernel), bias])
    np.testing.assert_allclose(layer(x), reference(x), atol=1e-5)
    # The stored kernel is untouched: rounding is in the forward pass only.
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


def test_depthwise_kernel_rounds_per_input_channel_and_multiplier():
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype("float32")
    kwargs = {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}
    layer, reference = quantization.QuantizeAwareDepthwiseConv2D(**kwargs), \
        keras.layers.DepthwiseConv2D(**kwargs)
    layer(x), reference(x)
    kernel, bias = reference.get_weights()
    kernel *= np.arange(1, 7, dtype=np.float32).reshape(1, 1, 3, 2)  # channels of other ranges
    layer.set_weights([kernel, bias])
    by_hand = _round_per_channel(kernel.reshape(3, 3, 6)).reshape(kernel.shape)
    reference.set_weights([by_hand, bias])
    np.testing.assert_allclose(layer(x), reference(x), atol=1e-5)


def test_activation_quantizer_tracks_its_range_and_rounds_to_256_levels():
    quantizer = quantization.ActivationQuantizer(momentum=0.5)
    first = np.linspace(-1.0, 3.0, 1000, dtype=np.float32)[None]
    np.testing.assert_array_equal(quantizer(first), first)  # no range yet: passes as it is
    quantizer(first, training=True)
    assert float(quantizer.range_min) == pytest.approx(-1.0)
    assert float(quantizer.range_max) == pytest.approx(3.0)
    rounded = np.asarray(quantizer(first))
    assert len(np.unique(rounded)) == 256
    assert np.abs(rounded - first).max() <= 4.0 / 255 / 2 + 1e-6
    assert 0.0 in rounded  # zero is exact, as int8's zero point makes it
    quantizer(np.linspace(1.0, 7.0, 10, dtype=np.float32)[None], training=True)
    # A moving average: half the stored range, half the new batch's.
    assert float(quantizer.range_min) == pytest.approx(0.5 * -1.0 + 0.5 * 1.0)
    assert float(quantizer.range_max) == pytest.approx(0.5 * 3.0 + 0.5 * 7.0)


@pytest.fixture(scope="module")
def mobile_pair():
    """(plain mobile network, its quantisation-aware copy with the same weights)."""
    plain = build_network(4, 3, backbone="mobile", input_shape=(32, 32, 3),
                          backbone_width=0.25, embedding_dim=8, expression_dim=8)
    aware = quantization.quantization_aware_network(plain, skip=("identity_logits",))
    quantization.copy_weights_by_name(plain, aware)
    return plain, aware


def test_rounding_sits_where_the_converter_keeps_int8_tensors(mobile_pair):
    _, aware = mobile_pair
    layers = quantization.leaf_layers(aware)
    rounded = {name[:-len(quantization.QUANTIZER_SUFFIX)] for name, layer in layers.items()
               if isinstance(layer, quantization.ActivationQuantizer)}
    kinds = {name: type(layers[name]).__name__ for name in rounded}
    # Fused by the converter: a kernel into its BatchNorm, a BatchNorm into its ReLU.
    assert not {n for n, kind in kinds.items() if kind.startswith("QuantizeAware")
                and not layers[n].use_bias}
    assert not {n for n in rounded if n.endswith("_bn") and n.replace("_bn", "_relu") in layers}
    for name, layer in layers.items():
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Add, keras.layers.Rescaling)):
            assert name in rounded, name
    # The linear bottleneck's BatchNorm (no ReLU after it) feeds an add: rounded.
    assert any(n.endswith("project_bn") for n in rounded)
    assert "expression_logits" in rounded and "identity_logits" not in rounded
    assert sum(isinstance(layer, quantization.QuantizeAwareDepthwiseConv2D)
               for layer in layers.values()) > 0


def test_weights_copy_both_ways_by_name(mobile_pair):
    plain, aware = mobile_pair
    images = np.random.default_rng(2).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    aware(images, training=True)  # sets every quantizer's range (and moves the BatchNorms)
    back = build_network(4, 3, backbone="mobile", input_shape=(32, 32, 3),
                         backbone_width=0.25, embedding_dim=8, expression_dim=8)
    quantization.copy_weights_by_name(aware, back)  # the quantizers have no place there
    aware_layers = quantization.leaf_layers(aware)
    for name, layer in quantization.leaf_layers(back).items():
        for mine, theirs in zip(layer.get_weights(), aware_layers[name].get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ValueError, match="no layer named"):
        quantization.copy_weights_by_name(aware, keras.layers.Dense(3, name="other"))


def test_model_config_and_file_round_trip_keep_the_simulation(tmp_path):
    model = DynamicMultiTaskModel(num_identities=4, num_expressions=3, input_shape=(32, 32, 1),
                                  embedding_dim=8, quantization_aware=True)
    model.compile(optimizer="adam")
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (8, 32, 32, 1)).astype("float32")
    labels = {"identity": np.arange(8) % 4, "expression": np.arange(8) % 3}
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert restored.quantization_aware
    np.testing.assert_array_equal(restored.predict(images, verbose=0)["embedding"],
                                  model.predict(images, verbose=0)["embedding"])
    plain = quantization.strip_quantization(restored)
    assert not plain.quantization_aware and quantization.strip_quantization(plain) is plain
    assert not any(isinstance(layer, quantization.ActivationQuantizer)
                   for layer in quantization.leaf_layers(plain.network).values())
    # The rounding changes the outputs: the simulation is on in the saved model.
    assert not np.array_equal(plain.predict(images, verbose=0)["embedding"],
                              restored.predict(images, verbose=0)["embedding"])


def test_fine_tuning_a_run_quantisation_aware_exports_without_the_simulation(tmp_path):
    settings = dict(image_size=32, batch_size=16, embedding_dim=16, generated_identities=6,
                    generated_sequences=1, val_fraction=0.2, test_fraction=0.2,
                    jit_compile="false", verbose=0, cache_dir=str(tmp_path / "cache"),
                    **{"export.enabled": False})
    # The float model to start from need not be trained: its weights are what is checked.
    source = DynamicMultiTaskModel(num_identities=4, num_expressions=3, input_shape=(32, 32, 1),
                                   embedding_dim=16)
    source.save(tmp_path / "float.keras")
    train(make_config(out_dir=str(tmp_path / "qat"), epochs=1, quantization_aware=True,
                      init_from=str(tmp_path / "float.keras"), freeze_batchnorm=True,
                      **settings))
    tuned = keras.saving.load_model(tmp_path / "qat" / "model.keras")
    assert tuned.quantization_aware
    layers = quantization.leaf_layers(tuned.network)
    # Fine-tuning moved the weights; frozen BatchNorm statistics did not move.
    assert not np.array_equal(layers["conv1_conv"].get_weights()[0],
                              source.trunk.get_layer("conv1_conv").get_weights()[0])
    np.testing.assert_array_equal(layers["conv1_bn"].get_weights()[2],
                                  source.trunk.get_layer("conv1_bn").get_weights()[2])
    assert float(layers["conv1_relu_quant"].seen) == 1.0
    inference = build_inference_model(tuned)
    assert not any(isinstance(layer, quantization.ActivationQuantizer)
                   for layer in quantization.leaf_layers(inference).values())
