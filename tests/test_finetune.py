"""Fine-tuning (`config.init_from`) on generated faces with the tiny model: what is
copied, what starts fresh, frozen BatchNorm statistics, and the refusals."""

import logging
import os
import warnings

import keras
import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.io_utils import read_json
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import build_model
from keras_dmtl.training.run import load_arrays
from keras_dmtl.training.run import resume_config
from keras_dmtl.training.run import train

SETTINGS = dict(image_size=32, batch_size=16, embedding_dim=16, generated_identities=6,
                generated_sequences=1, val_fraction=0.2, test_fraction=0.2, jit_compile="false",
                verbose=0, **{"export.enabled": False})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A one-epoch run on generated faces: (its model.keras, its labels.json, cache)."""
    root = tmp_path_factory.mktemp("source")
    cache = str(root / "cache")
    train(make_config(out_dir=str(root / "run"), cache_dir=cache, epochs=1, **SETTINGS))
    return str(root / "run" / "model.keras"), read_json(root / "run" / "labels.json"), cache


def _config(source_path, cache, **overrides):
    return make_config(cache_dir=cache, init_from=source_path, **{**SETTINGS, **overrides})


def _values(layer):
    return [np.array(w) for w in layer.get_weights()]


def _assert_same(a, b):
    for x, y in zip(_values(a), _values(b)):
        np.testing.assert_array_equal(x, y)


def _differs(a, b):
    return any(x.shape != y.shape or not np.array_equal(x, y)
               for x, y in zip(_values(a), _values(b)))


def _labels(names, identities):
    """Labels of a new data set: other people, the source's expressions."""
    return {"identity_names": [f"new_{i}" for i in range(identities)],
            "expression_names": list(names["expression_names"])}


def test_all_copies_trunk_and_branches_and_rebuilds_the_identity_head(source, caplog):
    path, names, cache = source
    original = keras.saving.load_model(path)
    with caplog.at_level(logging.WARNING):
        model = build_model(_config(path, cache), 9, len(names["expression_names"]),
                            label_names=_labels(names, 9))
    for layer in (model.trunk.name, "face_bottleneck", "embedding", "expression_bottleneck",
                  "expression_logits", "dynamic_weight_unit"):
        _assert_same(model.network.get_layer(layer), original.network.get_layer(layer))
    head = model.identity_head
    assert head.get_weights()[0].shape[-1] == 9 != original.identity_head.get_weights()[0].shape[-1]
    assert model.center_loss.centers.shape[0] == 9
    assert "freshly initialised identity_logits, center_loss" in caplog.text
    assert "transferred tiny, face_bottleneck" in caplog.text


def test_other_expressions_get_a_fresh_classifier(source, caplog):
    path, names, cache = source
    labels = {"identity_names": names["identity_names"],
              "expression_names": list(reversed(names["expression_names"]))}
    with caplog.at_level(logging.WARNING):
        model = build_model(_config(path, cache), len(names["identity_names"]),
                            len(names["expression_names"]), label_names=labels)
    original = keras.saving.load_model(path)
    assert _differs(model.network.get_layer("expression_logits"),
                    original.network.get_layer("expression_logits"))
    # The same people in the same order: the identity classifier and centers carry over.
    _assert_same(model.identity_head, original.identity_head)
    _assert_same(model.center_loss, original.center_loss)
    assert "expression_logits: 7 expression classes in the source, 7 others here" in caplog.text


def test_trunk_scope_leaves_the_branches_fresh(source):
    path, names, cache = source
    counts = (len(names["identity_names"]), len(names["expression_names"]))
    keras.utils.set_random_seed(0)
    model = build_model(_config(path, cache, init_scope="trunk"), *counts, label_names=names)
    keras.utils.set_random_seed(0)
    fresh = build_model(make_config(cache_dir=cache, **SETTINGS), *counts)
    original = keras.saving.load_model(path)
    _assert_same(model.trunk, original.trunk)
    for layer in ("face_bottleneck", "embedding", "expression_logits", "identity_logits",
                  "dynamic_weight_unit"):
        # Exactly the seeded random initialisation of a run without init_from.
        _assert_same(model.network.get_layer(layer), fresh.network.get_layer(layer))
        if layer != "dynamic_weight_unit":  # zero-initialised in both
            assert _differs(model.network.get_layer(layer), original.network.get_layer(layer))


def _batch_norm_statistics(model):
    return {w.path: np.array(w) for w in model.weights if "moving_" in w.path}


def test_freeze_batchnorm_keeps_the_moving_statistics(source):
    path, names, cache = source
    # The trunk is copied and frozen; the fresh branches' BatchNorm layers train.
    config = _config(path, cache, init_scope="trunk", freeze_batchnorm=True)
    model = build_model(config, 9, len(names["expression_names"]))
    arrays = load_arrays(config)
    images = arrays.images[:16].astype("float32")
    labels = {"identity": np.arange(16) % 9, "expression": arrays.expression[:16]}
    before = _batch_norm_statistics(model)
    kernel = np.array(model.trunk.get_layer("conv1_conv").kernel)
    model.train_on_batch(images, labels)
    after = _batch_norm_statistics(model)
    trunk = [k for k in before if k.startswith("conv")]
    branches = [k for k in before if k.split("/")[0] in ("embedding", "expression_bottleneck_bn")]
    assert len(trunk) == 8 and len(branches) == 4
    assert all(np.array_equal(before[k], after[k]) for k in trunk)
    assert all(not np.array_equal(before[k], after[k]) for k in branches)
    # Frozen statistics, trained convolutions.
    assert not np.array_equal(kernel, np.array(model.trunk.get_layer("conv1_conv").kernel))
    assert sorted(model.frozen_batchnorm) == ["conv1_bn", "conv2_bn", "conv3_bn", "conv4_bn"]


def test_a_fine_tuning_run_saves_frozen_layers_and_resumes(source, tmp_path):
    path, _, cache = source
    run_dir = str(tmp_path / "tuned")
    train(_config(path, cache, out_dir=run_dir, epochs=1, freeze_batchnorm=True,
                  generated_identities=8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The checkpoint a resumed run loads: frozen again, so its optimizer state fits.
        tuned = keras.saving.load_model(os.path.join(run_dir, "checkpoint.keras"))
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    original = keras.saving.load_model(path)
    assert not tuned.trunk.get_layer("conv1_bn").trainable
    assert int(tuned.optimizer.iterations.numpy()) > 0
    np.testing.assert_array_equal(tuned.trunk.get_layer("conv1_bn").moving_mean,
                                  original.trunk.get_layer("conv1_bn").moving_mean)
    # Resuming continues from the run's checkpoint, not from init_from again.
    config = resume_config(run_dir, epochs=2)
    assert config.init_from is None and config.freeze_batchnorm
    with pytest.raises(ValueError, match="--config.init_from=.*--config.resume=True"):
        resume_config(run_dir, init_from=path)


@pytest.mark.parametrize("overrides, flag", [
    ({"image_size": 48}, "--config.image_size"),
    ({"channels": 3}, "--config.channels"),
    ({"backbone": "mobile"}, "--config.backbone"),
    ({"embedding_dim": 32}, "--config.embedding_dim"),
])
def test_a_model_that_does_not_fit_is_refused_naming_the_flag(source, overrides, flag):
    path, names, cache = source
    with pytest.raises(DataError, match=flag):
        build_model(_config(path, cache, **overrides), 9, 7)


def test_embedding_size_may_differ_when_copying_the_trunk_only(source):
    path, _, cache = source
    model = build_model(_config(path, cache, init_scope="trunk", embedding_dim=32), 9, 7)
    _assert_same(model.trunk, keras.saving.load_model(path).trunk)


def test_bad_init_settings_are_refused(source, tmp_path):
    path, _, cache = source
    with pytest.raises(DataError, match="--config.init_from=.*no such file"):
        build_model(_config(str(tmp_path / "none.keras"), cache), 9, 7)
    with pytest.raises(ValueError, match="--config.init_from=.*--config.resume=True"):
        make_config(init_from=path, resume=True)
    with pytest.raises(ValueError, match="--config.freeze_batchnorm=True.*init_from"):
        make_config(freeze_batchnorm=True)
    with pytest.raises(ValueError, match="--config.init_scope=heads: choose one of all, trunk"):
        make_config(init_from=path, init_scope="heads")
