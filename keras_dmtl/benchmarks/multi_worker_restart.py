"""Fault tolerance of a multi-worker run: kill a worker mid-epoch, restart, compare.

    python -m keras_dmtl.benchmarks.multi_worker_restart --workers=2 --epochs=3

Starts a cluster of train.py workers on 127.0.0.1 (TF_CONFIG per worker, tiny
model, generated faces) twice: once straight through, once with the last worker
killed (SIGKILL) a moment after its backup of epoch `--kill_after_epochs` is
written. The surviving workers fail at their next collective; the whole cluster
is then started again with the same command lines and continues from each
worker's BackupAndRestore backup. Prints a JSON object: what happened to the
survivors, the epoch the restart continued from, the seconds of each phase and
the largest difference between the final weights of the two runs.
"""

import json
import os
import re
import signal
import tempfile
import time

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from keras_dmtl.benchmarks.local_cluster import finish  # noqa: E402
from keras_dmtl.benchmarks.local_cluster import settings_flags  # noqa: E402
from keras_dmtl.benchmarks.local_cluster import start_workers  # noqa: E402
from keras_dmtl.benchmarks.local_cluster import tf_configs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("workers", 2, "Workers of the local cluster.")
flags.DEFINE_integer("epochs", 3, "Epochs of each run.")
flags.DEFINE_integer("kill_after_epochs", 1, "Kill the last worker once its backup holds "
                     "this many epochs.")
flags.DEFINE_float("kill_delay", 1.0, "Seconds between that backup and the kill.")
flags.DEFINE_string("out_dir", None, "Folder for the runs (default: a new temporary one).")
flags.DEFINE_integer("timeout", 900, "Seconds each cluster may take.")

# Small enough for two CPU cores, with a dozen steps an epoch to be killed in.
SETTINGS = dict(image_size=32, batch_size=8, embedding_dim=16, generated_identities=10,
                generated_sequences=1, val_fraction=0.2, test_fraction=0.2,
                jit_compile="false", verbose=0,
                **{"weighting.name": "dynamic", "export.enabled": False})
RESTORED = re.compile(r"Continuing from the backup in \S+: (\d+) epochs done")


def _require_success(results, what):
    for index, (code, _, err) in enumerate(results):
        if code != 0:
            raise SystemExit(f"{what}: worker {index} exited with {code}:\n{err[-3000:]}")


def _largest_difference(path_a, path_b):
    import keras  # noqa: PLC0415 (TensorFlow only after the clusters ran)
    import numpy as np  # noqa: PLC0415

    import keras_dmtl.models.multitask  # noqa: F401, PLC0415 (registers the model)

    a, b = keras.saving.load_model(path_a), keras.saving.load_model(path_b)
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
               for x, y in zip(a.get_weights(), b.get_weights()))


def main(argv):
    del argv
    quiet_logs()
    from keras_dmtl.training import distribute  # noqa: PLC0415
    from keras_dmtl.training.checkpoint import CHECKPOINT_NAME  # noqa: PLC0415
    from keras_dmtl.training.checkpoint import read_checkpoint_state  # noqa: PLC0415
    from keras_dmtl.training.config import make_config  # noqa: PLC0415
    from keras_dmtl.training.run import load_arrays  # noqa: PLC0415

    root = FLAGS.out_dir or tempfile.mkdtemp(prefix="multi_worker_restart_")
    settings = dict(SETTINGS, epochs=FLAGS.epochs, cache_dir=os.path.join(root, "cache"))
    load_arrays(make_config(**settings))  # once, before the workers read it
    report = {"workers": FLAGS.workers, "epochs": FLAGS.epochs, "seconds": {}}

    start = time.time()
    straight_dir = os.path.join(root, "straight")
    _require_success(finish(start_workers(
        settings_flags({**settings, "out_dir": straight_dir}), tf_configs(FLAGS.workers)),
        FLAGS.timeout), "straight run")
    report["seconds"]["straight_run"] = round(time.time() - start, 1)

    killed_dir = os.path.join(root, "killed")
    run_flags = settings_flags({**settings, "out_dir": killed_dir})
    configs = tf_configs(FLAGS.workers)
    start = time.time()
    workers = start_workers(run_flags, configs)
    victim = workers[-1]
    marker = os.path.join(killed_dir, distribute.BACKUP_FOLDER,
                          f"worker_{FLAGS.workers - 1}", distribute.BACKUP_METADATA)
    while victim.poll() is None and time.time() - start < FLAGS.timeout:
        if (os.path.exists(marker)
                and distribute.restored_epoch(os.path.dirname(marker)) >= FLAGS.kill_after_epochs):
            break
        time.sleep(0.05)
    time.sleep(FLAGS.kill_delay)
    if victim.poll() is not None:
        raise SystemExit(f"The worker ended before the kill: {victim.communicate()[1][-3000:]}")
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.time()
    report["seconds"]["until_kill"] = round(killed_at - start, 1)
    survivors = finish(workers[:-1], FLAGS.timeout)
    report["seconds"]["until_survivors_exit"] = round(time.time() - killed_at, 1)
    report["survivors"] = [
        {"exit_code": code,
         "error": ([line for line in err.splitlines() if "Error" in line] or [""])[-1][:300]}
        for code, _, err in survivors]
    victim.communicate()
    checkpoint = os.path.join(killed_dir, CHECKPOINT_NAME)
    report["checkpoint_epochs_after_kill"] = read_checkpoint_state(checkpoint)["epochs_done"]
    report["model_written_before_restart"] = os.path.exists(
        os.path.join(killed_dir, "model.keras"))

    start = time.time()
    restarted = finish(start_workers(run_flags, configs), FLAGS.timeout)
    _require_success(restarted, "restarted run")
    report["seconds"]["restarted_run"] = round(time.time() - start, 1)
    continued = RESTORED.search(restarted[0][2])
    report["restart_continued_from_epoch"] = int(continued.group(1)) if continued else None
    state = read_checkpoint_state(checkpoint)
    straight_state = read_checkpoint_state(os.path.join(straight_dir, CHECKPOINT_NAME))
    report["epochs_done"] = state["epochs_done"]
    report["same_step_count"] = state["global_step"] == straight_state["global_step"]
    report["largest_weight_difference_vs_straight_run"] = _largest_difference(
        os.path.join(killed_dir, "model.keras"), os.path.join(straight_dir, "model.keras"))
    report["backups_left"] = os.path.exists(os.path.join(killed_dir, distribute.BACKUP_FOLDER))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
