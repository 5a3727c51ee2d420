"""Verification .bin sets scored during training: when, what, and where it is written."""

import pickle

import cv2
import numpy as np
import pytest

from keras_dmtl.data.generated.synthetic import random_identity
from keras_dmtl.data.generated.synthetic import render_face
from keras_dmtl.data.records import DataError
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


def _fit(model, callbacks, steps):
    images, labels = make_batch(batch_size=8 * steps)
    model.fit(images, labels, batch_size=8, epochs=1, callbacks=callbacks, verbose=0,
              shuffle=False)


def test_sets_are_scored_every_n_steps_and_after_the_last_with_flips(tmp_path):
    paths = [write_synthetic_bin(tmp_path / "plain.bin"),
             write_synthetic_bin(tmp_path / "mirror.bin", mirrored=True)]
    callback = VerificationBinCallback(paths, every_n_steps=2, image_size=IMAGE_SHAPE[0],
                                       channels=IMAGE_SHAPE[2], log_dir=str(tmp_path / "logs"))
    _fit(make_model(), [callback], steps=5)
    for name in ("plain", "mirror"):
        entries = callback.history[name]
        assert [entry["step"] for entry in entries] == [2, 4, 5]
        for entry in entries:
            assert entry["pairs"] == 20
            assert 0.0 <= entry["accuracy"] <= 1.0 and entry["accuracy_std"] >= 0.0
            assert 0.0 <= entry["auc"] <= 1.0
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
