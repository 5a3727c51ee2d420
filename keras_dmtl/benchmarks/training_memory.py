"""Peak memory of train.py on many generated faces: streamed from shards vs in memory.

    nice -n 10 python -m keras_dmtl.benchmarks.training_memory --work_dir=/tmp/scale \\
        --images=100000 --identities=2000

Writes --images generated faces into shards under --work_dir (once: a rerun
keeps them), then runs train.py on the same shards twice, each in its own
process: loaded into memory (`--config.streaming=false`, the path raw datasets
take) and streamed (`--config.streaming=true`). Prints each run's wall time and
peak resident memory (the kernel's high-water mark of that process, `wait4`).
Export is off: it is not part of the input path.
"""

import os
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", None, "Folder for the shards and the two runs.")
flags.DEFINE_integer("images", 100000, "Generated faces.", lower_bound=1)
flags.DEFINE_integer("identities", 2000, "People among them.", lower_bound=3)
flags.DEFINE_integer("image_size", 64, "Crop side.", lower_bound=16)
flags.DEFINE_integer("epochs", 1, "Epochs of each run.", lower_bound=1)
flags.DEFINE_list("modes", ["false", "true"], "config.streaming of the runs.")
flags.DEFINE_multi_string("train_flag", ["--config.backbone_width=0.5",
                                         "--config.batch_size=64"],
                          "Further train.py flags (repeatable).")
flags.mark_flag_as_required("work_dir")


def _run(command):
    """(exit status, wall seconds, peak RSS bytes) of `command` in its own process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=_ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss * 1024


def main(argv):
    del argv
    shards = os.path.join(FLAGS.work_dir, "shards")
    code, seconds, peak = _run([
        sys.executable, "-m", "keras_dmtl.data.shards", f"--synthetic={FLAGS.images}",
        f"--synthetic_identities={FLAGS.identities}", f"--image_size={FLAGS.image_size}",
        f"--out_dir={shards}"])
    if code:
        sys.exit(code)
    rows = [("python -m keras_dmtl.data.shards", seconds, peak)]
    for mode in FLAGS.modes:
        out_dir = os.path.join(FLAGS.work_dir, f"run_streaming_{mode}")
        shutil.rmtree(out_dir, ignore_errors=True)  # this benchmark's own earlier run
        code, seconds, peak = _run([
            sys.executable, os.path.join(_ROOT, "train.py"), f"--config.data_dir={shards}",
            f"--config.image_size={FLAGS.image_size}", f"--config.streaming={mode}",
            f"--config.epochs={FLAGS.epochs}", f"--config.out_dir={out_dir}",
            "--config.export.enabled=False", "--config.verbose=2", *FLAGS.train_flag])
        if code:
            sys.exit(code)
        rows.append((f"train.py, streaming={mode}", seconds, peak))
    decoded = FLAGS.images * FLAGS.image_size ** 2
    print(f"\n{FLAGS.images} generated faces of {FLAGS.identities} people, "
          f"{FLAGS.image_size}x{FLAGS.image_size} gray ({decoded / 2**20:.0f} MiB decoded), "
          f"{FLAGS.epochs} epoch(s), {os.cpu_count()} CPU cores")
    print(f"{'run':<30}{'wall (s)':>10}{'peak RSS (MiB)':>16}")
    for name, seconds, peak in rows:
        print(f"{name:<30}{seconds:>10.0f}{peak / 2**20:>16.0f}")


if __name__ == "__main__":
    app.run(main)
