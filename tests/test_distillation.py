"""Teacher soft labels: the losses against hand computations, the model's routing,
targets computed once and reused, and a student trained on two one-label sources."""

import json
import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.readers import combine
from keras_dmtl.data.readers import read_dataset
from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards import writer as shard_writer
from keras_dmtl.data.shards.streaming import make_shard_dataset
from keras_dmtl.data.shards.streaming import make_shard_training_dataset
from keras_dmtl.data.shards.worker import CropSettings
from keras_dmtl.losses import embedding_distillation_loss
from keras_dmtl.losses import soft_label_divergence
from keras_dmtl.losses import soft_label_expression_loss
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.losses.distillation import TEACHER_EXPRESSION
from keras_dmtl.training import teacher as teacher_lib
from keras_dmtl.training.config import make_config
from keras_dmtl.training.config import with_updates
from keras_dmtl.training.run import load_arrays
from keras_dmtl.training.run import load_splits
from keras_dmtl.training.run import train
from tests.core_helpers import make_batch
from tests.core_helpers import make_model
from tests.test_multi_source import sources  # noqa: F401 (a fixture)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


TEACHER = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]], np.float32)
STUDENT = np.array([[1.0, 1.0, 0.0], [0.5, -0.5, 1.0], [3.0, 0.0, 0.0]], np.float32)


def _hand_divergence(temperature):
    teacher = _log_softmax(TEACHER / temperature)
    student = _log_softmax(STUDENT / temperature)
    return temperature**2 * (np.exp(teacher) * (teacher - student)).sum(axis=1)


def test_soft_label_divergence_is_hintons_term():
    for temperature in (1.0, 2.0, 4.0):
        got = soft_label_divergence(TEACHER, STUDENT, temperature).numpy()
        np.testing.assert_allclose(got, _hand_divergence(temperature), rtol=1e-5)
    assert np.allclose(soft_label_divergence(TEACHER, TEACHER, 2.0).numpy(), 0.0, atol=1e-6)


def test_soft_label_expression_loss_fills_missing_labels_and_mixes_present_ones():
    labels = np.array([0, -1, 2], np.int32)
    hard = np.array([0.7, 123.0, 1.1], np.float32)  # 123: ignored, the label is missing
    soft = _hand_divergence(2.0)
    for mix in (0.0, 0.3):
        expected = np.mean([(1 - mix) * 0.7 + mix * soft[0], soft[1],
                            (1 - mix) * 1.1 + mix * soft[2]])
        got = soft_label_expression_loss(labels, STUDENT, TEACHER, 2.0, mix, hard).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_embedding_distillation_is_one_minus_cosine_over_the_weighted_samples():
    rng = np.random.default_rng(0)
    student = rng.normal(size=(4, 5)).astype(np.float32)
    teacher = rng.normal(size=(4, 5)).astype(np.float32)
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    cosine = (student / np.linalg.norm(student, axis=1, keepdims=True) * teacher).sum(axis=1)
    identity = np.array([3, -1, -1, 0], np.int32)
    weights = np.array([0.25, 1.0, 1.0, 0.25])
    got = embedding_distillation_loss(identity, student, teacher, 0.25).numpy()
    np.testing.assert_allclose(got, (weights * (1 - cosine)).sum() / weights.sum(), rtol=1e-5)
    # Every sample has its identity and mix is 0: nothing to distil, exactly 0, no NaN.
    variable = tf.Variable(student)
    with tf.GradientTape() as tape:
        loss = embedding_distillation_loss(np.arange(4), variable, teacher, 0.0)
    assert float(loss) == 0.0
    assert np.isfinite(tape.gradient(loss, variable).numpy()).all()


def test_the_model_learns_expressions_from_the_teacher_where_labels_are_missing():
    settings = {"temperature": 2.0, "mix": 0.0, "embedding_weight": 1.0}
    model = make_model(distillation=settings)
    images, labels = make_batch(expression_missing=True)
    outputs = model(images, training=True)
    plain, _ = model.compute_task_losses(outputs, labels)
    assert float(plain[1]) == 0.0  # no expression label: nothing to learn from
    rng = np.random.default_rng(1)
    teacher_embedding = rng.normal(size=(len(images), 8)).astype(np.float32)
    with_teacher = {**labels,
                    TEACHER_EXPRESSION: rng.normal(size=(len(images), 2)).astype(np.float32),
                    TEACHER_EMBEDDING: teacher_embedding / np.linalg.norm(
                        teacher_embedding, axis=1, keepdims=True)}
    taught, _ = model.compute_task_losses(outputs, with_teacher)
    expected = soft_label_divergence(with_teacher[TEACHER_EXPRESSION],
                                     outputs["expression_logits"], 2.0).numpy().mean()
    np.testing.assert_allclose(float(taught[1]), expected, rtol=1e-5)
    # Every sample has its identity (mix 0): the face loss is unchanged.
    np.testing.assert_allclose(float(taught[0]), float(plain[0]), rtol=1e-6)
    assert model.get_config()["distillation"] == settings
    logs = model.train_on_batch(images, with_teacher, return_dict=True)
    assert np.isfinite(logs["expression_loss"]) and logs["expression_loss"] > 0


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, sources):  # noqa: F811
    _, _, cache = sources
    out = tmp_path_factory.mktemp("teacher") / "run"
    train(make_config(out_dir=str(out), cache_dir=cache, image_size=16, batch_size=16,
                      embedding_dim=16, epochs=2, generated_identities=6, verbose=0,
                      jit_compile="false", **{"export.enabled": False}))
    return str(out)


def _student_config(sources, teacher_run, **overrides):  # noqa: F811
    identities, manifest, cache = sources
    settings = dict(data_dir=f"{identities},{manifest}", cache_dir=cache, image_size=16,
                    batch_size=16, embedding_dim=16, jit_compile="false", verbose=0,
                    val_fraction=0.25, test_fraction=0.25, epochs=1,
                    **{"teacher.model": teacher_run, "export.enabled": False})
    settings.update(overrides)
    return make_config(**settings)


def test_teacher_targets_are_computed_once_and_reused(sources, teacher_run, monkeypatch):  # noqa: F811
    arrays = load_arrays(_student_config(sources, teacher_run))
    assert arrays.extras[TEACHER_EXPRESSION].shape == (len(arrays), 7)
    np.testing.assert_allclose(np.linalg.norm(arrays.extras[TEACHER_EMBEDDING], axis=1), 1.0,
                               rtol=1e-5)

    def no_teacher_run(*args, **kwargs):
        raise AssertionError("the cached soft labels should have been used")

    monkeypatch.setattr(teacher_lib, "load_source", no_teacher_run)
    again = load_arrays(_student_config(sources, teacher_run))
    np.testing.assert_array_equal(again.extras[TEACHER_EXPRESSION],
                                  arrays.extras[TEACHER_EXPRESSION])


def test_soft_labels_follow_the_run_class_order(sources, teacher_run, tmp_path):  # noqa: F811
    arrays = load_arrays(_student_config(sources, teacher_run))
    names = json.loads(open(f"{teacher_run}/labels.json").read())["expression_names"]
    reordered = arrays.subset(np.arange(len(arrays)))
    reordered.expression_names = list(reversed(names))
    targets = teacher_lib.teacher_targets(teacher_run, reordered, str(tmp_path))
    np.testing.assert_allclose(targets[TEACHER_EXPRESSION],
                               arrays.extras[TEACHER_EXPRESSION][:, ::-1], rtol=1e-5)


def _distance_to_teacher(model, part, temperature):
    """Over the images lacking the label the teacher fills in, by hand: the mean
    KL(teacher || student) of the softened expression distributions, and the mean
    1 - cosine of the student's embedding with the teacher's."""
    # Batch statistics, as in training: after one epoch the moving ones still lag.
    outputs = {name: value.numpy() for name, value in model.network(
        part.images.astype(np.float32), training=True).items()}
    no_expression, no_identity = part.expression < 0, part.identity < 0
    teacher = _log_softmax(part.extras[TEACHER_EXPRESSION][no_expression] / temperature)
    student = _log_softmax(outputs["expression_logits"][no_expression] / temperature)
    divergence = np.mean(np.sum(np.exp(teacher) * (teacher - student), axis=1))
    embedding = outputs["embedding"][no_identity].astype(np.float64)
    cosine = np.sum(embedding * part.extras[TEACHER_EMBEDDING][no_identity], axis=1) / (
        np.linalg.norm(embedding, axis=1))
    return divergence, np.mean(1 - cosine)


def test_a_student_of_two_one_label_sources_ends_nearer_its_teacher(sources, teacher_run,  # noqa: F811
                                                                    tmp_path):
    config = _student_config(sources, teacher_run, out_dir=str(tmp_path / "student"), epochs=2,
                             learning_rate=1e-2)
    metrics = train(config)
    assert set(metrics["test"]["sources"]) == {"lfw", "manifest"}
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["teacher"]["model"] == teacher_run
    # Where a student image lacks a label (lfw: no expression; the manifest's people:
    # no identity), the teacher's targets pull the student toward the teacher: closer
    # than the same run without a teacher ends (plain training moves it some of the
    # way too: the teacher started from the same seed's weights). Two epochs at a
    # higher learning rate than the default, for the pull to show.
    alone = with_updates(config, out_dir=str(tmp_path / "alone"), **{"teacher.model": None})
    train(alone)
    train_part = load_splits(config).train
    distances = [_distance_to_teacher(keras.saving.load_model(tmp_path / run / "model.keras"),
                                      train_part, config.teacher.temperature)
                 for run in ("student", "alone")]
    # Measured: KL 0.008 against 0.040 alone, 1 - cosine 0.80 against 0.94.
    assert distances[0][0] < 0.5 * distances[1][0], distances  # expression KL
    assert distances[0][1] < 0.9 * distances[1][1], distances  # 1 - embedding cosine


@pytest.mark.parametrize("overrides, message", [
    (dict(embedding_dim=8), "its embedding has 16 dimensions, the student's 8"),
    (dict(image_size=24), "the teacher takes 16 px crops"),
])
def test_a_teacher_that_does_not_fit_is_named(sources, teacher_run, overrides, message):  # noqa: F811
    with pytest.raises(DataError, match=message):
        load_arrays(_student_config(sources, teacher_run, **overrides))


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(DataError, match="teacher.model=.*the folder has no model.keras"):
        teacher_lib.teacher_targets(str(tmp_path), None)


def test_streamed_shards_carry_the_teachers_soft_labels_written_once(sources, teacher_run,  # noqa: F811
                                                                      tmp_path, monkeypatch):
    identities, manifest, _ = sources
    shards = str(tmp_path / "shards")
    shard_writer.write_shards(
        shard_writer.plan_records(combine([read_dataset(identities), read_dataset(manifest)])),
        shards, CropSettings(16, 1, "none", FACE_MARGIN, "png"), shard_size=32, workers=1)
    config = _student_config(sources, teacher_run, data_dir=shards, streaming="true",
                             cache_dir=str(tmp_path / "cache"), out_dir=str(tmp_path / "run"))
    splits = load_splits(config)
    files = splits.train.soft_labels
    index = splits.train.index
    assert sorted(os.listdir(files.root)) == sorted(index.shard_files + ["soft_labels.json"])
    assert files.widths == {TEACHER_EXPRESSION: 7, TEACHER_EMBEDDING: 16}
    # Every streamed example carries what the teacher says of its own crop, in
    # evaluation order and through the training stream's window shuffles.
    shuffled, _ = make_shard_training_dataset(splits.train, 16, 0, 0, 1, augment=False)
    for images, labels in [*make_shard_dataset(splits.validation, 64).take(1),
                           *shuffled.take(1)]:
        crops = SimpleNamespace(images=images.numpy().astype(np.uint8),
                                expression_names=index.expression_names)
        expected = teacher_lib.teacher_targets(teacher_run, crops)
        for key in (TEACHER_EXPRESSION, TEACHER_EMBEDDING):
            np.testing.assert_allclose(labels[key].numpy(), expected[key], atol=1e-4)

    def no_teacher_run(*args, **kwargs):
        raise AssertionError("the stored soft labels should have been used")

    monkeypatch.setattr(teacher_lib, "load_source", no_teacher_run)
    assert load_splits(config).train.soft_labels == files
    metrics = train(config)  # a streamed student trains on them
    assert set(metrics["test"]["sources"]) == {"lfw", "manifest"}
