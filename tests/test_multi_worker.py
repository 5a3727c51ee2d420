"""Two train.py workers on 127.0.0.1 (MultiWorkerMirroredStrategy from TF_CONFIG)
train like one process on the same global batch; settings without a cluster fail
with one clear line."""

import json
import queue
import threading

import keras
import numpy as np
import pytest

from keras_dmtl.benchmarks.local_cluster import settings_flags
from keras_dmtl.benchmarks.local_cluster import start_workers
from keras_dmtl.benchmarks.local_cluster import tf_configs
from keras_dmtl.data.records import DataError
from keras_dmtl.io_utils import read_json
from keras_dmtl.training import distribute
from keras_dmtl.training.checkpoint import CHECKPOINT_NAME
from keras_dmtl.training.checkpoint import read_checkpoint_state
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import _state_at_epoch
from keras_dmtl.training.run import train

SETTINGS = dict(image_size=32, batch_size=16, embedding_dim=16, generated_identities=6,
                generated_sequences=1, val_fraction=0.2, test_fraction=0.2, epochs=1,
                jit_compile="false", verbose=0, **{"weighting.name": "dynamic",
                                                   "export.enabled": False})


# What a worker says when its port was taken between tf_configs choosing it and the
# worker binding it (another process of a busy machine got it first).
PORT_TAKEN = "Could not start gRPC server"


def _finish_or_stop(workers, timeout):
    """(exit code, stdout, stderr) of each worker; once one fails, the others (which
    would wait for it until the timeout) are killed."""
    ended, results = queue.Queue(), {}

    def wait_for(index, worker):
        out, err = worker.communicate()
        results[index] = (worker.returncode, out, err)
        ended.put(index)

    for index, worker in enumerate(workers):
        threading.Thread(target=wait_for, args=(index, worker), daemon=True).start()
    for _ in workers:
        try:
            index = ended.get(timeout=timeout)
        except queue.Empty:
            index = None
        if index is None or results[index][0] != 0:
            for worker in workers:
                worker.kill()
        if index is None:
            pytest.fail(f"the workers ran past {timeout} s: killed")
    return [results[index] for index in range(len(workers))]


def _two_workers(tmp_path, settings, attempts=3):
    """A two-worker run of `settings` in a fresh run folder; started again on fresh
    ports when a worker could not bind its own. Returns (run folder, results)."""
    for attempt in range(attempts):
        out_dir = tmp_path / f"multi_{attempt}"
        workers = start_workers(settings_flags({**settings, "out_dir": out_dir}),
                                tf_configs(2), cwd=tmp_path)
        results = _finish_or_stop(workers, timeout=300)
        if not any(PORT_TAKEN in err for _, _, err in results):
            return out_dir, results
    pytest.fail(f"{attempts} clusters in a row could not bind their ports: "
                + results[0][2][-2000:] + results[1][2][-2000:])


def test_two_workers_train_like_one_process(tmp_path):
    cache = str(tmp_path / "cache")
    single = train(make_config(out_dir=str(tmp_path / "single"), cache_dir=cache, **SETTINGS))

    multi_dir, results = _two_workers(tmp_path, {**SETTINGS, "cache_dir": cache})
    for code, _, err in results:
        assert code == 0, err[-3000:]
    # The chief reports; the other worker's files went to a temporary folder.
    assert "Run folder:" in results[0][1] and "Run folder:" not in results[1][1]

    expected = keras.saving.load_model(tmp_path / "single" / "model.keras")
    actual = keras.saving.load_model(multi_dir / "model.keras")
    differences = {e.path: float(np.abs(a.numpy() - e.numpy()).max())
                   for a, e in zip(actual.weights, expected.weights)}
    # Adam moves every weight by about its learning rate (1e-3) a step whatever the
    # gradient's size, so the all-reduce's other summation order shows up to a
    # fraction of a step; the weight unit's plain SGD shows the gradients' scale.
    assert max(differences.values()) < 1e-3, differences
    unit = {path: d for path, d in differences.items() if "weight_unit" in path}
    assert unit and max(unit.values()) < 1e-5, unit
    steps = [read_checkpoint_state(str(d / CHECKPOINT_NAME))["step_history"]
             for d in (tmp_path / "single", multi_dir)]
    for name in ("loss", "face_loss", "expression_loss", "w_face"):
        np.testing.assert_allclose(steps[1][name], steps[0][name], rtol=1e-4, err_msg=name)
    # Evaluation under the strategy gathers the workers' predictions in order.
    metrics = read_json(multi_dir / "metrics.json")
    for split in ("train", "validation", "test"):
        assert metrics[split]["samples"] == single[split]["samples"]
    assert metrics["train"]["verification"]["auc"] == pytest.approx(
        single["train"]["verification"]["auc"], abs=1e-4)
    assert metrics["train"]["identity_accuracy"] == pytest.approx(
        single["train"]["identity_accuracy"], abs=1e-6)
    # Only the chief wrote the run folder; the backups are gone after a finished fit.
    assert not (multi_dir / distribute.BACKUP_FOLDER).exists() or not any(
        (multi_dir / distribute.BACKUP_FOLDER).iterdir())


def test_multi_worker_without_tf_config_names_the_setting(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="--config.distribute=multi_worker.*TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}')
    with pytest.raises(ValueError, match="TF_CONFIG=.*not a cluster"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}))
    with pytest.raises(ValueError, match="task index 1"):
        distribute.make_strategy("multi_worker")


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
])
def test_the_chief_is_tensorflows(cluster, task, chief):
    assert distribute.is_chief_task(cluster, *task) is chief


def test_unknown_distribute_setting_is_refused():
    with pytest.raises(ValueError, match="--config.distribute=gpus: choose one of"):
        make_config(distribute="gpus")


def test_restored_epoch_reads_what_backup_and_restore_wrote(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("stopped")

    backup = str(tmp_path / "backup")
    assert distribute.restored_epoch(backup) is None
    with pytest.raises(RuntimeError, match="stopped"):
        model.fit(np.zeros((4, 2)), np.zeros(4), epochs=5, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup), Stop()])
    assert distribute.restored_epoch(backup) == 2
    (tmp_path / "backup" / distribute.BACKUP_METADATA).write_text("{")
    with pytest.raises(DataError, match=distribute.BACKUP_METADATA):
        distribute.restored_epoch(backup)


def test_a_restart_cuts_the_run_history_back_to_the_backup():
    state = {"epochs_done": 2, "global_step": 6,
             "step_history": {"loss": [6, 5, 4, 3, 2, 1]}, "epoch_history": {"loss": [5, 2]}}
    assert _state_at_epoch(state, 1, 3) == {
        "epochs_done": 1, "global_step": 3, "step_history": {"loss": [6, 5, 4]},
        "epoch_history": {"loss": [5]}}
