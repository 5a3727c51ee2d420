"""Tests for the shared-trunk backbones and the summary tool."""

import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.models import backbones
from keras_dmtl.models.normalization import BATCH_NORM_MOMENTUM

SHAPES = [(64, 64, 1), (112, 112, 3)]
SMALL_BACKBONES = ["mobile", "tiny"]

_built = {}


def built(name, shape):
    """Builds each (backbone, shape) once per test session: the big trunk is slow."""
    if (name, shape) not in _built:
        _built[name, shape] = backbones.build_backbone(name, shape)
    return _built[name, shape]


def random_pixels(shape, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, *shape)).astype("float32")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_backbone_maps_raw_pixels_to_finite_flat_features(name, shape):
    model = built(name, shape)
    features = model(random_pixels(shape), training=False)
    assert features.shape == (2, model.output.shape[-1])
    assert np.all(np.isfinite(features))
    # Different images must give different features, or the trunk is dead.
    assert not np.allclose(features[0], features[1])


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_backbone_is_functional_and_rescales_pixels_first(name):
    model = built(name, SHAPES[0])
    assert not isinstance(model, keras.Sequential)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    rescale = model.layers[1]
    assert isinstance(rescale, keras.layers.Rescaling)
    pixels = np.array([[[[0.0]], [[127.5]], [[255.0]]]], dtype="float32")
    np.testing.assert_allclose(np.ravel(rescale(pixels)), [-1.0, 0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_every_batch_norm_uses_the_house_momentum(name):
    model = built(name, SHAPES[0])
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    assert {layer.momentum for layer in norms} == {BATCH_NORM_MOMENTUM}


def test_inception_resnet_size_matches_the_paper_via_summary_tool():
    result = subprocess.run(
        [sys.executable, "-m", "keras_dmtl.models.summary", "--backbone", "inception_resnet",
         "--image_size", "160", "--channels", "3"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    match = re.search(
        r"^inception_resnet: ([\d,]+) parameters \(input 160x160x3, width 1.0\)$",
        result.stdout, re.MULTILINE,
    )
    assert match, result.stdout + result.stderr
    assert 10_000_000 <= int(match.group(1).replace(",", "")) <= 16_000_000


@pytest.mark.parametrize("name, limit", [("mobile", 3_500_000), ("tiny", 100_000)])
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
    assert narrow.count_params() < built("tiny", SHAPES[0]).count_params() < wide.count_params()


def test_name_prefix_lets_two_trunks_share_one_graph():
    images = keras.Input(SHAPES[0])
    teacher = backbones.build_backbone("tiny", SHAPES[0], name_prefix="teacher_")
    student = backbones.build_backbone("tiny", SHAPES[0], name_prefix="student_")
    assert teacher.name == "teacher_tiny"
    assert all(layer.name.startswith("teacher_") for layer in teacher.layers)
    both = keras.Model(images, [teacher(images), student(images)])
    outputs = both(random_pixels(SHAPES[0]))
    assert outputs[0].shape == outputs[1].shape == (2, 96)


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_backbone_round_trips_through_keras_saving(name, tmp_path):
    model = built(name, SHAPES[0])
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


def test_scaled_residual_adds_the_scaled_branch_and_serializes():
    layer = backbones.ScaledResidual(0.17)
    out = layer([np.ones((1, 2), "float32"), np.full((1, 2), 2.0, "float32")])
    np.testing.assert_allclose(out, [[1.34, 1.34]], rtol=1e-6)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, backbones.ScaledResidual) and clone.scale == pytest.approx(0.17)


@pytest.mark.parametrize("name", SMALL_BACKBONES)
def test_small_backbone_trains_under_xla(name):
    model = built(name, SHAPES[0])
    forward = tf.function(lambda x: model(x, training=True), jit_compile=True)
    features = forward(tf.constant(random_pixels(SHAPES[0], batch=4)))
    assert features.shape == (4, model.output.shape[-1])
    assert np.all(np.isfinite(features))


def test_unknown_backbone_names_the_flag_and_the_choices():
    with pytest.raises(ValueError, match=r"--backbone.*inception_resnet, mobile, tiny"):
        backbones.build_backbone("resnet50")


@pytest.mark.parametrize("shape", [(64, 64, 2), (64, 64), (0, 64, 1)])
def test_bad_input_shape_names_the_flags(shape):
    with pytest.raises(ValueError, match="--image_size and --channels"):
        backbones.build_backbone("tiny", shape)


def test_non_positive_width_names_the_flag():
    with pytest.raises(ValueError, match="--width"):
        backbones.build_backbone("tiny", SHAPES[0], width=0.0)
