"""Training-step throughput of the weighting strategies, with and without XLA.

    python -m keras_dmtl.benchmarks.train_step --backbone=mobile --image_size=112

Prints images/second for the `dynamic`, `static` and `naive_dynamic` strategies on
the same model and batch, and the cost of the dynamic step relative to the static
one (target: at most 1.03x). Strategies are measured in interleaved rounds and
the median is reported, so that drift of the machine hits all of them alike.
"""

import os
import statistics
import time

from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.models.multitask import DynamicMultiTaskModel  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "mobile", "Trunk: inception_resnet, mobile or tiny.")
flags.DEFINE_integer("image_size", 64, "Input height and width.")
flags.DEFINE_integer("channels", 1, "Input channels (1 or 3).")
flags.DEFINE_integer("batch_size", 32, "Images per step.")
flags.DEFINE_integer("num_identities", 100, "Identity classes.")
flags.DEFINE_integer("steps", 20, "Timed steps per round.")
flags.DEFINE_integer("rounds", 3, "Interleaved measurement rounds (median reported).")
flags.DEFINE_list("xla", ["false", "true"], "XLA settings to measure.")
flags.DEFINE_bool("mixed_precision", False, "Use the mixed_float16 policy.")

STRATEGIES = ("dynamic", "static", "naive_dynamic")


def _dataset(batch_size, shape, num_identities):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size,) + shape).astype("float32")
    labels = {
        "identity": rng.integers(0, num_identities, batch_size).astype("int32"),
        "expression": rng.integers(0, 7, batch_size).astype("int32"),
    }
    return tf.data.Dataset.from_tensors((images, labels)).repeat()


def _model(strategy, jit_compile, shape):
    keras.utils.set_random_seed(0)
    model = DynamicMultiTaskModel(
        FLAGS.num_identities, 7, backbone=FLAGS.backbone, input_shape=shape, weighting=strategy
    )
    model.compile(optimizer="adam", jit_compile=jit_compile)
    return model


def _measure(model, dataset, steps):
    """(images per wall-clock second, CPU milliseconds per image).

    CPU time is reported too because a VM's CPU quota throttles wall-clock time
    in fixed slices (rates then cluster on a few values), while the CPU time a
    step consumes is what the strategy costs.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    images = steps * FLAGS.batch_size
    return images / (time.perf_counter() - wall), 1000 * (time.process_time() - cpu) / images


def main(argv):
    del argv
    if FLAGS.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    dataset = _dataset(FLAGS.batch_size, shape, FLAGS.num_identities)
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    print(f"backbone={FLAGS.backbone} input={shape} batch={FLAGS.batch_size} "
          f"devices={devices} policy={keras.mixed_precision.global_policy().name}")
    print(f"{'xla':<6}{'strategy':<16}{'images/s':>10}{'CPU ms/image':>14}   images/s per round")
    for xla in (value.lower() == "true" for value in FLAGS.xla):
        models = {name: _model(name, xla, shape) for name in STRATEGIES}
        for model in models.values():  # compile and warm up outside the timing
            model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
        rates = {name: [] for name in STRATEGIES}
        cpu = {name: [] for name in STRATEGIES}
        for _ in range(FLAGS.rounds):
            for name, model in models.items():
                rate, cpu_ms = _measure(model, dataset, FLAGS.steps)
                rates[name].append(rate)
                cpu[name].append(cpu_ms)
        medians = {name: statistics.median(r) for name, r in rates.items()}
        cpu_medians = {name: statistics.median(c) for name, c in cpu.items()}
        for name in STRATEGIES:
            rounds = " ".join(f"{r:.1f}" for r in rates[name])
            print(f"{str(xla):<6}{name:<16}{medians[name]:>10.1f}{cpu_medians[name]:>14.3f}   "
                  f"{rounds}", flush=True)
        wall_ratio = medians["static"] / medians["dynamic"]
        cpu_ratio = cpu_medians["dynamic"] / cpu_medians["static"]
        print(f"{str(xla):<6}dynamic/static step cost: {wall_ratio:.3f}x wall, "
              f"{cpu_ratio:.3f}x CPU (target <= 1.03x)")


if __name__ == "__main__":
    app.run(main)
