"""The phone model's accuracy per millisecond: trunk x width x input size (prints a table).

    python -m keras_dmtl.benchmarks.phone_models --config=configs/ckplus.py \\
        --config.data_dir=/tmp/faces/CK+48 --config.epochs=20 --out_dir=/tmp/phone \\
        --rows=mobile:1.0:112,mobile:0.5:112,mobile:1.0:96,mobile:0.5:96,tiny:1.0:64

Every row trains the same config (same data, split and seed) with its trunk,
width and input size (`train.py`'s library call; a row whose run folder already
holds model.keras is not trained again), exports it to float32 and int8 TFLite
with the parity report, and times both on one thread, one image per call. The
table: parameters, inference MFLOPs, int8 size, int8 and float32 ms per face,
and, on the run's test subjects, expression accuracy and verification TAR at FAR
1e-3 (over every pair of them) and AUC, with what int8 costs on each head (export
report, points).

With `--qat_epochs=N` every row is also fine-tuned N more epochs from its model
twice, BatchNorm frozen, at `--qat_learning_rate`: plainly (the control: what
more training alone does) and quantisation-aware (`keras_dmtl.models.quantization`);
a second table gives float32 and int8 accuracy of the row and of both
fine-tunings on the held-out images of the export report, how many expression
labels int8 flips and how far int8 moves the embedding (mean 1 - cosine).

With `--teacher=inception_resnet:1.0:96` a big teacher row is trained on the
same data first, and every row is trained a second time as a distilled student
(Deng et al. 2020, `keras_dmtl.training.teacher`): the teacher's expression
probabilities mixed into every sample's ground truth at `--teacher_mix`, and
its embedding as a cosine target. The table then holds the teacher, each row
from scratch and each row distilled, measured alike.
"""

import os

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()  # before this module imports TensorFlow

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from keras_dmtl.training import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS
FORMATS = ("tflite_float32", "tflite_int8")


def define_flags():
    """The command line's flags (defined only when run as a program)."""
    flags.DEFINE_list("rows", ["mobile:1.0:112", "mobile:0.5:112", "mobile:1.0:96",
                               "mobile:0.5:96", "tiny:1.0:64"],
                      "backbone:width:image_size per row.")
    flags.DEFINE_string("out_dir", None, "One run folder per row is made here.")
    flags.DEFINE_integer("repeats", 100, "Timed single-image calls per format.")
    flags.DEFINE_integer("qat_epochs", 0, "Epochs of the plain and the quantisation-aware "
                         "fine-tuning of every row; 0: neither.")
    flags.DEFINE_float("qat_learning_rate", 1e-4, "Learning rate of both fine-tunings.")
    flags.DEFINE_string("teacher", None, "backbone:width:image_size of a teacher row to "
                        "distil every row from (rows need its image_size); none: no "
                        "distillation.")
    flags.DEFINE_float("teacher_mix", 0.5, "Share of the teacher in the loss of samples "
                       "with ground truth (config.teacher.mix) for the distilled rows.")
    flags.mark_flag_as_required("out_dir")
    return config_lib.define_config_flag("The base config every row starts from.")


def parse_row(text):
    """("mobile", 1.0, 112) from "mobile:1.0:112".

    Raises:
        ValueError: naming --rows, for another shape.
    """
    parts = text.split(":")
    try:
        backbone, width, size = parts
        return backbone, float(width), int(size)
    except ValueError:
        raise ValueError(f"--rows: {text!r} is not backbone:width:image_size "
                         "(e.g. mobile:0.5:96).") from None


def inference_mflops(model):
    """Floating-point operations of one image's forward pass, in millions."""
    import tensorflow as tf  # noqa: PLC0415

    from keras_dmtl.benchmarks.measure import function_flops  # noqa: PLC0415
    from keras_dmtl.export.inference import build_inference_model  # noqa: PLC0415

    inference = build_inference_model(model)
    spec = tf.TensorSpec((1,) + tuple(inference.input_shape[1:]), tf.float32)
    return function_flops(lambda x: inference(x, training=False), spec) / 1e6


def trained_and_exported(config):
    """Trains `config` (unless its run folder holds model.keras) and exports it to
    float32 and int8 TFLite (unless exported); returns the export report."""
    from keras_dmtl.export.artifacts import export_run  # noqa: PLC0415
    from keras_dmtl.io_utils import read_json  # noqa: PLC0415
    from keras_dmtl.training.run import train  # noqa: PLC0415

    if not os.path.exists(os.path.join(config.out_dir, "model.keras")):
        train(config)
    export_dir = os.path.join(config.out_dir, "export")
    if not os.path.exists(os.path.join(export_dir, "export_report.json")):
        export_run(config.out_dir, export_dir, formats=FORMATS)
    return read_json(os.path.join(export_dir, "export_report.json"))


def fine_tunings(config, epochs, learning_rate):
    """The row's export report and those of its plain and quantisation-aware
    fine-tunings ({"trained": ..., "fine-tuned": ..., "QAT": ...})."""
    reports = {"trained": trained_and_exported(config)}
    for arm, aware in (("fine-tuned", False), ("QAT", True)):
        reports[arm] = trained_and_exported(config_lib.with_updates(
            config, out_dir=f"{config.out_dir}_{'qat' if aware else 'finetuned'}{epochs}",
            init_from=os.path.join(config.out_dir, "model.keras"), freeze_batchnorm=True,
            quantization_aware=aware, epochs=epochs, learning_rate=learning_rate))
    return reports


def quantization_table(rows):
    """Markdown: float32 -> int8 accuracy per row and arm ({label: fine_tunings()})."""
    lines = ["| trunk | model | expr float32 | expr int8 | verif float32 | verif int8 | "
             "expression labels int8 flips | embedding 1 - cos, int8 vs float32 |",
             "|" + "---|" * 8]
    for label, reports in rows.items():
        for arm, report in reports.items():
            plain, int8 = report["keras"], report["tflite_int8"]
            flips = round((1 - int8["expression_top1_agreement"]) * int8["images"])
            lines.append(
                f"| {label} | {arm} | {plain['expression_accuracy']:.3f} | "
                f"{int8['expression_accuracy']:.3f} | {plain['verification_accuracy']:.4f} | "
                f"{int8['verification_accuracy']:.4f} | {flips} of {int8['images']} | "
                f"{1 - int8['embedding_cosine_mean']:.5f} |")
    return "\n".join(lines) + "\n"


def measure_row(config, repeats):
    """Trains (unless done), exports and times one row; returns its table values."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from keras_dmtl.benchmarks.measure import wall_ms  # noqa: PLC0415
    from keras_dmtl.edge.litert_model import LiteRTFaceModel  # noqa: PLC0415
    from keras_dmtl.io_utils import read_json  # noqa: PLC0415

    run_dir = config.out_dir
    report = trained_and_exported(config)
    test = read_json(os.path.join(run_dir, "metrics.json"))["test"]
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    image = np.random.default_rng(0).uniform(
        0, 255, (1, config.image_size, config.image_size, config.channels)).astype(np.float32)
    milliseconds = {fmt: wall_ms(LiteRTFaceModel(report[fmt]["path"]), image, repeats)
                    for fmt in FORMATS}
    keras_row, int8 = report["keras"], report["tflite_int8"]
    return {
        "parameters": model.network.count_params(),
        "mflops": inference_mflops(model),
        "int8_kb": int8["bytes"] / 1024,
        "int8_ms": milliseconds["tflite_int8"],
        "float32_ms": milliseconds["tflite_float32"],
        "expression_accuracy": test["expression"]["accuracy"],
        "tar": test["verification_all_pairs"]["tar@far=0.001"],  # every pair: enough impostors
        "auc": test["verification"]["auc"],
        "int8_expression_drop": 100 * (keras_row["expression_accuracy"]
                                       - int8["expression_accuracy"]),
        "int8_verification_drop": 100 * (keras_row["verification_accuracy"]
                                         - int8["verification_accuracy"]),
    }


def table(rows):
    """The Markdown table of `rows` ({label: measure_row values})."""
    lines = ["| trunk | params | MFLOPs | int8 KB | int8 ms | float32 ms | expression acc | "
             "TAR@FAR=1e-3 | AUC | int8 drop expr / verif (pts) |", "|" + "---|" * 10]
    for label, r in rows.items():
        tar = r["tar"] if isinstance(r["tar"], str) else f"{r['tar']:.3f}"
        lines.append(
            f"| {label} | {r['parameters'] / 1e6:.2f} M | {r['mflops']:.0f} | {r['int8_kb']:.0f} "
            f"| {r['int8_ms']:.1f} | {r['float32_ms']:.1f} | {r['expression_accuracy']:.3f} | "
            f"{tar} | {r['auc']:.4f} | {r['int8_expression_drop']:+.1f} / "
            f"{r['int8_verification_drop']:+.1f} |")
    return "\n".join(lines) + "\n"


def row_config(base_config, text, out_dir):
    """(label, config) of the row `text` ("backbone:width:image_size")."""
    backbone, width, size = parse_row(text)
    config = config_lib.with_updates(
        base_config, backbone=backbone, backbone_width=width, image_size=size,
        out_dir=os.path.join(out_dir, f"{backbone}_{width:g}_{size}"),
        **{"export.enabled": False})
    return f"{backbone} {width:g} @ {size} px", config


def distilled(config, teacher, mix):
    """`config` as a student of the run `teacher` (same data, split and seed).

    Raises:
        ValueError: naming --rows and --teacher, for a row of another image size
            (the teacher's soft labels are computed on the row's own crops).
    """
    if teacher.image_size != config.image_size:
        raise ValueError(
            f"--rows: a {config.image_size} px row cannot be distilled from the "
            f"{teacher.image_size} px --teacher; give rows and teacher one image_size.")
    return config_lib.with_updates(
        config, out_dir=f"{config.out_dir}_distilled",
        **{"teacher.model": teacher.out_dir, "teacher.mix": mix})


def main(argv, base_config):
    del argv
    quiet_logs()
    teacher_label, teacher = (row_config(base_config, FLAGS.teacher, FLAGS.out_dir)
                              if FLAGS.teacher else (None, None))
    planned = []  # every row's configs first: a bad row fails before hours of training
    for text in FLAGS.rows:
        label, config = row_config(base_config, text, FLAGS.out_dir)
        student = teacher and distilled(config, teacher, FLAGS.teacher_mix)
        planned.append((label, config, student))
    rows, quantized = {}, {}
    if teacher:
        rows[f"teacher: {teacher_label}"] = measure_row(teacher, FLAGS.repeats)
    for label, config, student in planned:
        rows[label] = measure_row(config, FLAGS.repeats)
        if student:
            rows[f"{label}, distilled"] = measure_row(student, FLAGS.repeats)
        print(table(rows))
        if FLAGS.qat_epochs:
            quantized[label] = fine_tunings(config, FLAGS.qat_epochs, FLAGS.qat_learning_rate)
            print(quantization_table(quantized))
    text = table(rows) + (f"\n{quantization_table(quantized)}" if quantized else "")
    with open(os.path.join(FLAGS.out_dir, "phone_models.md"), "w") as stream:
        stream.write(text)


if __name__ == "__main__":
    _CONFIG = define_flags()
    app.run(lambda argv: main(argv, config_lib.validate(_CONFIG.value)),
            flags_parser=config_lib.parse_flags)
