"""Exact resume: one atomic checkpoint, per-epoch data seeds, refused changes, a real kill.

A resumed run must end where an uninterrupted run of the same seed ends, and a
resume that would silently train another model (changed flags, changed data) is
refused with one line.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_dmtl.data.generated.synthetic import write_synthetic_dataset
from keras_dmtl.data.records import DataError
from keras_dmtl.training import config as config_lib
from keras_dmtl.training.checkpoint import CHECKPOINT_NAME
from keras_dmtl.training.checkpoint import read_checkpoint_state
from keras_dmtl.training.config import make_config
from keras_dmtl.training.config import with_updates
from keras_dmtl.training.run import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small enough for CI, large enough for several steps an epoch.
RUN_FLAGS = ["--config.image_size=32", "--config.batch_size=8", "--config.embedding_dim=16",
             "--config.generated_identities=6", "--config.generated_sequences=1",
             "--config.val_fraction=0.2", "--config.test_fraction=0.2",
             "--config.jit_compile=False", "--config.export.enabled=False", "--config.seed=3"]


def _train_py(*args, cwd):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# train.py, but the process says so on file descriptor PAUSE_FD once the second
# epoch's first step is done, then waits there until it is killed.
_PAUSED_IN_EPOCH_2 = """
import os, runpy, sys, threading
from keras_dmtl.startup import quiet_native_startup
quiet_native_startup()
from keras_dmtl.training import callbacks
step_done = callbacks.StepHistory.on_train_batch_end

def pause_in_the_second_epoch(self, batch, logs=None):
    step_done(self, batch, logs)
    if self.step == self.params["steps"] + 1:
        os.write(int(os.environ["PAUSE_FD"]), b"in epoch 2")
        threading.Event().wait()

callbacks.StepHistory.on_train_batch_end = pause_in_the_second_epoch
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _train_py_paused_in_epoch_2(*args, cwd, stderr):
    """train.py, paused in its second epoch: returns the process once it is there
    (or has ended), and whether it got there."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _PAUSED_IN_EPOCH_2, os.path.join(ROOT, "train.py"), *args],
            cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, pass_fds=(write_end,),
            env=dict(os.environ, PAUSE_FD=str(write_end), PYTHONPATH=ROOT))
    finally:
        os.close(write_end)  # the child's copy is the only writer left
    try:
        # Until it says so, or ends (end of file), or 10 minutes pass.
        ready, _, _ = select.select([read_end], [], [], 600)
        said = os.read(read_end, 64) if ready else b""
    finally:
        os.close(read_end)
    return process, said == b"in epoch 2"


def _weights(path):
    return keras.saving.load_model(path).get_weights()


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    cache = f"--config.cache_dir={tmp_path / 'cache'}"
    # With a learning-rate drop in the third epoch, which the resumed run must apply too.
    schedule = "--config.learning_rate_drops=(2,)"
    straight = _train_py(*RUN_FLAGS, cache, "--config.epochs=3", schedule,
                         f"--config.out_dir={tmp_path / 'straight'}", cwd=tmp_path)
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-3000:]

    killed_dir = tmp_path / "killed"
    with open(tmp_path / "killed.stderr", "w") as stderr:
        run, paused = _train_py_paused_in_epoch_2(
            *RUN_FLAGS, cache, "--config.epochs=3", schedule, f"--config.out_dir={killed_dir}",
            cwd=tmp_path, stderr=stderr)
    # Killed in its second epoch, a step after the first epoch's checkpoint.
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert paused, (tmp_path / "killed.stderr").read_text()[-3000:]
    assert run.returncode == -signal.SIGKILL
    checkpoint = killed_dir / CHECKPOINT_NAME
    assert read_checkpoint_state(checkpoint)["epochs_done"] == 1
    assert not (killed_dir / "model.keras").exists()

    # Only resume and the folder: the run's own settings come from its config.json.
    resumed = _train_py("--config.resume=True", f"--config.out_dir={killed_dir}", cache,
                        cwd=tmp_path)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-3000:]
    state = read_checkpoint_state(checkpoint)
    assert state["epochs_done"] == 3
    for expected, actual in zip(_weights(tmp_path / "straight" / "model.keras"),
                                _weights(killed_dir / "model.keras")):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = root / "faces"
    write_synthetic_dataset(str(data), num_identities=6, sequences_per_pair=1, image_size=64,
                            seed=0)
    config = make_config(data_dir=str(data), out_dir=str(root / "run"),
                         cache_dir=str(root / "cache"), image_size=32, batch_size=8, epochs=1,
                         embedding_dim=16, val_fraction=0.2, test_fraction=0.2,
                         jit_compile=False, verbose=0)
    train(config)
    return config


def test_checkpoint_is_one_file_holding_the_training_state(one_epoch_run):
    run_dir = one_epoch_run.out_dir
    state = read_checkpoint_state(os.path.join(run_dir, CHECKPOINT_NAME))
    assert state["epochs_done"] == 1 and state["global_step"] > 0
    assert len(state["step_history"]["w_face"]) == state["global_step"]
    assert not os.path.exists(os.path.join(run_dir, "training_state.json"))


@pytest.mark.parametrize("change", [{"backbone_width": 0.5}, {"seed": 1},
                                    {"weighting.name": "static"}, {"image_size": 48},
                                    {"weighting.kwargs.epsilon": 0.5}])
def test_resume_refuses_settings_that_change_the_model_or_data(one_epoch_run, change):
    name = next(iter(change))
    resumed = with_updates(one_epoch_run, resume=True, epochs=2, **change)
    with pytest.raises(DataError, match=f"--config.{name.replace('.epsilon', '')}="):
        train(resumed)


def test_resume_may_add_learning_rate_drops_only_where_it_has_not_trained(one_epoch_run,
                                                                         tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(one_epoch_run.out_dir, run_dir)
    config = with_updates(one_epoch_run, out_dir=str(run_dir))
    # One epoch done: a drop from the second on changes nothing trained.
    train(with_updates(config, resume=True, epochs=2, learning_rate_drops=(1,),
                       learning_rate_drop_factor=0.5))
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["epochs"] == 2 and saved["learning_rate_drops"] == [1]
    model = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(float(model.optimizer.learning_rate),
                               one_epoch_run.learning_rate * 0.5, rtol=1e-6)
    # Two done: moving the drop to the third epoch would rewrite the second's rate.
    before = (run_dir / "config.json").read_text()
    with pytest.raises(DataError, match="trained epoch 1 at another rate"):
        train(with_updates(config, resume=True, epochs=3, learning_rate_drops=(2,),
                           learning_rate_drop_factor=0.5))
    assert (run_dir / "config.json").read_text() == before


def test_resume_refuses_a_dataset_that_changed(one_epoch_run, tmp_path):
    data = tmp_path / "faces"
    shutil.copytree(one_epoch_run.data_dir, data)
    run_dir = tmp_path / "run"
    shutil.copytree(one_epoch_run.out_dir, run_dir)
    # The run's config names its data folder; point it at the copy, then add a person.
    config = with_updates(one_epoch_run, data_dir=str(data), out_dir=str(run_dir))
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    first = sorted(p for p in data.rglob("*") if p.is_file())[0]
    extra = data / first.parent.name / "S999_001_00000001.png"
    shutil.copy(first, extra)
    with pytest.raises(DataError, match="dataset changed"):
        train(with_updates(config, resume=True, epochs=2))


def test_every_numeric_setting_is_validated():
    numeric = {name for name, value in config_lib.flatten(config_lib.default_config()).items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert numeric == set(config_lib.NUMERIC_BOUNDS)
    for name in config_lib.NUMERIC_BOUNDS:
        for bad in (-3, float("nan")):
            with pytest.raises(ValueError, match=f"--config.{name}="):
                make_config(**{name: bad})


@pytest.mark.parametrize("flag", ["--config.epochs=-3", "--config.batch_size=0",
                                  "--config.learning_rate=-1", "--config.image_size=4",
                                  "--config.val_fraction=1.5", "--config.seed=-1",
                                  "--config.backbone_width=0", "--config.epoch=3",
                                  "--config.epochs=many"])
def test_cli_refuses_a_bad_setting_with_one_line(flag, tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), flag,
                             f"--config.out_dir={tmp_path / 'run'}"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    first_line = result.stderr.strip().splitlines()[0]
    assert flag.split("=")[0].split(".")[-1] in first_line, result.stderr
    assert not (tmp_path / "run").exists()


def test_each_epoch_of_data_depends_on_the_seed_and_epoch_only():
    from keras_dmtl.data.pipeline import make_dataset
    from keras_dmtl.data.pipeline import make_training_dataset
    from tests.test_data_prep import _arrays

    arrays = _arrays(48)

    def images(dataset):
        return np.concatenate([batch[0].numpy() for batch in dataset])

    stream, steps = make_training_dataset(arrays, 16, seed=5, initial_epoch=0, epochs=3)
    whole = images(stream)
    assert steps == 3 and len(whole) == 3 * 48
    resumed, _ = make_training_dataset(arrays, 16, seed=5, initial_epoch=2, epochs=3)
    np.testing.assert_array_equal(images(resumed), whole[2 * 48:])
    np.testing.assert_array_equal(images(make_dataset(arrays, 16, True, seed=5, epoch=1)),
                                  whole[48:96])
    assert not np.array_equal(whole[:48], whole[48:96])  # each epoch its own order
