"""Verification .bin sets scored during training: when, what, and where it is written."""

import pickle

import cv2
import numpy as np
import pytest

from keras_dmtl.data.generated.synthetic import random_identity
from keras_dmtl.data.generated.synthetic import render_face
from keras_dmtl.data.records import DataError
from keras_dmtl.data.generated.synthetic import random_identity
from keras_dmtl.data.generated.synthetic import render_face
from keras_dmtl.data.verification_bin import decode_pairs
from keras_dmtl.data.verification_bin import read_verification_bin
from keras_dmtl.evaluation.verification import evaluate_pairs
from keras_dmtl.training.callbacks import VerificationBinCallback
from keras_dmtl.training.config import make_config
from tests.core_helpers import IMAGE_SHAPE
from tests.core_helpers import make_batch
from tests.core_helpers import make_model


def write_synthetic_bin(path, pairs=20, people=5, size=32, seed=0, mirrored=False):
    """A verification .bin of generated faces: even pairs genuine, odd pairs impostor.

    PNG-encoded (decoded the same way as JPEG), so that `mirrored` gives exactly the
    mirror images of the same set.
    """
    rng = np.random.default_rng(seed)
    persons = [random_identity(rng) for _ in range(people)]
    images, issame = [], []
    for pair in range(pairs):
        same = pair % 2 == 0
        first = pair % people
        second = first if same else (first + 1 + pair // 2 % (people - 1)) % people
        for person in (first, second):
            face, _ = render_face(persons[person], "happy", rng.uniform(0, 1), rng, size=size,
                                  channels=3)
            if mirrored:
                face = face[:, ::-1]
            ok, encoded = cv2.imencode(".png", np.ascontiguousarray(face[..., ::-1]))
            assert ok
            images.append(encoded.tobytes())
        issame.append(same)
    with open(path, "wb") as handle:
        pickle.dump((images, issame), handle)
    return str(path)


def auc_by_hand(scores, is_same):
    """P(genuine score > impostor score), ties counted one half (Mann-Whitney)."""
    genuine, impostor = scores[is_same][:, None], scores[~is_same][None, :]
    return float(np.mean((genuine > impostor) + 0.5 * (genuine == impostor)))


def scored_by_hand(model, path, image_size, channels, folds=10):
    """A .bin scored with `model` as it is now, outside the callback: each image's
    embedding plus its mirror's, the cosine of each pair in the file's order.

    Returns:
        (evaluate_pairs' dict of those scores, the AUC counted pair by pair).
    """
    pairs = read_verification_bin(path)
    images = decode_pairs(pairs, image_size, channels).astype(np.float32)

    def embed(x):
        return model.network.predict(x, verbose=0)["embedding"].astype(np.float64)

    embeddings = embed(images) + embed(images[:, :, ::-1])
    first, second = embeddings[0::2], embeddings[1::2]
    scores = np.sum(first * second, axis=1) / (np.linalg.norm(first, axis=1)
                                              * np.linalg.norm(second, axis=1))
    return evaluate_pairs(scores, pairs.is_same, folds), auc_by_hand(scores, pairs.is_same)


def _fit(model, callbacks, steps):
    images, labels = make_batch(batch_size=8 * steps)
    model.fit(images, labels, batch_size=8, epochs=1, callbacks=callbacks, verbose=0,
              shuffle=False)


def test_sets_are_scored_every_n_steps_and_after_the_last_with_flips(tmp_path):
    paths = [write_synthetic_bin(tmp_path / "plain.bin"),
             write_synthetic_bin(tmp_path / "mirror.bin", mirrored=True)]
    callback = VerificationBinCallback(paths, every_n_steps=2, image_size=IMAGE_SHAPE[0],
                                       channels=IMAGE_SHAPE[2], log_dir=str(tmp_path / "logs"))
    model = make_model()
    _fit(model, [callback], steps=5)
    for name, path in zip(("plain", "mirror"), paths):
        entries = callback.history[name]
        assert [entry["step"] for entry in entries] == [2, 4, 5]
        assert all(entry["pairs"] == 20 for entry in entries)
        # The last score (after step 5) is the trained model's, scored outside the callback.
        expected, auc = scored_by_hand(model, path, IMAGE_SHAPE[0], IMAGE_SHAPE[2])
        for key in ("accuracy", "accuracy_std", "auc", "eer"):
            assert entries[-1][key] == pytest.approx(expected[key], abs=1e-9), key
        assert entries[-1]["auc"] == pytest.approx(auc, abs=1e-9)
    # Each image is embedded as itself plus its mirror, so a mirrored set is the same set.
    for plain, mirror in zip(callback.history["plain"], callback.history["mirror"]):
        assert plain["auc"] == pytest.approx(mirror["auc"], abs=1e-12)
        assert plain["accuracy"] == pytest.approx(mirror["accuracy"], abs=1e-12)
    assert list((tmp_path / "logs").rglob("events.out.tfevents*"))


def test_unusable_sets_stop_before_training(tmp_path):
    small = write_synthetic_bin(tmp_path / "small.bin", pairs=8)
    with pytest.raises(DataError, match="small.bin: 8 pairs cannot fill 10 folds"):
        VerificationBinCallback([small], 1, 16, 1)
    (tmp_path / "a").mkdir()
    first = write_synthetic_bin(tmp_path / "a" / "lfw.bin")
    second = write_synthetic_bin(tmp_path / "lfw.bin")
    with pytest.raises(DataError, match="two sets are named 'lfw'"):
        VerificationBinCallback([first, second], 1, 16, 1)


def test_verification_bins_must_be_paths():
    with pytest.raises(ValueError, match="verification_bins"):
        make_config(verification_bins=("lfw.bin", 3))
    with pytest.raises(ValueError, match="--config.verification_every_steps=0: must be at "
                                         "least 1"):
        make_config(verification_every_steps=0)
