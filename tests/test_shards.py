"""Shards: written once (resumably, in parallel), streamed by train.py like the in-memory data.

A shard set must hold what the in-memory path loads, split every subject the
same way, give the same labels and split sizes to a run, stream an epoch from
(seed, epoch) alone (so that resume keeps working), and refuse an out_dir or a
shard set it cannot trust, with one line naming it.
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.faces.loading import load_faces
from keras_dmtl.data.generated.synthetic import write_synthetic_dataset
from keras_dmtl.data.readers import read_ckplus48
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import FaceRecords
from keras_dmtl.data.shards import worker as shard_worker
from keras_dmtl.data.shards import writer as shard_writer
from keras_dmtl.data.shards.index import is_shard_dir
from keras_dmtl.data.shards.index import read_index
from keras_dmtl.data.shards.streaming import make_shard_dataset
from keras_dmtl.data.shards.streaming import make_shard_training_dataset
from keras_dmtl.data.shards.streaming import read_shard_arrays
from keras_dmtl.data.shards.streaming import read_split_arrays
from keras_dmtl.data.shards.worker import CropSettings
from keras_dmtl.training import evaluate
from keras_dmtl.training.checkpoint import read_checkpoint_state
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import load_splits
from keras_dmtl.training.run import split_arrays
from keras_dmtl.training.run import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16  # the size of tests.core_helpers' models
SETTINGS = CropSettings(SIZE, 1, "none", FACE_MARGIN, "png")
FRACTIONS = dict(val_fraction=0.2, test_fraction=0.2)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """(a generated CK+48 folder of 10 people, 210 images; its shards)."""
    root = tmp_path_factory.mktemp("shards")
    folder = write_synthetic_dataset(str(root / "faces"), num_identities=10, image_size=48)
    shards = str(root / "shards")
    shard_writer.write_shards(shard_writer.plan_records(read_ckplus48(folder)), shards,
                              SETTINGS, shard_size=64, workers=1)
    return folder, shards


def _config(data_dir, **overrides):
    settings = dict(data_dir=data_dir, image_size=SIZE, batch_size=16, embedding_dim=16,
                    jit_compile=False, verbose=0, seed=1, **FRACTIONS)
    settings.update(overrides)
    return make_config(**settings)


def _rows(arrays, identity_names=None):
    """A split's samples as a sorted list of comparable tuples."""
    names = identity_names or arrays.identity_names
    return sorted((str(subject), names[i] if i >= 0 else "", int(e), image.tobytes())
                  for subject, i, e, image in zip(arrays.subject, arrays.identity,
                                                  arrays.expression, arrays.images))


def test_shards_hold_and_split_what_the_in_memory_path_loads(faces):
    folder, shards = faces
    index = read_index(shards)
    assert (index.examples, len(index.files), index.shard_examples[-1]) == (210, 4, 18)
    loaded = load_faces(read_ckplus48(folder), SIZE, 1)
    assert _rows(read_shard_arrays(index)) == _rows(loaded)

    in_memory = split_arrays(loaded, _config(folder))
    streamed = load_splits(_config(shards))
    for name in ("train", "validation", "test"):
        expected, part = getattr(in_memory, name), getattr(streamed, name)
        assert part.subjects == sorted(set(expected.subject)), name
        assert part.identity_names == expected.identity_names
        arrays, subjects = read_split_arrays(part)
        assert _rows(arrays) == _rows(expected), name
        assert sorted(subjects) == sorted(in_memory.verification_subjects[name])
    # The validation stream train.py scores on each epoch: the same images and labels.
    batches = list(make_shard_dataset(streamed.validation, 16).as_numpy_iterator())
    images = np.concatenate([b[0] for b in batches]).astype(np.uint8)
    identity = np.concatenate([b[1]["identity"] for b in batches])
    assert sorted(zip(identity, (i.tobytes() for i in images))) == sorted(
        zip(in_memory.validation.identity, (i.tobytes() for i in in_memory.validation.images)))


def test_train_one_epoch_from_shards(faces, tmp_path):
    folder, shards = faces
    config = _config(shards, out_dir=str(tmp_path / "run"), epochs=1)
    metrics = train(config)
    in_memory = split_arrays(load_faces(read_ckplus48(folder), SIZE, 1), _config(folder))
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    assert labels["identity_names"] == in_memory.train.identity_names
    assert labels["split_subjects"] == {
        name: sorted(set(getattr(in_memory, name).subject))
        for name in ("train", "validation", "test")}
    for name in ("train", "validation", "test"):
        assert metrics[name]["samples"] == len(getattr(in_memory, name))
        assert {"expression", "verification", "task_weights_mean"} <= set(metrics[name])
    state = read_checkpoint_state(tmp_path / "run" / "checkpoint.keras")
    assert state["global_step"] == len(in_memory.train) // config.batch_size


def test_streamed_evaluation_scores_what_in_memory_evaluation_scores(faces):
    from tests.core_helpers import make_model

    model = make_model()
    test = load_splits(_config(faces[1])).test
    arrays, subjects = read_split_arrays(test)
    streamed = evaluate.evaluate_split(model, test, None, batch_size=16, seed=1)
    assert streamed == evaluate.evaluate_split(model, arrays, subjects, batch_size=16, seed=1)
    assert streamed["samples"] == len(test) and "verification" in streamed


def test_a_streamed_epoch_depends_on_seed_and_epoch_only(faces):
    train_split = load_splits(_config(faces[1])).train
    batch_size = 14
    assert len(train_split) % batch_size == 0  # 6 people x 21 images: no partial batch
    dataset, steps = make_shard_training_dataset(train_split, batch_size, 1, 0, 2)
    batches = list(dataset.as_numpy_iterator())
    first, second = batches[:steps], batches[steps:]
    resumed, _ = make_shard_training_dataset(train_split, batch_size, 1, 1, 2)
    resumed = list(resumed.as_numpy_iterator())
    assert len(resumed) == steps
    for ours, theirs in zip(second, resumed):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1]["identity"], theirs[1]["identity"])
    assert not np.array_equal(first[0][1]["identity"], second[0][1]["identity"])
    # An epoch holds every training example once.
    arrays, _ = read_split_arrays(train_split)
    for epoch in (first, second):
        labels = sorted(zip(np.concatenate([b[1]["identity"] for b in epoch]),
                            np.concatenate([b[1]["expression"] for b in epoch])))
        assert labels == sorted(zip(arrays.identity, arrays.expression))


def test_writer_resumes_after_a_kill(tmp_path, monkeypatch):
    plan = shard_writer.plan_generated(200, 20)
    out = tmp_path / "shards"
    write = shard_writer._write_shard
    calls = []

    def killed_in_the_third_shard(*args):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(*args)

    monkeypatch.setattr(shard_writer, "_write_shard", killed_in_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        shard_writer.write_shards(plan, str(out), SETTINGS, shard_size=50, workers=1)
    monkeypatch.setattr(shard_writer, "_write_shard", write)
    finished = sorted(name for name in os.listdir(out) if name.endswith(".tfrecord"))
    assert len(finished) == 2 and not (out / "index.json").exists()
    (out / ".tmp-killed.tfrecord").write_bytes(b"half a shard")  # what a kill -9 leaves
    before = {name: (out / name).stat().st_mtime_ns for name in finished}

    made = []
    run_job = shard_worker.run_job
    monkeypatch.setattr(shard_worker, "run_job", lambda job: made.append(job.shard) or run_job(job))
    index = shard_writer.write_shards(plan, str(out), SETTINGS, shard_size=50, workers=1)
    assert made == [2, 3]
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == before
    assert not [name for name in os.listdir(out) if name.startswith(".tmp-")]
    assert sorted(os.listdir(out)) == sorted(finished + ["index.json", *index.shard_files[2:]])

    straight = shard_writer.write_shards(plan, str(tmp_path / "straight"), SETTINGS,
                                         shard_size=50, workers=1)
    for resumed_file, straight_file in zip(index.files, straight.files):
        assert open(resumed_file, "rb").read() == open(straight_file, "rb").read()
    made.clear()
    shard_writer.write_shards(plan, str(out), SETTINGS, shard_size=50, workers=1)
    assert made == []  # complete: nothing to do


def test_an_out_dir_of_other_data_or_files_is_refused(tmp_path):
    plan = shard_writer.plan_generated(60, 6)
    shards = tmp_path / "shards"
    shard_writer.write_shards(plan, str(shards), SETTINGS, shard_size=32, workers=1)
    with pytest.raises(DataError, match=r"other data or settings \(image_size: 16 there, 48 now"):
        shard_writer.write_shards(plan, str(shards), CropSettings(48, 1, "none", FACE_MARGIN,
                                                                  "png"), workers=1)
    with pytest.raises(DataError, match="dataset's files or labels"):
        shard_writer.write_shards(shard_writer.plan_generated(60, 7), str(shards), SETTINGS,
                                  shard_size=32, workers=1)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty and holds no shards"):
        shard_writer.write_shards(plan, str(other), SETTINGS, workers=1)
    assert os.listdir(other) == ["keep.txt"]


def test_bad_images_stop_the_writer_or_are_skipped(tmp_path):
    paths = []
    for number in range(6):
        path = tmp_path / f"face{number}.png"
        cv2.imwrite(str(path), np.full((40, 40), 40 * number, np.uint8))
        paths.append(str(path))
    (tmp_path / "face5.png").write_bytes(b"not a png")
    records = FaceRecords(paths, np.arange(6) % 3, np.full(6, -1), [f"s{i % 3}" for i in range(6)],
                          ["a", "b", "c"], ["happy"], "manifest")
    plan = shard_writer.plan_records(records)
    with pytest.raises(DataError, match=r"face5.png: unreadable or corrupt.*--skip_bad_images"):
        shard_writer.write_shards(plan, str(tmp_path / "strict"), SETTINGS, workers=1)
    index = shard_writer.write_shards(plan, str(tmp_path / "lenient"), SETTINGS, workers=1,
                                      skip_bad_images=True)
    assert index.examples == 5 and list(index.subject_examples) == [2, 2, 1]


def test_shards_that_do_not_fit_the_run_are_refused(faces, tmp_path):
    folder, shards = faces
    with pytest.raises(DataError, match="holds 16 px crops.*--config.image_size=16"):
        load_splits(_config(shards, image_size=48))
    with pytest.raises(DataError, match="not a shard folder"):
        load_splits(_config(folder, streaming="true"))
    with pytest.raises(DataError, match="--config.balance=expression.*streaming=false"):
        load_splits(_config(shards, balance="expression"))
    assert len(load_splits(_config(shards, streaming="false", balance="expression")).train)

    (tmp_path / "index.json").write_text('{"pages": 3}')  # a dataset's own index.json
    assert not is_shard_dir(str(tmp_path))

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(shards):
        (copy / name).write_bytes(open(os.path.join(shards, name), "rb").read())
    last = read_index(str(copy)).files[-1]
    with open(last, "r+b") as stream:
        stream.truncate(100)
    with pytest.raises(DataError, match=f"{os.path.basename(last)}: 100 bytes.*truncated"):
        read_index(str(copy))
    (copy / "index.json").write_text("{")  # a damaged index still marks a shard folder
    assert is_shard_dir(str(copy))
    with pytest.raises(DataError, match="not a readable shard index"):
        read_index(str(copy))


def test_large_splits_are_verified_on_a_sample(monkeypatch):
    from tests.core_helpers import make_model

    model = make_model()
    rng = np.random.default_rng(0)
    arrays = FaceArrays(rng.integers(0, 255, (50, 16, 16, 1)).astype(np.uint8),
                        np.arange(50) % 8, np.arange(50) % 2, np.arange(50) % 8,
                        [str(i) for i in range(8)], ["a", "b"])
    subjects = (np.arange(50) % 8).astype(str)
    whole = evaluate.evaluate_split(model, arrays, subjects)
    assert whole["verification_all_pairs"]["genuine_pairs"] + whole[
        "verification_all_pairs"]["impostor_pairs"] == 50 * 49 // 2
    assert "verification_images" not in whole
    monkeypatch.setattr(evaluate, "MAX_VERIFICATION_IMAGES", 20)
    sampled = evaluate.evaluate_split(model, arrays, subjects)
    pairs = sampled["verification_all_pairs"]
    assert (sampled["verification_images"], pairs["genuine_pairs"] + pairs["impostor_pairs"]) == (
        20, 20 * 19 // 2)
    assert sampled["expression"] == whole["expression"]  # scored on every image


def test_generated_shards_are_written_in_parallel(tmp_path):
    out = str(tmp_path / "generated")
    plan = shard_writer.plan_generated(120, 12)
    index = shard_writer.write_shards(plan, out, SETTINGS, shard_size=50, workers=2)
    assert (index.examples, len(index.files), len(index.subjects)) == (120, 3, 12)
    arrays = read_shard_arrays(index)
    assert arrays.images.shape == (120, SIZE, SIZE, 1) and arrays.images.std() > 10
    serial = shard_writer.write_shards(plan, str(tmp_path / "serial"), SETTINGS, shard_size=50,
                                       workers=1)
    for parallel_file, serial_file in zip(index.files, serial.files):
        assert open(parallel_file, "rb").read() == open(serial_file, "rb").read()

    # The command line: a refused --out_dir is one line, before TensorFlow is imported.
    result = subprocess.run(
        [sys.executable, "-m", "keras_dmtl.data.shards", "--synthetic=120",
         "--synthetic_identities=12", "--image_size=48", "--shard_size=50", f"--out_dir={out}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"--out_dir={out} already holds a shard set" in result.stderr
    assert "image_size: 16 there, 48 now" in result.stderr
