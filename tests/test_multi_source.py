"""Several labelled sources in one run: an identity set without expressions and an
expression set without identities, read, split, mixed, trained and scored together."""

import csv
import os
import shutil

import keras
import numpy as np
import pytest

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.generated.synthetic import write_synthetic_dataset
from keras_dmtl.data.pipeline import make_training_dataset
from keras_dmtl.data.readers import combine
from keras_dmtl.data.readers import read_dataset
from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards import writer as shard_writer
from keras_dmtl.data.shards.index import read_index
from keras_dmtl.data.shards.streaming import make_shard_training_dataset
from keras_dmtl.data.shards.streaming import split_shards
from keras_dmtl.data.shards.worker import CropSettings
from keras_dmtl.data.splits import subject_kfold
from keras_dmtl.training.config import make_config
from keras_dmtl.training.evaluate import evaluate_split
from keras_dmtl.training.run import load_arrays
from keras_dmtl.training.run import load_splits
from keras_dmtl.training.run import source_mix
from keras_dmtl.training.run import train

SIZE = 16
IDENTITY_PEOPLE = 8
EXPRESSION_PEOPLE = 10


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """(identity-only folder-per-person set, expression-only manifest, cache dir)."""
    root = tmp_path_factory.mktemp("sources")
    generated = write_synthetic_dataset(str(root / "generated"), num_identities=18,
                                        image_size=32, seed=3)
    identities = root / "identities"
    rows = []
    for expression in sorted(os.listdir(generated)):
        folder = os.path.join(generated, expression)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            person = int(name[1:4])
            if person <= IDENTITY_PEOPLE:  # these people lend their identity only
                os.makedirs(identities / f"person{person:02d}", exist_ok=True)
                shutil.copy(os.path.join(folder, name), identities / f"person{person:02d}" / name)
            else:  # and these their expression only (a subject, but no identity label)
                rows.append([os.path.join(folder, name), "", expression, f"S{person:03d}"])
    manifest = root / "expressions.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["path", "identity", "expression", "subject"])
        writer.writerows(rows)
    return str(identities), str(manifest), str(root / "cache")


def _config(sources, **overrides):
    identities, manifest, cache = sources
    settings = dict(data_dir=f"{identities},{manifest}", cache_dir=cache, image_size=SIZE,
                    batch_size=16, embedding_dim=16, jit_compile="false", verbose=0,
                    val_fraction=0.25, test_fraction=0.25)
    settings.update(overrides)
    return make_config(**settings)


def test_each_source_keeps_only_its_labels_and_its_own_identities(sources):
    arrays = load_arrays(_config(sources))
    assert arrays.source_names == ["lfw", "manifest"]
    identity_part, expression_part = arrays.of_source(0), arrays.of_source(1)
    assert len(identity_part) + len(expression_part) == len(arrays)
    assert (identity_part.identity >= 0).all() and (identity_part.expression == -1).all()
    assert (expression_part.identity == -1).all() and (expression_part.expression >= 0).all()
    assert len(arrays.identity_names) == IDENTITY_PEOPLE
    assert set(np.char.partition(arrays.subject, "/")[:, 0]) == {"lfw", "manifest"}


def test_splits_are_by_subject_within_each_source(sources):
    splits = load_splits(_config(sources))
    subjects = {}
    for name in ("train", "validation", "test"):
        part = getattr(splits, name)
        assert sorted(set(part.source)) == [0, 1], f"{name} lacks a source"
        subjects[name] = set(part.subject)
    assert not subjects["train"] & subjects["test"]
    assert not subjects["train"] & subjects["validation"]
    # 8 identity people at 50/25/25: 4/2/2; 10 expression people: 5/3/2 or 5/2/3.
    assert len({s for s in subjects["train"] if s.startswith("lfw/")}) == 4
    assert len({s for s in subjects["train"] if s.startswith("manifest/")}) == 5


def test_kfold_deals_every_source_to_every_fold(sources):
    arrays = load_arrays(_config(sources))
    for _, test in subject_kfold(arrays.subject, 4, seed=0, groups=arrays.source):
        assert sorted(set(arrays.source[test])) == [0, 1]


def _expression_share(dataset, batches):
    labels = [batch[1]["expression"].numpy() for batch in dataset.take(batches)]
    return float(np.mean(np.concatenate(labels) >= 0))


def test_source_mix_sets_each_source_share_of_training(sources):
    splits = load_splits(_config(sources))
    natural = float(np.mean(splits.train.source == 1))
    for weights in ((0.8, 0.2), (0.2, 0.8)):
        config = _config(sources, source_mix=weights)
        dataset, steps = make_training_dataset(splits.train, 16, 0, 0, 4, augment=False,
                                               source_mix=source_mix(config, splits.train))
        # Samples of the expression-only source are those with an expression label.
        assert abs(_expression_share(dataset, 4 * steps) - weights[1]) < 0.08
    assert abs(natural - 0.2) > 0.15 and abs(natural - 0.8) > 0.15


def test_two_sources_train_and_report_metrics_per_source(sources, tmp_path):
    config = _config(sources, out_dir=str(tmp_path / "run"), epochs=2, source_mix=(0.5, 0.5),
                     **{"export.enabled": False})
    metrics = train(config)
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    splits = load_splits(config)
    for split in ("validation", "test"):
        by_source = metrics[split]["sources"]
        assert set(by_source) == {"lfw", "manifest"}
        assert "expression" not in by_source["lfw"] and "verification" in by_source["lfw"]
        assert "expression" in by_source["manifest"]
        assert "verification" not in by_source["manifest"]
        # Each source's figures are those of its own images alone.
        part = getattr(splits, split)
        lfw, manifest = part.source == 0, part.source == 1
        assert by_source["lfw"]["samples"] == lfw.sum() > 0
        assert by_source["manifest"]["samples"] == manifest.sum() > 0
        logits = model.network.predict(part.images[manifest].astype(np.float32),
                                       verbose=0)["expression_logits"]
        assert by_source["manifest"]["expression"]["accuracy"] == pytest.approx(
            np.mean(logits.argmax(axis=1) == part.expression[manifest]), abs=1e-12)
        alone = evaluate_split(model, part.subset(np.flatnonzero(lfw)),
                               splits.verification_subjects[split][lfw])
        assert by_source["lfw"]["verification"] == alone["verification"]


def test_one_shard_set_of_two_sources_streams_with_a_mix(sources, tmp_path):
    identities, manifest, _ = sources
    records = combine([read_dataset(identities), read_dataset(manifest)])
    out = str(tmp_path / "shards")
    shard_writer.write_shards(shard_writer.plan_records(records), out,
                              CropSettings(SIZE, 1, "none", FACE_MARGIN, "png"), shard_size=32,
                              workers=1)
    index = read_index(out)
    assert index.sources == ["lfw", "manifest"]
    train_split, validation, test = split_shards(index, (0.5, 0.25, 0.25), seed=0)
    for part in (train_split, validation, test):
        assert (part.source_examples > 0).all()
        assert part.of_source(0).count + part.of_source(1).count == part.count
    dataset, steps = make_shard_training_dataset(train_split, 16, 0, 0, 3, augment=False,
                                                 source_mix=np.array([0.25, 0.75]))
    assert abs(_expression_share(dataset, 3 * steps) - 0.75) < 0.08
    # A streamed run reports each source too.
    metrics = train(make_config(data_dir=out, image_size=SIZE, batch_size=16, embedding_dim=16,
                                epochs=1, verbose=0, jit_compile="false", source_mix=(1.0, 1.0),
                                out_dir=str(tmp_path / "run"), val_fraction=0.25,
                                test_fraction=0.25, **{"export.enabled": False}))
    assert set(metrics["test"]["sources"]) == {"lfw", "manifest"}
    assert "expression" in metrics["test"]["sources"]["manifest"]


def test_a_mix_that_does_not_fit_the_sources_names_them(sources):
    with pytest.raises(DataError, match="give 2 weight.*sources lfw, manifest"):
        load_splits(_config(sources, source_mix=(1.0, 2.0, 3.0)))


def test_a_detector_per_source_must_fit_the_sources(sources):
    with pytest.raises(ValueError, match="--config.detector=none,none,haar: give one value"):
        _config(sources, detector="none,none,haar")


def test_balance_and_mix_together_are_refused(sources):
    with pytest.raises(ValueError, match="both resample"):
        _config(sources, source_mix=(1.0, 1.0), balance="expression")


def test_a_shard_folder_among_several_sources_is_refused(sources, tmp_path):
    identities, _, cache = sources
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "index.json").write_text('{"format": "keras_dmtl.shards"}')
    with pytest.raises(DataError, match="is a shard folder among several sources"):
        load_splits(make_config(data_dir=f"{identities},{shards}", cache_dir=cache))
