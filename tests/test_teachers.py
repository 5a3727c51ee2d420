"""External embedding teachers: the registry, the cache (computed once, resumed,
keyed by content), unusable images reported and left without a target, and the
targets reaching the distillation loss."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords
from keras_dmtl.losses import embedding_distillation_loss
from keras_dmtl.losses import embedding_target_loss
from keras_dmtl.losses import pairwise_similarity_distillation_loss
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.teachers import cache
from keras_dmtl.teachers import registry
from keras_dmtl.teachers.base import unit
from keras_dmtl.training import config as config_lib
from keras_dmtl.training import run
from keras_dmtl.training import teacher as teacher_lib
from tests.reader_helpers import write_text
from tests.teacher_helpers import NAME
from tests.teacher_helpers import MeanColour

import cv2

CALLS = MeanColour.calls


@pytest.fixture
def fake_teacher():
    CALLS.clear()
    return NAME


def write_png(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8, 3), value, np.uint8))
    return str(path)


def test_the_dlib_teacher_is_registered_with_its_licence():
    entry = registry.lookup("dlib_resnet")
    assert "dlib_resnet" in registry.available()
    assert entry.embedding_dim == 128 and "CC0" in entry.licence
    with pytest.raises(ValueError, match="Unknown embedding teacher 'nope'.*dlib_resnet"):
        registry.lookup("nope")


def test_embeddings_are_computed_once_keyed_by_content_and_resumed(tmp_path, fake_teacher):
    first = [write_png(tmp_path / "a.png", 10), write_png(tmp_path / "b.png", 200)]
    result = cache.teacher_embeddings(first, fake_teacher, str(tmp_path / "cache"),
                                      progress=False)
    assert len(CALLS) == 2 and result.found.tolist() == [True, True]
    np.testing.assert_allclose(result.vectors[0], unit([11, 11, 11]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-6)
    # A copy under another name is the same content: nothing new is computed. A new
    # image (a resumed or grown set) is the only one embedded.
    copy = str(tmp_path / "copy_of_a.png")
    with open(first[0], "rb") as source, open(copy, "wb") as target:
        target.write(source.read())
    grown = first + [copy, write_png(tmp_path / "c.png", 50)]
    again = cache.teacher_embeddings(grown, fake_teacher, str(tmp_path / "cache"),
                                     progress=False)
    assert len(CALLS) == 3
    np.testing.assert_array_equal(again.vectors[2], result.vectors[0])
    np.testing.assert_array_equal(again.vectors[:2], result.vectors)


def test_unreadable_and_faceless_images_get_no_target_and_are_reported(tmp_path, fake_teacher,
                                                                       caplog):
    sources = [write_png(tmp_path / "face.png", 90), write_png(tmp_path / "black.png", 0),
               write_text(tmp_path / "broken.png", "not an image"), str(tmp_path / "gone.png"),
               np.full((6, 6), 30, np.uint8)]
    with caplog.at_level(logging.WARNING):
        result = cache.teacher_embeddings(sources, fake_teacher, str(tmp_path / "cache"),
                                          progress=False)
    assert result.status.tolist() == [cache.EMBEDDED, cache.NO_FACE, cache.UNREADABLE,
                                      cache.UNREADABLE, cache.EMBEDDED]
    assert result.found.tolist() == [True, False, False, False, True]
    assert not result.vectors[1:4].any()
    assert "skipped 1 of 5 images, no face found (e.g. " in caplog.text
    assert "black.png" in caplog.text
    assert "skipped 2 of 5 images, unreadable" in caplog.text


def test_records_carry_the_targets_and_the_loss_ignores_the_faceless(tmp_path, fake_teacher):
    config = config_lib.default_config()
    config.cache_dir = str(tmp_path / "cache")
    config.teacher.embeddings = fake_teacher
    config.embedding_dim = 3
    config.verbose = 0
    config.teacher.workers = 1
    records = FaceRecords([write_png(tmp_path / "a.png", 40), write_png(tmp_path / "b.png", 0)],
                          [0, -1], [-1, -1], ["a", "b"], ["ann"], [], "test")
    records = teacher_lib.with_embedding_teacher(records, config)
    targets = records.extras[TEACHER_EMBEDDING]
    assert targets.shape == (2, 3) and not targets[1].any()
    student = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = embedding_distillation_loss(tf.constant([-1, -1]), student, tf.constant(targets),
                                       0.0)
    # Only the first sample has a target: 1 - its cosine, not averaged with the second.
    assert float(loss) == pytest.approx(1.0 - targets[0, 0], rel=1e-6)
    config.embedding_dim = 128
    with pytest.raises(ValueError, match="3-d embeddings, the student's are 128-d"):
        teacher_lib.with_embedding_teacher(records, config)


def test_a_model_teacher_and_an_external_teacher_are_not_both_taken():
    config = config_lib.default_config()
    config.teacher.model = "runs/teacher"
    config.teacher.embeddings = "dlib_resnet"
    with pytest.raises(ValueError, match="both give the embedding target"):
        config_lib.validate(config)


def test_worker_processes_give_the_same_vectors_and_pass_failures_up(tmp_path, fake_teacher):
    sources = [write_png(tmp_path / f"{value}.png", value) for value in (5, 60, 0, 120)]
    parallel = cache.teacher_embeddings(sources, fake_teacher, str(tmp_path / "parallel"),
                                        workers=2, progress=False)
    alone = cache.teacher_embeddings(sources, fake_teacher, str(tmp_path / "alone"),
                                     workers=1, progress=False)
    np.testing.assert_array_equal(parallel.vectors, alone.vectors)
    assert parallel.found.tolist() == [True, True, False, True]
    # A teacher the workers cannot load (this one is registered in this process
    # only) stops the run with its error; a pool would restart the workers forever.
    registry.register("broken")(type("Broken", (MeanColour,), {}))
    try:
        with pytest.raises(ValueError, match="Unknown embedding teacher 'broken'"):
            cache.teacher_embeddings(sources, "broken", str(tmp_path / "broken"), workers=2,
                                     progress=False)
    finally:
        registry.TEACHERS.remove("broken")


def test_pairwise_similarity_target_matches_a_hand_computation_and_ignores_rotations():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(5, 4))
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    teacher[3] = 0.0  # no face: no target
    student = rng.normal(size=(5, 4))
    identity = np.array([-1, 2, -1, -1, 1])  # sample 1 and 4 have identities (mix 0.5)
    loss = pairwise_similarity_distillation_loss(tf.constant(identity), tf.constant(student),
                                                 tf.constant(teacher), 0.5)
    unit_student = student / np.linalg.norm(student, axis=1, keepdims=True)
    weights = np.array([1.0, 0.5, 1.0, 0.0, 0.5])
    with_target = [0, 1, 2, 4]
    per_sample = {}
    for i in with_target:
        others = [j for j in with_target if j != i]
        per_sample[i] = np.mean([(unit_student[i] @ unit_student[j] - teacher[i] @ teacher[j])
                                 ** 2 for j in others])
    expected = sum(weights[i] * per_sample[i] for i in with_target) / weights.sum()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # A rotation of the teacher's space costs nothing: only the similarities matter.
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    rotated = pairwise_similarity_distillation_loss(
        tf.constant(identity), tf.constant(teacher @ rotation), tf.constant(teacher), 0.5)
    assert float(rotated) == pytest.approx(0.0, abs=1e-6)
    assert float(embedding_target_loss("cosine", tf.constant(identity),
                                       tf.constant(teacher @ rotation), tf.constant(teacher),
                                       0.5)) > 0.1
    with pytest.raises(ValueError, match="choose one of cosine, pairwise"):
        embedding_target_loss("l2", identity, student, teacher, 0.5)


@pytest.mark.parametrize("streaming", ["true", "false"])
def test_shards_are_refused_with_an_external_teacher_streamed_or_loaded(tmp_path, streaming):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "index.json").write_text("{}")
    (shards / "shard-00000.tfrecord").write_bytes(b"")  # a shard folder, never read here
    config = config_lib.default_config()
    config.data_dir = str(shards)
    config.streaming = streaming
    config.teacher.embeddings = "dlib_resnet"
    with pytest.raises(DataError, match="embeds the source photos, which the shards in"):
        run.load_splits(config)


def test_a_run_on_generated_faces_learns_from_an_external_teacher(tmp_path, fake_teacher):
    import glob  # noqa: PLC0415
    import keras  # noqa: PLC0415

    config = config_lib.make_config(
        out_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), image_size=32,
        batch_size=16, epochs=1, embedding_dim=3, generated_identities=6,
        generated_sequences=1, jit_compile=False, verbose=0,
        **{"teacher.embeddings": fake_teacher, "teacher.workers": 1,
           "teacher.embedding_loss": "pairwise", "export.enabled": False})
    run.train(config)
    # Every generated face was embedded by the teacher (its parts hold them all) ...
    parts = glob.glob(str(tmp_path / "cache" / f"teacher_{fake_teacher}_*" / "part-*.npz"))
    embedded = sum(len(np.load(part)["keys"]) for part in parts)
    generated = glob.glob(str(tmp_path / "cache" / "generated_faces_*" / "*" / "*.png"))
    assert embedded == len(set(generated)) > 0
    # ... and the model trained on them with the pairwise target.
    model = keras.saving.load_model(str(tmp_path / "run" / "model.keras"))
    assert model.distillation["embedding_loss"] == "pairwise"


def test_centred_targets_lose_their_common_component_and_keep_the_faceless_empty():
    from keras_dmtl.data.records import FaceArrays  # noqa: PLC0415

    rng = np.random.default_rng(0)
    common = np.full(8, 1.0)
    vectors = common + 0.3 * rng.normal(size=(20, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[[3, 11]] = 0.0  # no face found: no target
    arrays = FaceArrays(images=np.zeros((20, 4, 4, 1), np.uint8), identity=np.arange(20),
                        expression=np.full(20, -1), subject=np.arange(20).astype(str),
                        identity_names=[str(i) for i in range(20)], expression_names=[],
                        source_names=["s"], extras={TEACHER_EMBEDDING: vectors.astype("f4")})
    before = vectors[vectors.any(axis=1)]
    strangers_before = np.mean((before @ before.T)[np.triu_indices(len(before), 1)])
    centred = teacher_lib.centered_embedding_targets(arrays).extras[TEACHER_EMBEDDING]
    assert not centred[[3, 11]].any()
    kept = centred[centred.any(axis=1)]
    np.testing.assert_allclose(np.linalg.norm(kept, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(kept.mean(axis=0), 0.0, atol=0.1)
    strangers_after = np.mean((kept @ kept.T)[np.triu_indices(len(kept), 1)])
    assert strangers_before > 0.8 and abs(strangers_after) < 0.1


def test_a_run_centres_the_targets_of_all_its_sources_when_asked(tmp_path, fake_teacher):
    config = config_lib.make_config(
        cache_dir=str(tmp_path / "cache"), image_size=32, embedding_dim=3,
        generated_identities=4, generated_sequences=1, verbose=0,
        **{"teacher.embeddings": fake_teacher, "teacher.workers": 1})
    plain = run.load_arrays(config)
    centred = run.load_arrays(config_lib.with_updates(
        config, **{"teacher.center_embeddings": True})).extras[TEACHER_EMBEDDING]
    expected = teacher_lib.centered_embedding_targets(plain).extras[TEACHER_EMBEDDING]
    np.testing.assert_allclose(centred, expected, atol=1e-6)
    assert not np.allclose(plain.extras[TEACHER_EMBEDDING], centred, atol=0.05)
