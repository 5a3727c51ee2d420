"""Facial action units as a third task: routing, losses, strategies, saving, data,
a run end to end (in memory and streamed), export and the refusals."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl import weighting
from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.pipeline import make_dataset
from keras_dmtl.data.readers import combine_arrays
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import FaceRecords
from keras_dmtl.data.shards import writer as shard_writer
from keras_dmtl.data.shards.index import read_index
from keras_dmtl.data.shards.streaming import make_shard_training_dataset
from keras_dmtl.data.shards.streaming import split_shards
from keras_dmtl.data.shards.worker import CropSettings
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.experiments.compare import run_experiment
from keras_dmtl.export import tflite
from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.export.onnx_export import export_onnx
from keras_dmtl.export.onnx_export import run_onnx
from keras_dmtl.export.savedmodel import export_saved_model
from keras_dmtl.models.multitask import STEP_VALUE_NAMES
from keras_dmtl.training import finetune
from keras_dmtl.training.action_units import action_unit_settings
from keras_dmtl.training.action_units import keep_labelled_subjects
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import load_splits
from keras_dmtl.training.run import split_in_memory
from keras_dmtl.training.run import train
from tests.core_helpers import NUM_EXPRESSIONS
from tests.core_helpers import make_batch
from tests.core_helpers import losses_on_tape
from tests.core_helpers import make_model
from tests.core_helpers import saved_and_reloaded
from tests.core_helpers import values

UNITS = ["AU1", "AU6", "AU12"]
# P(AU | expression) for the helpers' two expressions.
RELATEDNESS = [[0.9, 0.1, 0.0], [0.2, 0.8, 0.7]]


def _settings(matching_weight=0.5, reverse_weight=0.0):
    return {"names": UNITS, "relatedness": RELATEDNESS, "matching_weight": matching_weight,
            "reverse_weight": reverse_weight}


def _model(strategy="dynamic", **settings):
    return make_model(strategy, action_units=_settings(**settings))


def _batch(batch_size=16, seed=0, no_units=False):
    """The helpers' batch with AU labels: some annotated, some entries and samples not."""
    images, labels = make_batch(batch_size, seed)
    rng = np.random.default_rng(seed + 100)
    units = rng.integers(0, 2, (batch_size, len(UNITS))).astype("float32")
    units[::3] = -1.0  # samples without AU labels
    units[1::4, 0] = -1.0  # single entries not annotated
    labels["expression"][::5] = -1
    labels["action_units"] = np.full_like(units, -1.0) if no_units else units
    return images, labels


def test_the_dynamic_unit_weighs_three_tasks_and_only_l3_trains_it():
    model = _model()
    images, labels = _batch()
    tape, outputs, task_losses, combined = losses_on_tape(model, images, labels)
    weights = outputs["task_weights"].numpy()
    assert weights.shape == (16, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert len(task_losses) == 3
    main_vars, unit_vars = model.main_variables(), model.weight_unit_variables()
    # L3 reaches the unit alone; the total loss reaches everything but the unit.
    assert all(g is None for g in tape.gradient(combined.unit_loss, main_vars))
    assert all(g is None for g in tape.gradient(combined.total, unit_vars))
    assert any(np.abs(g).max() > 0 for g in tape.gradient(combined.unit_loss, unit_vars))
    head = model.network.get_layer("action_unit_logits").trainable_variables
    assert all(np.abs(g).max() > 0 for g in tape.gradient(combined.total, head))

    before = values(unit_vars)
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert any(not np.allclose(a, b) for a, b in zip(before, values(unit_vars)))
    assert model.step_value_names == STEP_VALUE_NAMES[:3] + ("action_unit_loss",) + \
        STEP_VALUE_NAMES[3:] + ("w_action_units",)
    assert set(model.step_value_names) <= set(logs)
    np.testing.assert_allclose(model.last_step.numpy()[-3:].sum(), 1.0, atol=1e-6)


def test_the_dynamic_unit_moves_the_three_weights_as_l3_says():
    # L3 = sum_i w_i / (L_i + eps). From the unit's start (w_i = 1/3 for every image),
    # one SGD step moves bias_j by -lr / 3 * (h_j - mean(h)), h_i = 1 / (L_i + eps):
    # the weight of each task whose loss is above that mean rises, the others fall.
    model = make_model("dynamic", main_lr=0.0, unit_lr=0.5, center_loss_alpha=0.0,
                       action_units=_settings())
    images, labels = _batch()
    bias = model.network.get_layer("dynamic_weight_unit").dense.bias
    start = model(images, training=True)["task_weights"].numpy().mean(axis=0)
    np.testing.assert_allclose(start, 1 / 3, atol=1e-7)
    logs = model.train_on_batch(images, labels, return_dict=True)
    losses = np.array([logs["face_loss"], logs["expression_loss"], logs["action_unit_loss"]])
    assert np.min(np.abs(losses[:, None] - losses[None, :]) + np.eye(3)) > 0.05, losses
    h = 1 / (losses + 0.01)
    np.testing.assert_allclose(bias.numpy(), -0.5 / 3 * (h - h.mean()), rtol=1e-4, atol=1e-7)
    moved = model(images, training=True)["task_weights"].numpy().mean(axis=0) - start
    np.testing.assert_array_equal(np.sign(moved), np.sign(h.mean() - h))
    # The larger a task's loss, the more its weight rises.
    np.testing.assert_array_equal(np.argsort(moved), np.argsort(losses))


def test_a_batch_without_au_labels_trains_on_distribution_matching_only():
    from keras_dmtl.losses import distribution_matching_loss

    model = _model(matching_weight=0.5)
    images, labels = _batch(no_units=True)
    tape, outputs, task_losses, _ = losses_on_tape(model, images, labels)
    # No AU label: the BCE is 0 and every sample lacks a label, so all are matched.
    expected = 0.5 * distribution_matching_loss(outputs["action_unit_logits"],
                                                outputs["expression_logits"], RELATEDNESS)
    np.testing.assert_allclose(task_losses[2].numpy(), expected.numpy(), rtol=1e-6)
    assert task_losses[2].numpy() > 0
    gradients = tape.gradient(task_losses[2], model.main_variables())
    assert all(np.isfinite(g.numpy()).all() for g in gradients if g is not None)
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())


# --------------------------------------------------------------- the AU loss


def _numpy_bce(labels, logits):
    per_entry = np.maximum(logits, 0) - logits * np.maximum(labels, 0) + np.log1p(
        np.exp(-np.abs(logits)))
    mask = labels >= 0
    counts = mask.sum(axis=1)
    per_sample = (per_entry * mask).sum(axis=1) / np.maximum(counts, 1)
    return per_sample[counts > 0].mean() if (counts > 0).any() else 0.0


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _numpy_matching(au_logits, expression_logits, relatedness, mask):
    q = _softmax(expression_logits) @ relatedness
    p = 1 / (1 + np.exp(-au_logits))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = (np.where(q > 0, q * np.log(q / p), 0.0)
              + np.where(q < 1, (1 - q) * np.log((1 - q) / (1 - p)), 0.0))
    per_sample = kl.mean(axis=1)
    return per_sample[mask].mean() if mask.any() else 0.0


def _numpy_reverse(expression_logits, au_logits, relatedness, mask):
    p = 1 / (1 + np.exp(-au_logits))
    table = np.clip(relatedness, 0.01, 0.99)
    log_likelihood = p @ np.log(table).T + (1 - p) @ np.log(1 - table).T
    log_q = log_likelihood - np.log(np.exp(log_likelihood).sum(axis=1, keepdims=True))
    log_p = np.log(_softmax(expression_logits))
    per_sample = (np.exp(log_q) * (log_q - log_p)).sum(axis=1)
    return per_sample[mask].mean() if mask.any() else 0.0


def test_the_au_loss_is_masked_bce_plus_weighted_matching_by_hand():
    model = _model(matching_weight=0.7, reverse_weight=0.3)
    images, labels = _batch(batch_size=8, seed=3)
    outputs = model(images, training=False)
    task_losses, _ = model.compute_task_losses(outputs, labels)
    units, expression = labels["action_units"], labels["expression"]
    au_logits = outputs["action_unit_logits"].numpy().astype(np.float64)
    expression_logits = outputs["expression_logits"].numpy().astype(np.float64)
    relatedness = np.asarray(RELATEDNESS)
    # The coupling applies to the samples lacking either label.
    lacking = (expression < 0) | ~(units >= 0).any(axis=1)
    assert 0 < lacking.sum() < len(lacking)
    expected = (_numpy_bce(units, au_logits)
                + 0.7 * _numpy_matching(au_logits, expression_logits, relatedness, lacking)
                + 0.3 * _numpy_reverse(expression_logits, au_logits, relatedness, lacking))
    np.testing.assert_allclose(task_losses[2].numpy(), expected, rtol=1e-5)


# --------------------------------------------------------------- strategies


@pytest.mark.parametrize("name", weighting.available())
def test_every_strategy_trains_three_tasks(name):
    kwargs = {"weights": (0.2, 0.3, 0.5)} if name == "static" else {}
    model = make_model(weighting.get(name, num_tasks=3, **kwargs),
                       action_units=_settings())
    images, labels = _batch()
    logs = model.train_on_batch(images, labels, return_dict=True)
    assert "w_action_units" in logs and "action_unit_loss" in logs
    assert all(np.isfinite(v) for v in logs.values()), logs


def test_a_strategy_for_two_tasks_is_refused_by_a_three_task_model():
    with pytest.raises(ValueError, match="weighs 2 tasks, the model has 3"):
        _model(strategy=weighting.get("dwa"))
    with pytest.raises(ValueError, match=r"--config.weighting.kwargs.weights.*3 non-negative"):
        _model(strategy="static")


def test_mirrored_three_task_training_matches_one_device():
    script = os.path.join(os.path.dirname(__file__), "mirrored_training.py")
    result = subprocess.run([sys.executable, script, "--action-units"], capture_output=True,
                            text=True, timeout=300, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["max_loss_difference"] < 1e-4
    assert report["max_weight_difference"] < 1e-4


def test_xla_three_task_step_matches_eager():
    images, labels = _batch()
    eager, compiled = _model(), make_model(jit_compile=True, action_units=_settings())
    compiled.set_weights(eager.get_weights())
    first = eager.train_on_batch(images, labels, return_dict=True)
    second = compiled.train_on_batch(images, labels, return_dict=True)
    for key in first:
        np.testing.assert_allclose(second[key], first[key], rtol=1e-4, atol=1e-5, err_msg=key)


# ------------------------------------------------------------ serialization


def test_a_three_task_model_saves_and_loads(tmp_path):
    model = _model(reverse_weight=0.2)
    images, labels = _batch()
    model.train_on_batch(images, labels)
    restored = saved_and_reloaded(model, images, tmp_path)
    assert restored.action_unit_names == UNITS and restored.task_names == model.task_names
    assert restored.get_config()["action_units"] == model.get_config()["action_units"]
    next_images, next_labels = _batch(seed=1)
    original = model.train_on_batch(next_images, next_labels, return_dict=True)
    resumed = restored.train_on_batch(next_images, next_labels, return_dict=True)
    for key in original:
        np.testing.assert_allclose(resumed[key], original[key], rtol=1e-5, atol=1e-6)


def test_the_two_task_model_is_unchanged(tmp_path):
    assert STEP_VALUE_NAMES == ("loss", "face_loss", "expression_loss", "weight_loss", "w_face",
                                "w_expression")
    model = make_model()
    assert model.step_value_names == STEP_VALUE_NAMES and model.action_unit_names == []
    assert "action_units" not in model.get_config() and model.weight_unit.num_tasks == 2
    assert set(model(make_batch()[0])) == {"embedding", "identity_logits", "expression_logits",
                                           "task_weights"}
    # A three-task run can start from a two-task model: the unit and the AU head are new.
    path = tmp_path / "two.keras"
    model.save(path)
    report = finetune.initialise_from(_model(), str(path))
    assert "dynamic_weight_unit" in report["fresh"] and "action_unit_logits" in report["fresh"]


def test_batches_without_au_labels_are_refused_by_a_three_task_model():
    images, labels = make_batch()
    with pytest.raises(ValueError, match="action_units.enabled=True.*labels\\['action_units'\\]"):
        _model().train_on_batch(images, labels)


def test_bad_au_settings_are_refused():
    with pytest.raises(ValueError, match=r"relatedness: a \(2, 3\) matrix"):
        make_model(action_units={"names": UNITS, "relatedness": [[0.5] * 3]})
    with pytest.raises(ValueError, match="--config.action_units.matching_weight=-1"):
        make_model(action_units={**_settings(), "matching_weight": -1})
    with pytest.raises(ValueError, match="--config.action_units.relatedness=often"):
        make_config(**{"action_units.relatedness": "often"})
    with pytest.raises(ValueError, match="--config.action_units.reverse_weight=-0.5"):
        make_config(**{"action_units.reverse_weight": -0.5})
    with pytest.raises(ValueError, match="--config.action_units.enabled=True: the comparison"):
        run_experiment(make_config(**{"action_units.enabled": True}))


# --------------------------------------------------------------------- data


def _arrays(count=6, units=True, seed=0):
    rng = np.random.default_rng(seed)
    return FaceArrays(
        images=rng.integers(0, 255, (count, 16, 16, 1), dtype=np.uint8),
        identity=np.arange(count) % 3, expression=np.arange(count) % NUM_EXPRESSIONS,
        subject=np.array([f"s{i % 3}" for i in range(count)]),
        identity_names=["a", "b", "c"], expression_names=["happy", "surprise"],
        action_units=rng.integers(-1, 2, (count, 2)) if units else None,
        action_unit_names=["AU1", "AU12"] if units else [])


def test_batches_carry_au_labels_and_a_source_without_them_gives_minus_one():
    combined = combine_arrays([_arrays(), _arrays(4, units=False, seed=1)], ["ck", "jaffe"])
    images, labels = next(iter(make_dataset(combined, 10, training=False, action_units=True)))
    assert labels["action_units"].dtype == tf.float32
    np.testing.assert_array_equal(labels["action_units"][:6], combined.action_units[:6])
    np.testing.assert_array_equal(labels["action_units"][6:], -1.0)
    # Off: the batches are the two-task ones.
    _, plain = next(iter(make_dataset(combined, 10, training=False)))
    assert set(plain) == {"identity", "expression"}


def test_a_dataset_without_au_labels_is_refused_naming_the_flag_and_the_data():
    config = make_config(data_dir="/data/jaffe", **{"action_units.enabled": True})
    with pytest.raises(DataError, match="action_units.enabled=True: the training data "
                                        r"\(/data/jaffe: data\) has no action-unit labels"):
        action_unit_settings(config, _arrays(units=False))
    with pytest.raises(DataError, match="action_units.enabled=True: the data"):
        make_dataset(_arrays(units=False), 4, training=True, action_units=True)


def test_scarce_au_labels_keep_a_seeded_share_of_the_training_subjects():
    arrays = _arrays(count=30)
    arrays.subject = np.array([f"s{i % 10}" for i in range(30)])
    arrays.action_units[::4] = 1  # every subject has labels to lose
    kept = keep_labelled_subjects(arrays, 0.3, seed=4)
    labelled = {s for s, row in zip(kept.subject, kept.action_units) if (row >= 0).any()}
    assert len(labelled) == 3  # three of ten subjects keep theirs
    assert labelled != {s for s, row in zip(
        arrays.subject, keep_labelled_subjects(arrays, 0.3, seed=5).action_units)
        if (row >= 0).any()}  # another seed, others
    for subject in set(arrays.subject) - labelled:
        assert (kept.action_units[arrays.subject == subject] == -1).all()
    for subject in labelled:  # untouched where kept
        np.testing.assert_array_equal(kept.action_units[arrays.subject == subject],
                                      arrays.action_units[arrays.subject == subject])
    np.testing.assert_array_equal(keep_labelled_subjects(arrays, 0.3, 4).action_units,
                                  kept.action_units)
    assert keep_labelled_subjects(arrays, 1.0, 4) is arrays
    with pytest.raises(ValueError, match="action_units.labelled_subjects=1.5"):
        make_config(**{"action_units.labelled_subjects": 1.5})


def test_relatedness_sources_and_their_refusals(tmp_path):
    arrays = _arrays()
    enabled = {"action_units.enabled": True}
    settings = action_unit_settings(make_config(**enabled), arrays)
    assert settings["names"] == ["AU1", "AU12"] and np.shape(settings["relatedness"]) == (2, 2)
    prior = action_unit_settings(make_config(**enabled, **{"action_units.relatedness": "prior"}),
                                 arrays)
    assert prior["relatedness"][0][1] == 1.0  # happy: AU12 always
    table = tmp_path / "table.csv"
    table.write_text("expression,AU1,AU12\nhappy,0,0.9\nsurprise,1,0\n")
    loaded = action_unit_settings(
        make_config(**enabled, **{"action_units.relatedness": str(table)}), arrays)
    assert loaded["relatedness"] == [[0.0, pytest.approx(0.9)], [1.0, 0.0]]
    with pytest.raises(DataError, match="--config.action_units.relatedness=prior: .*contempt"):
        action_unit_settings(make_config(**enabled, **{"action_units.relatedness": "prior"}),
                             FaceArrays(**{**arrays.__dict__,
                                           "expression_names": ["contempt", "happy"]}))
    missing = str(tmp_path / "none.csv")
    with pytest.raises(DataError, match=f"relatedness={missing}: .*does not exist"):
        action_unit_settings(make_config(**enabled, **{"action_units.relatedness": missing}),
                             arrays)
    unlabelled = FaceArrays(**{**arrays.__dict__, "expression": np.full(len(arrays), -1)})
    with pytest.raises(DataError, match="relatedness=estimated: no training sample"):
        action_unit_settings(make_config(**enabled), unlabelled)


def test_shards_without_au_labels_are_refused(tmp_path):
    arrays = _arrays(units=False)
    records = FaceRecords(list(arrays.images[..., 0]), arrays.identity, arrays.expression,
                          arrays.subject, arrays.identity_names, arrays.expression_names,
                          "plain")
    shards = str(tmp_path / "shards")
    shard_writer.write_shards(shard_writer.plan_records(records), shards,
                              CropSettings(16, 1, "none", FACE_MARGIN, "png"), workers=1)
    index = read_index(shards)
    assert index.action_unit_names == []
    assert "action_unit_names" not in json.loads((tmp_path / "shards" / "index.json").read_text())
    train_split = split_shards(index, (0.34, 0.33, 0.33), 0)[0]
    with pytest.raises(DataError, match="action_units.enabled=True: the shards in .* carry no"):
        make_shard_training_dataset(train_split, 2, 0, 0, 1, action_units=True)


# --------------------------------------------------------------- end to end


def _run_config(tmp_path, cache, **overrides):
    settings = dict(out_dir=str(tmp_path / "run"), cache_dir=str(cache), image_size=16,
                    batch_size=16, epochs=1, embedding_dim=16, generated_identities=6,
                    generated_sequences=1, val_fraction=0.2, test_fraction=0.2,
                    jit_compile="false", verbose=0,
                    **{"action_units.enabled": True, "weighting.name": "dynamic"})
    settings.update(overrides)
    return make_config(**settings)


def _f1_by_hand(labels, probabilities):
    """Per column: 2 TP / (2 TP + FP + FN) over its annotated entries (None if 0 / 0)."""
    scores = []
    for truth, predicted in zip(labels.T, probabilities.T >= 0.5):
        annotated = truth >= 0
        tp = np.sum(annotated & (truth == 1) & predicted)
        fp = np.sum(annotated & (truth == 0) & predicted)
        fn = np.sum(annotated & (truth == 1) & ~predicted)
        scores.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None)
    return scores


def _check_run(metrics, run, config):
    saved = json.loads((run / "metrics.json").read_text())
    scores = saved["test"]["action_units"]
    names = json.loads((run / "labels.json").read_text())["action_unit_names"]
    assert set(scores["f1"]) == set(names)
    # The test split's F1 per AU and their mean, from the trained model's predictions.
    model = keras.saving.load_model(run / "model.keras")
    test, _ = split_in_memory(load_splits(config), "test")
    column = {name: j for j, name in enumerate(test.action_unit_names)}
    labels = np.stack([test.action_units[:, column[name]] if name in column
                       else np.full(len(test), -1) for name in names], axis=1)
    logits = model.network.predict(test.images.astype(np.float32), verbose=0)[
        "action_unit_logits"]
    expected = _f1_by_hand(labels, 1 / (1 + np.exp(-logits.astype(np.float64))))
    assert [scores["f1"][name] for name in names] == pytest.approx(expected, abs=1e-12)
    defined = [value for value in expected if value is not None]
    assert defined and scores["mean_f1"] == pytest.approx(np.mean(defined), abs=1e-12)
    assert set(saved["final_task_weights"]) == {"w_face", "w_expression", "w_action_units"}
    assert "action_unit_loss" in saved["train_mode_last_epoch"]
    assert metrics["test"]["action_units"] == scores


def test_a_run_trains_three_tasks_in_memory_and_streamed(tmp_path):
    in_memory = _run_config(tmp_path / "memory", tmp_path / "cache")
    _check_run(train(in_memory), tmp_path / "memory" / "run", in_memory)
    shards = str(tmp_path / "shards")
    shard_writer.write_shards(shard_writer.plan_generated(120, 6), shards,
                              CropSettings(16, 1, "none", FACE_MARGIN, "png"), shard_size=64,
                              workers=1)
    assert read_index(shards).action_unit_names[:3] == ["AU1", "AU2", "AU4"]
    streamed = _run_config(tmp_path / "streamed", tmp_path / "cache", data_dir=shards)
    _check_run(train(streamed), tmp_path / "streamed" / "run", streamed)


# ------------------------------------------------------------------- export


def test_the_export_formats_carry_au_probabilities(tmp_path):
    model = _model()
    images, labels = _batch(32)
    model.train_on_batch(images, labels)
    inference = build_inference_model(model)
    expected = inference(images[:4])["action_unit_probabilities"].numpy()
    np.testing.assert_allclose(
        expected, tf.sigmoid(model(images[:4])["action_unit_logits"]).numpy(), rtol=1e-6)
    directory = str(tmp_path / "serving" / "dmtl" / "1")
    export_saved_model(inference, directory, threshold=0.5)
    served = tf.saved_model.load(directory).signatures["serving_default"](
        images=tf.constant(images[:4]))
    np.testing.assert_allclose(served["action_unit_probabilities"], expected, atol=1e-5)
    path = tmp_path / "model.tflite"
    path.write_bytes(tflite.convert(directory, "float32"))
    lite = LiteRTFaceModel(str(path))(images[:4])
    np.testing.assert_allclose(lite["action_unit_probabilities"], expected, atol=1e-5)
    onnx_path = str(tmp_path / "model.onnx")
    assert "action_unit_probabilities" in export_onnx(inference, onnx_path)
    np.testing.assert_allclose(run_onnx(onnx_path, images[:4])["action_unit_probabilities"],
                               expected, atol=1e-5)
    with pytest.raises(ValueError, match="different action units"):
        build_inference_model([model, make_model()])
