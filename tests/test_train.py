"""train.py end to end on generated faces: learning, run folder, resume, bad input."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.training import callbacks
from keras_dmtl.training.checkpoint import read_checkpoint_state
from keras_dmtl.training.config import make_config
from keras_dmtl.training.config import with_updates
from keras_dmtl.training.run import train
from tests.test_verification_callback import auc_by_hand
from tests.test_verification_callback import scored_by_hand
from tests.test_verification_callback import write_synthetic_bin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def _config(out_dir, cache_dir, **overrides):
    settings = dict(out_dir=str(out_dir), cache_dir=cache_dir, image_size=48, batch_size=16,
                    generated_identities=10, generated_sequences=1, val_fraction=0.2,
                    test_fraction=0.2, embedding_dim=32, verbose=0)
    settings.update(overrides)
    return make_config(**settings)


def _chance_of_at_least(correct, trials, chance):
    """P(at least `correct` of `trials` right) when each is right with `chance`."""
    return sum(math.comb(trials, k) * chance**k * (1 - chance) ** (trials - k)
               for k in range(correct, trials + 1))


def test_generated_faces_train_above_chance(tmp_path, cache_dir):
    metrics = train(_config(tmp_path / "run", cache_dir, epochs=15, image_size=32))
    run = tmp_path / "run"
    for name in ("config.json", "checkpoint.keras", "metrics.json",
                 "task_weights.png", "loss_curves.png", "model.keras", "labels.json",
                 "confusion_test.csv", "confusion_test.png"):
        assert (run / name).exists(), name
    assert list((run / "logs").rglob("events.out.tfevents*"))
    train_split = metrics["train"]
    identities = len(json.loads((run / "labels.json").read_text())["identity_names"])
    # 7 expressions, 6 training identities: chance is 1/7 and 1/6.
    assert train_split["expression"]["accuracy"] > 2 / 7
    assert train_split["identity_accuracy"] > 2 / identities
    # Inference mode (moving BatchNorm statistics) must track training mode.
    train_mode = metrics["train_mode_last_epoch"]
    assert train_split["expression"]["accuracy"] > train_mode["expression_accuracy"] - 0.15
    assert train_split["identity_accuracy"] > train_mode["identity_accuracy"] - 0.15
    # GradNorm (the default) moves both weights off their start (1, 1), keeps them
    # positive, and renormalises them to the number of tasks.
    weights = metrics["final_task_weights"]
    assert weights["w_face"] > 0 and weights["w_expression"] > 0, weights
    assert abs(weights["w_face"] - 1) > 0.1 and abs(weights["w_expression"] - 1) > 0.1, weights
    assert weights["w_face"] + weights["w_expression"] == pytest.approx(2.0, abs=1e-6)
    # On the held-out people (2 in validation, 2 in test), never trained on: the
    # expression accuracy of both splits together is one that guessing among 7
    # would reach with a chance under 1 %, and verification ranks genuine pairs
    # above impostor pairs far more often than the 0.5 of chance.
    held_out = [metrics[split] for split in ("validation", "test")]
    trials = sum(split["samples"] for split in held_out)
    correct = round(sum(split["expression"]["accuracy"] * split["samples"] for split in held_out))
    assert trials == 84 and _chance_of_at_least(correct, trials, 1 / 7) < 0.01, correct
    for split in held_out:
        assert split["verification"]["pairs"] > 0 and split["verification"]["auc"] > 0.9, split


def test_resume_continues_from_the_last_checkpoint(tmp_path, cache_dir, monkeypatch):
    # dynamic: a strategy that trains the weight unit, whose optimizer must resume too.
    # A verification .bin scored every 3 steps: its history must resume as well.
    bins = (write_synthetic_bin(tmp_path / "synthetic.bin"),)
    config = _config(tmp_path / "run", cache_dir, epochs=2, image_size=32, jit_compile=False,
                     verification_bins=bins, verification_every_steps=3,
                     **{"weighting.name": "dynamic"})
    original = callbacks.StepHistory.on_train_batch_end
    interrupted = {}

    def interrupt_in_second_epoch(self, batch, logs=None):
        original(self, batch, logs)
        steps = self.params["steps"]
        if self.step == steps + 2:
            interrupted["steps_per_epoch"] = steps
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.StepHistory, "on_train_batch_end", interrupt_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.undo()
    steps = interrupted["steps_per_epoch"]
    saved = keras.saving.load_model(tmp_path / "run" / "checkpoint.keras")
    assert int(saved.optimizer.iterations) == steps
    saved_moments = [v.numpy() for v in saved.optimizer.variables if "momentum" in v.path]

    with pytest.raises(DataError, match="--config.resume"):
        train(config)  # a run is there: refuse to overwrite it
    resumed = with_updates(config, resume=True)
    train(resumed)
    state = read_checkpoint_state(tmp_path / "run" / "checkpoint.keras")
    assert state["epochs_done"] == 2
    assert len(state["step_history"]["w_face"]) == 2 * steps
    final = keras.saving.load_model(tmp_path / "run" / "checkpoint.keras")
    # A fresh optimizer would have counted only the second epoch's steps.
    assert int(final.optimizer.iterations) == 2 * steps
    assert int(final.weight_optimizer.iterations) == 2 * steps
    final_moments = [v.numpy() for v in final.optimizer.variables if "momentum" in v.path]
    assert any(not np.allclose(a, b) for a, b in zip(saved_moments, final_moments))
    # Scored at every third step and after the last, each step once across the restart.
    scored = json.loads((tmp_path / "run" / "metrics.json").read_text())["verification_bins"]
    expected = list(range(3, 2 * steps + 1, 3)) + ([2 * steps] if 2 * steps % 3 else [])
    assert [entry["step"] for entry in scored["synthetic"]] == expected
    # The last score is the resumed run's final model, scored outside the callback.
    by_hand, _ = scored_by_hand(final, bins[0], image_size=32, channels=1)
    for key in ("accuracy", "auc"):
        assert scored["synthetic"][-1][key] == pytest.approx(by_hand[key], abs=1e-9), key
    saved = [entry["step"] for entry in state["verification_history"]["synthetic"]]
    assert saved == [step for step in expected if step % 3 == 0]  # the last, if extra, is not
    assert list((tmp_path / "run" / "logs" / "verification").rglob("events.out.tfevents*"))


def test_resume_without_checkpoint_is_refused(tmp_path, cache_dir):
    with pytest.raises(DataError, match="no checkpoint"):
        train(_config(tmp_path / "empty", cache_dir, resume=True))


def test_cli_bad_data_dir_gives_one_clear_line(tmp_path):
    missing = tmp_path / "no_such_dataset"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--config.data_dir={missing}",
         f"--config.out_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(missing) in result.stderr


def test_lfw_pairs_protocol_scores_each_line_of_pairs_txt(tmp_path):
    """The protocol's figures are those of the pairs.txt lines, scored one by one."""
    import cv2

    from keras_dmtl.data.generated import synthetic
    from keras_dmtl.data.readers import read_lfw_pairs
    from keras_dmtl.evaluation.verification import evaluate_pairs
    from keras_dmtl.training.evaluate import evaluate_lfw_pairs
    from tests.core_helpers import make_model

    # An LFW-style folder of 4 generated people, 3 images each, and a pairs.txt.
    rng = np.random.default_rng(0)
    lines = ["2\t2"]
    for person in range(4):
        look = synthetic.random_identity(rng)
        (tmp_path / f"P{person}").mkdir()
        for index in range(1, 4):
            image, _ = synthetic.render_face(look, "neutral", 0.0, rng, 16)
            cv2.imwrite(str(tmp_path / f"P{person}" / f"P{person}_{index:04d}.jpg"), image)
    named = []  # (person, image number) pairs in file order, and whether the same person
    for fold in range(2):
        same = [(2 * fold, 1, 2 * fold, 2), (2 * fold + 1, 1, 2 * fold + 1, 3)]
        different = [(2 * fold, 3, 2 * fold + 1, 2), (2 * fold + 1, 1, 2 * fold, 2)]
        lines += [f"P{a}\t{i}\t{j}" for a, i, _, j in same]
        lines += [f"P{a}\t{i}\tP{b}\t{j}" for a, i, b, j in different]
        named += [(pair, True) for pair in same] + [(pair, False) for pair in different]
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    pairs = read_lfw_pairs(str(tmp_path / "pairs.txt"), str(tmp_path))
    model = make_model("dynamic")  # untrained: the protocol's arithmetic, not its quality
    metrics = evaluate_lfw_pairs(model, pairs, image_size=16, channels=1, folds=2)

    def embedding(person, number):
        image = cv2.imread(str(tmp_path / f"P{person}" / f"P{person}_{number:04d}.jpg"),
                           cv2.IMREAD_GRAYSCALE)
        vector = model.network(image[None, ..., None].astype(np.float32))["embedding"]
        vector = np.asarray(vector, np.float64)[0]
        return vector / np.linalg.norm(vector)

    scores = np.array([embedding(a, i) @ embedding(b, j) for (a, i, b, j), _ in named])
    is_same = np.array([same for _, same in named])
    assert metrics["pairs"] == 8
    assert metrics["auc"] == pytest.approx(auc_by_hand(scores, is_same), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(evaluate_pairs(scores, is_same, 2)["accuracy"],
                                                abs=1e-9)
