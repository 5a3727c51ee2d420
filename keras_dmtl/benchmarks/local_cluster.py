"""A cluster of train.py workers on one machine, for tests and benchmarks.

Each worker is a `train.py --config.distribute=multi_worker` process with its
own TF_CONFIG, the way each machine of a real cluster runs it.
"""

import json
import os
import socket
import subprocess
import sys

TRAIN_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                        "train.py")


def tf_configs(count, host="127.0.0.1"):
    """TF_CONFIG values of a `count`-worker cluster on `host`.

    Args:
        count: workers.
        host: the address every worker listens on.

    Returns:
        One JSON string per worker, index 0 first; the ports were free when asked.
    """
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind((host, 0))
    cluster = {"worker": [f"{host}:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            for index in range(count)]


def settings_flags(settings):
    """`--config.<key>=<value>` flags of a settings dict."""
    return [f"--config.{key}={value}" for key, value in settings.items()]


def start_workers(train_flags, configs, cwd=None):
    """Starts one `train.py --config.distribute=multi_worker` process per TF_CONFIG.

    Args:
        train_flags: the other train.py flags, the same for every worker.
        configs: TF_CONFIG values (`tf_configs`).
        cwd: the processes' working folder.

    Returns:
        The `subprocess.Popen` objects, stdout and stderr piped as text.
    """
    return [subprocess.Popen(
        [sys.executable, TRAIN_PY, "--config.distribute=multi_worker", *train_flags],
        cwd=cwd, env=dict(os.environ, TF_CONFIG=config), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for config in configs]


def finish(workers, timeout):
    """Waits for `workers` (`timeout` seconds each); returns [(exit code, stdout, stderr)]."""
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        results.append((worker.returncode, out, err))
    return results
