"""Training-step cost of the weighting strategies, with and without XLA.

    python -m keras_dmtl.benchmarks.train_step --backbone=mobile --image_size=112

Two figures per strategy, each against `static` (plain weighted sum) on the same
model and batch:

- floating-point operations of one compiled train step, counted in its graph
  (deterministic: the same on every run and machine);
- CPU time per image, measured in interleaved rounds. Each round times every
  strategy back to back, so the per-round ratio strategy / static cancels the
  machine's drift; the geometric mean of those ratios is reported with a 95 %
  confidence interval (Student t on the log-ratios), so that a claim such as
  "dynamic costs at most 1.03x static" can be checked in one run: it holds when
  the interval's upper end is at most 1.03.
"""

import statistics
import time

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.benchmarks.measure import random_batch  # noqa: E402
from keras_dmtl.benchmarks.measure import ratio_interval  # noqa: E402
from keras_dmtl.benchmarks.measure import step_flops  # noqa: E402
from keras_dmtl.models.multitask import DynamicMultiTaskModel  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "mobile", "Trunk: inception_resnet, mobile or tiny.")
flags.DEFINE_integer("image_size", 64, "Input height and width.")
flags.DEFINE_integer("channels", 1, "Input channels (1 or 3).")
flags.DEFINE_integer("batch_size", 32, "Images per step.")
flags.DEFINE_integer("num_identities", 100, "Identity classes.")
flags.DEFINE_integer("steps", 10, "Timed steps per strategy and round.")
flags.DEFINE_integer("rounds", 12, "Interleaved measurement rounds (the CI's sample size).")
flags.DEFINE_list("strategies", ["static", "dynamic", "naive_dynamic", "gradnorm"],
                  "Weighting strategies to measure; the first is the baseline.")
flags.DEFINE_list("xla", ["false", "true"], "XLA settings to measure.")
flags.DEFINE_bool("mixed_precision", False, "Use the mixed_float16 policy.")

BASELINE_TARGET = 1.03  # the dynamic step's allowed cost over the static one


def _model(strategy, jit_compile, shape):
    keras.utils.set_random_seed(0)
    model = DynamicMultiTaskModel(
        FLAGS.num_identities, 7, backbone=FLAGS.backbone, input_shape=shape, weighting=strategy
    )
    model.compile(optimizer="adam", jit_compile=jit_compile)
    return model


def _cpu_ms_per_image(model, dataset):
    """CPU milliseconds per image over FLAGS.steps steps.

    CPU time rather than wall time: a VM's CPU quota throttles wall-clock time in
    fixed slices, while the CPU time a step consumes is what the strategy costs.
    """
    cpu = time.process_time()
    model.fit(dataset, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0, shuffle=False)
    return 1000 * (time.process_time() - cpu) / (FLAGS.steps * FLAGS.batch_size)


def main(argv):
    del argv
    quiet_logs()
    if FLAGS.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    images, labels = random_batch(FLAGS.batch_size, shape, FLAGS.num_identities)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    strategies = list(FLAGS.strategies)
    baseline = strategies[0]
    devices = [d.device_type for d in tf.config.list_logical_devices()]
    print(f"backbone={FLAGS.backbone} input={shape} batch={FLAGS.batch_size} "
          f"devices={devices} policy={keras.mixed_precision.global_policy().name} "
          f"rounds={FLAGS.rounds} x {FLAGS.steps} steps")
    print(f"{'xla':<6}{'strategy':<15}{'GFLOP/step':>11}{'x ' + baseline:>10}"
          f"{'CPU ms/img':>12}{'x ' + baseline + ' (95% CI)':>28}")
    for xla in (value.lower() == "true" for value in FLAGS.xla):
        models = {name: _model(name, xla, shape) for name in strategies}
        flops = {}
        for name, model in models.items():  # compile and warm up outside the timing
            model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
            flops[name] = step_flops(model, images, labels)
        cpu = {name: [] for name in strategies}
        for _ in range(FLAGS.rounds):
            for name, model in models.items():
                cpu[name].append(_cpu_ms_per_image(model, dataset))
        for name in strategies:
            ratio, low, high = ratio_interval(cpu[name], cpu[baseline])
            print(f"{str(xla):<6}{name:<15}{flops[name] / 1e9:>11.3f}"
                  f"{flops[name] / flops[baseline]:>9.3f}x{statistics.median(cpu[name]):>12.3f}"
                  f"{ratio:>13.3f}x [{low:.3f}, {high:.3f}]", flush=True)
        if "dynamic" in cpu and baseline != "dynamic":
            _, _, high = ratio_interval(cpu["dynamic"], cpu[baseline])
            verdict = "holds" if high <= BASELINE_TARGET else "not shown"
            print(f"{str(xla):<6}dynamic <= {BASELINE_TARGET}x {baseline}: {verdict} "
                  f"(upper 95% bound {high:.3f}x)")


if __name__ == "__main__":
    app.run(main)
