"""Where a CPU training step spends its time, with and without XLA (not a test: it prints).

    python -m keras_dmtl.benchmarks.xla_cpu --backbone=mobile --image_size=112 --channels=3

Three tables, every figure the median of --repeats timed calls after a warm-up
(which includes compilation), in CPU milliseconds (`time.process_time`: all
threads, so a 2-core machine's full use counts twice):

1. **Layers.** Forward + backward (gradients of the output's sum with respect to
   the input and the weights) of each kind of layer the trunk is made of, at the
   trunk's own shapes, with `jit_compile` off and on: which kind XLA:CPU slows.
2. **Step.** The model's whole train step (the strategy's two optimizers
   included) off and on, in ms per image, against the step's floating-point
   operations (counted in its graph) and the machine's measured matmul rate:
   how far each is from what the CPU could do.
3. **Parts of the step without XLA.** Forward pass, forward + backward, and the
   whole step: what the optimizers, the weight unit and the metrics add.
"""

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.benchmarks.measure import cpu_ms  # noqa: E402
from keras_dmtl.benchmarks.measure import random_batch  # noqa: E402
from keras_dmtl.benchmarks.measure import step_flops  # noqa: E402
from keras_dmtl.models.multitask import DynamicMultiTaskModel  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "mobile", "Trunk: mobile, tiny or inception_resnet.")
flags.DEFINE_integer("image_size", 112, "Input height and width.")
flags.DEFINE_integer("channels", 3, "Input channels.")
flags.DEFINE_integer("batch_size", 32, "Images per step.")
flags.DEFINE_string("weighting", "dynamic", "Weighting strategy of the step.")
flags.DEFINE_integer("repeats", 3, "Timed calls per figure (the median is reported).")
NUM_IDENTITIES = 100
flags.DEFINE_list("parts", ["layers", "step", "decompose"], "Tables to print.")


def matmul_gflops(size=1024, repeats=5):
    """The machine's float32 matmul rate in GFLOP/s per CPU second (the bound a
    convolution-heavy step can approach)."""
    a = tf.random.uniform((size, size))
    b = tf.random.uniform((size, size))
    product = tf.function(lambda: tf.matmul(a, b))
    return 2 * size**3 / cpu_ms(lambda: product().numpy(), repeats) / 1e6


def _layer_cases(batch, size):
    """(name, layer, input shape) of the mobile trunk's kinds of layer at its shapes."""
    half, quarter = size // 2, size // 4
    return [
        ("conv 3x3 stride 2 (stem)", keras.layers.Conv2D(64, 3, 2, padding="same"),
         (batch, size, size, 3)),
        ("depthwise 3x3 stride 1", keras.layers.DepthwiseConv2D(3, 1, padding="same"),
         (batch, half, half, 128)),
        ("depthwise 3x3 stride 2", keras.layers.DepthwiseConv2D(3, 2, padding="same"),
         (batch, half, half, 128)),
        ("pointwise 1x1 conv", keras.layers.Conv2D(128, 1), (batch, half, half, 64)),
        ("batch norm (training)", keras.layers.BatchNormalization(), (batch, half, half, 128)),
        ("depthwise 3x3 stride 1, 1/4 size", keras.layers.DepthwiseConv2D(3, 1, padding="same"),
         (batch, quarter, quarter, 256)),
    ]


def _layer_step(layer, inputs, jit_compile):
    if not layer.built:
        layer.build(inputs.shape)

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            total = tf.reduce_sum(layer(inputs, training=True))
        return tape.gradient(total, [inputs] + layer.trainable_variables)

    return lambda: [g.numpy() for g in step()]


def layers_table():
    rows = ["| layer (forward + backward) | input | no XLA ms | XLA ms | XLA / no XLA |",
            "|---|---|---|---|---|"]
    for name, layer, shape in _layer_cases(FLAGS.batch_size, FLAGS.image_size):
        inputs = tf.random.uniform(shape)
        times = [cpu_ms(_layer_step(layer, inputs, jit), FLAGS.repeats) for jit in (False, True)]
        rows.append(f"| {name} | {'x'.join(map(str, shape))} | {times[0]:.1f} | {times[1]:.1f} "
                    f"| {times[1] / times[0]:.2f}x |")
    return "\n".join(rows)


def _model(jit_compile, shape):
    keras.utils.set_random_seed(0)
    model = DynamicMultiTaskModel(NUM_IDENTITIES, 7, backbone=FLAGS.backbone, input_shape=shape,
                                  weighting=FLAGS.weighting)
    model.compile(optimizer="adam", jit_compile=jit_compile)
    return model


def step_table(shape, peak):
    images, labels = random_batch(FLAGS.batch_size, shape, NUM_IDENTITIES)
    rows = ["| train step | CPU ms / image | images / CPU s | GFLOP / image | "
            "GFLOP/s reached | share of matmul rate |", "|---|---|---|---|---|---|"]
    for jit in (False, True):
        model = _model(jit, shape)
        model.train_on_batch(images, labels)
        flops = step_flops(model, tf.constant(images),
                           {k: tf.constant(v) for k, v in labels.items()}) / FLAGS.batch_size
        ms = cpu_ms(lambda: model.train_on_batch(images, labels), FLAGS.repeats) / FLAGS.batch_size
        rows.append(f"| {'XLA' if jit else 'no XLA'} | {ms:.1f} | {1000 / ms:.1f} | "
                    f"{flops / 1e9:.3f} | {flops / ms / 1e6:.1f} | "
                    f"{flops / ms / 1e6 / peak:.0%} |")
    return "\n".join(rows)


def decompose_table(shape):
    images, labels = random_batch(FLAGS.batch_size, shape, NUM_IDENTITIES)
    model = _model(False, shape)
    model.train_on_batch(images, labels)
    images_t = tf.constant(images)
    labels_t = {k: tf.constant(v) for k, v in labels.items()}

    @tf.function
    def forward():
        return model(images_t, training=True)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            losses, _ = model.compute_task_losses(model(images_t, training=True), labels_t)
            total = tf.reduce_sum(losses)
        return tape.gradient(total, model.main_variables())

    parts = [("forward (training mode)", lambda: tf.nest.map_structure(
                  lambda t: t.numpy(), forward())),
             ("forward + backward (summed task losses)", lambda: [
                  g.numpy() for g in forward_backward() if g is not None]),
             ("whole train step (both optimizers, metrics)", lambda: model.train_on_batch(
                  images, labels))]
    rows = ["| part of the step, no XLA | CPU ms / batch | ms / image |", "|---|---|---|"]
    for name, function in parts:
        ms = cpu_ms(function, FLAGS.repeats)
        rows.append(f"| {name} | {ms:.0f} | {ms / FLAGS.batch_size:.1f} |")
    return "\n".join(rows)


def main(argv):
    del argv
    quiet_logs()
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    peak = matmul_gflops()
    print(f"{FLAGS.backbone} trunk, {shape}, batch {FLAGS.batch_size}, {FLAGS.weighting} "
          f"weighting; TF {tf.__version__}; float32 matmul {peak:.1f} GFLOP per CPU second\n")
    if "layers" in FLAGS.parts:
        print(layers_table(), "\n")
    if "step" in FLAGS.parts:
        print(step_table(shape, peak), "\n")
    if "decompose" in FLAGS.parts:
        print(decompose_table(shape), "\n")


if __name__ == "__main__":
    app.run(main)
