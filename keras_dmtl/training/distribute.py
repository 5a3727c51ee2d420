"""The tf.distribute strategy of a run (`config.distribute`) and each worker's role.

`multi_worker` reads the cluster from the TF_CONFIG environment variable, the
convention of `tf.distribute.MultiWorkerMirroredStrategy`: every worker runs the
same command with the same config; TF_CONFIG differs only in its "task".

Every worker trains, evaluates and saves in lockstep (saving reads variables
that are all-reduced), but only the chief writes into the run folder: the
others write into a temporary folder of their own, deleted at the end
(TensorFlow's "Multi-worker training with Keras" guide). What every worker
keeps is its `BackupAndRestore` backup, `<run folder>/backup/<task>_<index>`,
from which a restarted cluster continues.
"""

import json
import os

import tensorflow as tf

from keras_dmtl.data.records import DataError

EXAMPLE_TF_CONFIG = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')
BACKUP_FOLDER = "backup"
# What keras.callbacks.BackupAndRestore (Keras 3.15) writes beside its weights:
# {"epoch": epochs done, "batch": ...}.
BACKUP_METADATA = "training_metadata.json"


def cluster_from_environment():
    """The cluster and this worker's task from TF_CONFIG.

    Returns:
        (cluster dict {job: [addresses]}, task type, task index).

    Raises:
        ValueError: TF_CONFIG is missing or malformed; the message names the
            setting and shows a valid TF_CONFIG.
    """
    raw = os.environ.get("TF_CONFIG")
    how = (f"set TF_CONFIG on every worker, e.g. TF_CONFIG='{EXAMPLE_TF_CONFIG}' with "
           "\"index\" 0, 1, ... (docs/training.md, \"More than one machine\")")
    if not raw:
        raise ValueError("--config.distribute=multi_worker: the environment variable "
                         f"TF_CONFIG is not set; {how}.")
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        task_type, index = task["type"], int(task["index"])
        addresses = cluster[task_type]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--config.distribute=multi_worker: TF_CONFIG={raw!r} is not a "
                         f"cluster with this worker's task ({error!r}); {how}.") from None
    if not 0 <= index < len(addresses):
        raise ValueError(f"--config.distribute=multi_worker: TF_CONFIG's task index {index} "
                         f"is not one of the {len(addresses)} {task_type!r} addresses; {how}.")
    return cluster, task_type, index


def make_strategy(setting):
    """The strategy for `config.distribute`.

    Create it before any other TensorFlow work: MultiWorkerMirroredStrategy
    configures the collective ops of the process.

    Args:
        setting: "none", "mirrored" or "multi_worker".

    Returns:
        A `tf.distribute.Strategy` ("none": the default, one-device strategy).

    Raises:
        ValueError: multi_worker without a valid TF_CONFIG, or an unknown setting.
    """
    if setting == "none":
        return tf.distribute.get_strategy()
    if setting == "mirrored":
        return tf.distribute.MirroredStrategy()
    if setting == "multi_worker":
        cluster_from_environment()  # a clear error before TensorFlow's own
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--config.distribute={setting}: choose none, mirrored or multi_worker.")


def task_of(strategy):
    """(task type, index) of this process in its cluster, or None outside one."""
    resolver = strategy.cluster_resolver if isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy) else None
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None
    return resolver.task_type, int(resolver.task_id)


def is_chief_task(cluster, task_type, index):
    """Whether the task writes the run folder: the "chief" task, or worker 0 of a
    cluster without one (TensorFlow's convention).

    Args:
        cluster: {job name: [addresses]} (TF_CONFIG's "cluster").
        task_type, index: the task (TF_CONFIG's "task").
    """
    return task_type == "chief" or (task_type == "worker" and int(index) == 0
                                    and "chief" not in cluster)


def is_chief(strategy):
    """`is_chief_task` for this process under `strategy`; True outside a cluster."""
    task = task_of(strategy)
    if task is None:
        return True
    return is_chief_task(strategy.cluster_resolver.cluster_spec().as_dict(), *task)


def backup_dir(run_dir, strategy):
    """This worker's `BackupAndRestore` folder under the run folder, or None when
    the run is not multi-worker (single machines resume with --config.resume)."""
    task = task_of(strategy)
    if task is None:
        return None
    return os.path.join(run_dir, BACKUP_FOLDER, f"{task[0]}_{task[1]}")


def restored_epoch(path):
    """The epochs done according to the `BackupAndRestore` backup in `path`.

    The data of an epoch is drawn from (seed, epoch), so a restarted worker must
    know the epoch it continues from before it builds its data stream.

    Args:
        path: a folder from `backup_dir`, or None.

    Returns:
        The epochs the backup holds, or None when there is no backup.

    Raises:
        DataError: naming the file, when the backup's metadata is unreadable.
    """
    if path is None:
        return None
    metadata = os.path.join(path, BACKUP_METADATA)
    if not os.path.exists(metadata):
        return None
    try:
        with open(metadata) as handle:
            return int(json.load(handle)["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{metadata}: not a BackupAndRestore backup ({error!r}); delete "
                        f"{path} to restart this run from its last checkpoint with "
                        "--config.resume=True.") from None


def check_same_epoch(strategy, epoch):
    """Refuses to continue when the workers restored different epochs.

    A worker killed while writing its backup may keep an older one than the
    others; they would then run different numbers of steps and wait on each
    other forever.

    Args:
        strategy: the run's strategy.
        epoch: this worker's `restored_epoch` (None: no backup, counted as 0).

    Raises:
        DataError: naming the epochs, when they differ.
    """
    if task_of(strategy) is None:
        return
    mine = tf.constant([0 if epoch is None else int(epoch)], tf.int64)
    epochs = strategy.gather(
        strategy.experimental_distribute_values_from_function(lambda _: mine), axis=0)
    epochs = sorted(set(int(e) for e in epochs.numpy()))
    if len(epochs) > 1:
        raise DataError(f"The workers' backups hold different epochs {epochs} (a worker was "
                        f"stopped while writing its backup): delete the {BACKUP_FOLDER} folder "
                        "of the run on every worker and continue with --config.resume=True.")
