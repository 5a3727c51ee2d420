"""Images per second per CPU core of the streamed input pipeline (shards -> batches).

    python -m keras_dmtl.benchmarks.input_pipeline                  # generated shards
    python -m keras_dmtl.benchmarks.input_pipeline --shards=shards/casia --threads=1,2,4

Times what `train.py` runs on shards before the model: read, parse, shuffle,
decode, augment, batch. With no --shards it writes generated shards (64 px gray
PNG, the default run, and 112 px RGB JPEG, the phone model) into a temporary
folder first. tf.data gets a private pool of --threads threads; the rate per
core is images per CPU second of the whole process, so it holds however many
cores the pipeline gets. Last, the cores a GPU training at --gpu_rate images/s
would need to be fed.
"""

import os
import shutil
import tempfile
import time

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.data.faces.alignment import FACE_MARGIN  # noqa: E402
from keras_dmtl.data.shards import writer as shard_writer  # noqa: E402
from keras_dmtl.data.shards.index import read_index  # noqa: E402
from keras_dmtl.data.shards.streaming import make_shard_training_dataset  # noqa: E402
from keras_dmtl.data.shards.streaming import split_shards  # noqa: E402
from keras_dmtl.data.shards.worker import CropSettings  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("shards", None, "A shard folder; default: generated shards (see --sets).")
flags.DEFINE_list("sets", ["64x1:png", "112x3:jpeg"], "Generated sets, <size>x<channels>:"
                  "<encoding>, when --shards is not given.")
flags.DEFINE_integer("images", 4096, "Images per generated set.", lower_bound=1)
flags.DEFINE_integer("identities", 256, "People per generated set.", lower_bound=3)
flags.DEFINE_list("threads", ["1", "2"], "tf.data thread pool sizes to measure.")
flags.DEFINE_integer("batch_size", 64, "Images per batch.", lower_bound=1)
flags.DEFINE_integer("epochs", 2, "Timed epochs (after one untimed warm-up epoch).",
                     lower_bound=1)
flags.DEFINE_float("gpu_rate", 20000.0, "Images/s of the GPU training step to feed.")


def _generated(root, spec):
    size, rest = spec.split("x")
    channels, encoding = rest.split(":")
    settings = CropSettings(int(size), int(channels), "none", FACE_MARGIN, encoding)
    out = os.path.join(root, spec.replace(":", "_"))
    plan = shard_writer.plan_generated(FLAGS.images, FLAGS.identities)
    return shard_writer.write_shards(plan, out, settings, shard_size=256)


def measure(index, threads):
    """(images/s wall, images per CPU second) of the training pipeline on `index`."""
    train = split_shards(index, (1.0, 0.0, 0.0), seed=0)[0]
    dataset, steps = make_shard_training_dataset(train, FLAGS.batch_size, 0, 0,
                                                 FLAGS.epochs + 1)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    iterator = iter(dataset.with_options(options))
    for _ in range(steps):  # warm-up epoch: tracing, autotuning, file cache
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    images = 0
    for batch, _ in iterator:
        images += int(batch.shape[0])
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def main(argv):
    del argv
    quiet_logs()
    root = None if FLAGS.shards else tempfile.mkdtemp(prefix="input_pipeline_")
    try:
        if FLAGS.shards:
            sets = {FLAGS.shards: read_index(FLAGS.shards)}
        else:
            sets = {spec: _generated(root, spec) for spec in FLAGS.sets}
        print(f"{'shards':<28}{'threads':>8}{'images/s':>10}{'per core':>10}"
              f"{'cores for ' + format(FLAGS.gpu_rate, 'g') + '/s':>18}")
        for name, index in sets.items():
            label = (f"{os.path.basename(os.path.normpath(name)) if FLAGS.shards else 'generated'}"
                     f" {index.image_size}x{index.image_size}x{index.channels} "
                     f"{index.encoding}")
            for threads in (int(t) for t in FLAGS.threads):
                rate, per_core = measure(index, threads)
                print(f"{label:<28}{threads:>8}{rate:>10.0f}{per_core:>10.0f}"
                      f"{FLAGS.gpu_rate / per_core:>18.1f}", flush=True)
    finally:
        if root:
            shutil.rmtree(root)


if __name__ == "__main__":
    app.run(main)
