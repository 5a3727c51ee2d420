"""Per-face inference latency of every exported format (not a test: it prints).

    python -m keras_dmtl.benchmarks.latency --run_dir=runs/gradnorm_tiny_seed0

Needs the run's export folder (export/export_model.py). One thread everywhere,
one image per call, as on a phone; the median of --repeats calls after warm-up.
Targets (issue 5): int8 >= 10x faster than Keras `predict` on one image; the
`mobile` int8 model <= 4 MB.
"""

import os

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_dmtl.benchmarks.measure import wall_ms  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "Run folder with model.keras and export/.")
flags.DEFINE_integer("repeats", 50, "Timed calls per format.")
flags.mark_flag_as_required("run_dir")


def main(argv):
    del argv
    quiet_logs()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import onnxruntime

    import keras_dmtl.models  # noqa: F401  (registers the custom classes for loading)
    from keras_dmtl.edge.litert_model import LiteRTFaceModel
    from keras_dmtl.io_utils import read_json

    export_dir = os.path.join(FLAGS.run_dir, "export")
    manifest = read_json(os.path.join(export_dir, "manifest.json"))
    size = manifest["input"]["height"]
    image = np.random.default_rng(0).uniform(
        0, 255, (1, size, size, manifest["input"]["channels"])).astype(np.float32)
    model = keras.saving.load_model(os.path.join(FLAGS.run_dir, "model.keras"))
    calls = {"keras predict": lambda x: model.predict(x, verbose=0)}
    serving = tf.saved_model.load(os.path.join(export_dir, "serving", "dmtl", "1"))
    signature = serving.signatures["serving_default"]
    calls["saved_model"] = lambda x: signature(images=tf.constant(x))
    for kind in ("float32", "float16", "dynamic", "int8"):
        fmt = f"tflite_{kind}"
        if fmt in manifest["formats"]:
            litert = LiteRTFaceModel(os.path.join(export_dir, manifest["formats"][fmt]["file"]))
            calls[fmt] = litert
    if "onnx" in manifest["formats"]:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            os.path.join(export_dir, manifest["formats"]["onnx"]["file"]), options,
            providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        calls["onnx"] = lambda x: session.run(None, {input_name: x})
    results = {name: wall_ms(call, image, FLAGS.repeats) for name, call in calls.items()}
    baseline = results["keras predict"]
    print(f"input {size}x{size}x{manifest['input']['channels']}, 1 thread, median of "
          f"{FLAGS.repeats} single-image calls")
    print(f"{'format':<16}{'ms/face':>10}{'speed-up vs Keras':>20}{'size (KB)':>12}")
    for name, ms in results.items():
        key = "keras" if name == "keras predict" else name
        size_kb = manifest["formats"].get(key, {}).get("bytes", 0) / 1024
        print(f"{name:<16}{ms:>10.2f}{baseline / ms:>19.1f}x{size_kb:>12.0f}")


if __name__ == "__main__":
    app.run(main)
