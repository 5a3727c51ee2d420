"""Tests for the shared-trunk backbones and the summary tool.

The registry is iterated, so a new trunk module is tested with no other edit.
"""

import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.models import backbones
from keras_dmtl.models.multitask import DynamicMultiTaskModel
from keras_dmtl.models.normalization import BATCH_NORM_MOMENTUM
from tests.registry_helpers import import_source

# Grey and colour, small: sizes do not change what these tests check.
SHAPES = [(32, 32, 1), (48, 48, 3)]
# Every trunk, a new one included, is XLA-compiled but inception_resnet, whose
# compile alone takes ~10 s on a CPU: the suite builds it only where needed.
XLA_BACKBONES = [name for name in backbones.available() if name != "inception_resnet"]

_built = {}


def built(name, shape=SHAPES[0]):
    """Builds each (backbone, shape) once per test session: the big trunk is slow."""
    if (name, shape) not in _built:
        _built[name, shape] = backbones.build_backbone(name, shape)
    return _built[name, shape]


def random_pixels(shape, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, *shape)).astype("float32")


def assert_flat_finite_features(model, shape):
    features = model(random_pixels(shape), training=False)
    assert features.shape == (2, model.output.shape[-1])
    assert np.all(np.isfinite(features))
    # Different images must give different features, or the trunk is dead.
    assert not np.allclose(features[0], features[1])


def assert_functional_without_lambda_or_random_layers(model):
    # tf2onnx converts functional models only; Lambda layers do not survive
    # `.keras` serialization; layers that draw random numbers switch XLA off.
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
    for layer in model.layers:
        assert not isinstance(layer, keras.layers.Lambda), layer.name
        assert not any(isinstance(value, keras.random.SeedGenerator)
                       for value in vars(layer).values()), layer.name


def assert_rescales_raw_pixels_first(model):
    rescale = model.layers[1]
    assert isinstance(rescale, keras.layers.Rescaling)
    pixels = np.array([[[[0.0]], [[127.5]], [[255.0]]]], dtype="float32")
    np.testing.assert_allclose(np.ravel(rescale(pixels)), [-1.0, 0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", backbones.available())
def test_backbone_maps_raw_pixels_to_finite_flat_features(name, shape):
    assert_flat_finite_features(built(name, shape), shape)


@pytest.mark.parametrize("name", backbones.available())
def test_backbone_is_functional_and_rescales_pixels_first(name):
    assert_functional_without_lambda_or_random_layers(built(name))
    assert_rescales_raw_pixels_first(built(name))


@pytest.mark.parametrize("name", backbones.available())
def test_every_batch_norm_uses_the_house_momentum(name):
    norms = [layer for layer in built(name).layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    assert {layer.momentum for layer in norms} == {BATCH_NORM_MOMENTUM}


@pytest.mark.parametrize("name", backbones.available())
def test_backbone_round_trips_through_keras_saving(name, tmp_path):
    model = built(name)
    pixels = random_pixels(SHAPES[0], batch=4, seed=1)
    # A training-mode call moves the batch-norm statistics off their initial
    # values, so the comparison also covers the non-trainable state.
    model(random_pixels(SHAPES[0], batch=4, seed=2), training=True)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        restored(pixels, training=False), model(pixels, training=False)
    )


@pytest.mark.parametrize("name", XLA_BACKBONES)
def test_backbone_gradient_step_under_xla_equals_the_eager_step(name):
    keras.utils.set_random_seed(0)  # its own trunk: the agreement depends on the weights
    model = backbones.build_backbone(name, SHAPES[0])
    start = model.get_weights()
    pixels = tf.constant(random_pixels(SHAPES[0], batch=4))
    target = tf.constant(np.random.default_rng(1).normal(size=(4, model.output.shape[-1])),
                         tf.float32)

    def step(images):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(images, training=True) - target))
        for variable, gradient in zip(model.trainable_variables,
                                      tape.gradient(loss, model.trainable_variables)):
            variable.assign_sub(0.5 * gradient)
        return loss

    losses = [float(tf.function(step, jit_compile=True)(pixels))]
    compiled = model.get_weights()
    model.set_weights(start)
    losses.append(float(step(pixels)))
    eager = model.get_weights()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    steps = [(variable.path, xla_new - old, eager_new - old)
             for variable, old, xla_new, eager_new in zip(model.weights, start, compiled, eager)]
    largest = max(np.abs(eager_step).max() for _, _, eager_step in steps)
    everything = [np.concatenate([step[i].ravel() for step in steps]) for i in (1, 2)]
    # XLA fuses and sums in its own order. The tiny trunk's steps agree to ~2e-5;
    # mobile's depthwise layers and BatchNorm over 4 images amplify float32 rounding
    # up to ~1e-2 of the whole step, depending on the initial weights (measured over
    # seeds 0-3), ~3 % on a single variable.
    assert np.linalg.norm(everything[0] - everything[1]) < 3e-2 * np.linalg.norm(everything[1])
    for path, xla_step, eager_step in steps:
        # Each variable to 10 %, where the exact step is zero (the beta of a BatchNorm
        # feeding another, the batch mean of a normalised input through a bias-free
        # 1x1 conv) up to rounding noise: 1e-4 of the largest step. A step XLA
        # dropped or took in inference mode is ~100 % off.
        off = np.linalg.norm(xla_step - eager_step)
        assert off <= 0.1 * np.linalg.norm(eager_step) + 1e-4 * largest, path


def test_inception_resnet_size_matches_the_paper_via_summary_tool():
    result = subprocess.run(
        [sys.executable, "-m", "keras_dmtl.models.summary", "--backbone", "inception_resnet",
         "--image_size", "160", "--channels", "3"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    # The DMTL paper's trunk has ~13.4 M parameters.
    assert re.search(
        r"^inception_resnet: 13,419,168 parameters \(input 160x160x3, width 1.0\)$",
        result.stdout, re.MULTILINE,
    ), result.stdout + result.stderr


@pytest.mark.parametrize("name, limit", [("mobile", 1_000_000), ("tiny", 100_000)])
def test_small_backbones_stay_within_their_budget(name, limit):
    assert built(name, SHAPES[1]).count_params() < limit


def test_width_multiplier_scales_filters_in_multiples_of_eight():
    assert backbones.scaled_filters(32, 1.0) == 32
    assert backbones.scaled_filters(80, 0.5) == 40
    assert backbones.scaled_filters(30, 1.0) % backbones.CHANNEL_DIVISOR == 0
    assert backbones.scaled_filters(16, 0.1) == backbones.CHANNEL_DIVISOR
    narrow = backbones.build_backbone("tiny", SHAPES[0], width=0.5)
    wide = backbones.build_backbone("tiny", SHAPES[0], width=2.0)
    assert narrow.output.shape[-1] == 48 and wide.output.shape[-1] == 192
    assert narrow.count_params() < built("tiny").count_params() < wide.count_params()


def test_name_prefix_lets_two_trunks_share_one_graph():
    images = keras.Input(SHAPES[0])
    teacher = backbones.build_backbone("tiny", SHAPES[0], name_prefix="teacher_")
    student = backbones.build_backbone("tiny", SHAPES[0], name_prefix="student_")
    assert teacher.name == "teacher_tiny"
    assert all(layer.name.startswith("teacher_") for layer in teacher.layers)
    both = keras.Model(images, [teacher(images), student(images)])
    outputs = both(random_pixels(SHAPES[0]))
    assert outputs[0].shape == outputs[1].shape == (2, 96)


THROWAWAY_TRUNK = '''
"""A throwaway trunk: one strided convolution."""

from keras import layers

from keras_dmtl.models.backbones import register
from keras_dmtl.models.backbones.blocks import conv_bn_act
from keras_dmtl.models.backbones.blocks import scaled_filters


@register("throwaway_one_conv")
def one_conv_trunk(x, width=1.0, prefix=""):
    x = conv_bn_act(x, scaled_filters(8, width), 3, name=f"{prefix}conv", strides=2)
    return layers.GlobalAveragePooling2D(name=f"{prefix}features")(x)
'''


@pytest.fixture
def throwaway_trunk(tmp_path):
    import_source(tmp_path, "throwaway_one_conv", THROWAWAY_TRUNK)
    yield "throwaway_one_conv"
    backbones.TRUNKS.remove("throwaway_one_conv")
    assert "throwaway_one_conv" not in backbones.available()


def test_a_new_trunk_module_is_built_by_name(throwaway_trunk):
    assert throwaway_trunk in backbones.available()
    trunk = backbones.build_backbone(throwaway_trunk, SHAPES[0])
    assert_flat_finite_features(trunk, SHAPES[0])
    assert_functional_without_lambda_or_random_layers(trunk)
    assert_rescales_raw_pixels_first(trunk)
    model = DynamicMultiTaskModel(4, 2, backbone=throwaway_trunk, input_shape=SHAPES[0],
                                  embedding_dim=8, expression_dim=8)
    outputs = model(random_pixels(SHAPES[0]))
    assert model.network.get_layer(throwaway_trunk).output.shape == (None, 8)
    assert outputs["embedding"].shape == (2, 8)
    assert outputs["task_weights"].shape == (2, 2)


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        backbones.register("tiny")(lambda x, width=1.0, prefix="": x)


def test_unknown_backbone_names_the_config_key_and_the_choices():
    with pytest.raises(ValueError, match=r"--config\.backbone\).*inception_resnet, mobile, tiny"):
        backbones.build_backbone("resnet50")


@pytest.mark.parametrize("shape", [(32, 32, 2), (32, 32), (0, 32, 1)])
def test_bad_input_shape_names_the_config_keys(shape):
    with pytest.raises(ValueError, match=r"--config\.image_size and --config\.channels"):
        backbones.build_backbone("tiny", shape)


def test_non_positive_width_names_the_config_key():
    with pytest.raises(ValueError, match=r"--config\.backbone_width"):
        backbones.build_backbone("tiny", SHAPES[0], width=0.0)
