"""How an exported model does on a face set it never saw, through the device's path.

    python -m keras_dmtl.export.transfer --export_dir=runs/x/export \\
        --data_dir=/tmp/faces/jaffe --detector=haar

Every image goes the way a phone's camera frame goes in `python -m keras_dmtl.unlock`:
decode, detect, align, the exported LiteRT model. Then every pair of the faces
found is scored, and the report says:

- at the export's own threshold, the share of impostor pairs accepted (FAR, with
  its 95 % Clopper-Pearson upper bound) and of genuine pairs accepted (TAR): does
  the threshold calibrated on the training data's held-out people hold here?
- the threshold-free figures: AUC, impostor and genuine similarity medians,
  TAR at FAR 1e-3;
- expression accuracy and macro-F1 over the images whose label the model knows.

A threshold that does not transfer is the finding that matters for an unlock: it
means calibrating on the user's own population (`export_model.py
--export.calibration_data=`).
"""

import os

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import numpy as np  # noqa: E402
import tqdm  # noqa: E402

from keras_dmtl.data.faces.loading import decode_image  # noqa: E402
from keras_dmtl.data.faces.loading import face_crop  # noqa: E402
from keras_dmtl.data.readers import read_dataset  # noqa: E402
from keras_dmtl.data.records import DataError  # noqa: E402
from keras_dmtl.edge.litert_model import LiteRTFaceModel  # noqa: E402
from keras_dmtl.edge.manifest import ManifestError  # noqa: E402
from keras_dmtl.edge.manifest import load_manifest  # noqa: E402
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE  # noqa: E402
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION  # noqa: E402
from keras_dmtl.edge.runtime import frame_detectors  # noqa: E402
from keras_dmtl.edge.runtime import read_outputs  # noqa: E402
from keras_dmtl.evaluation.expression import evaluate_expression  # noqa: E402
from keras_dmtl.evaluation.verification import all_pair_scores  # noqa: E402
from keras_dmtl.evaluation.verification import roc_auc  # noqa: E402
from keras_dmtl.evaluation.verification import verification_all_pairs  # noqa: E402
from keras_dmtl.export.calibration import far_upper_bound  # noqa: E402
from keras_dmtl.io_utils import write_json  # noqa: E402

FLAGS = flags.FLAGS


def _define_flags():
    """The command line's flags; defined only when run as a program, so that
    importing the module's functions (tests, other tools) defines none."""
    flags.DEFINE_string("export_dir", None, "Export folder (manifest.json and model files).")
    flags.DEFINE_string("data_dir", None, "A face set in any layout train.py reads.")
    flags.DEFINE_string("dataset", "auto", "Its format, or auto.")
    flags.DEFINE_string("format", "tflite_int8", "Which exported model to run.")
    flags.DEFINE_string("detector", "haar", "none (crops), haar, mtcnn or yunet:/path.onnx.")
    flags.DEFINE_integer("max_detect_side", MAX_DETECT_SIDE, "Faces are searched in a copy of "
                         "each image shrunk to this longer side, as `unlock --max_detect_side` "
                         "(0: the image as it is).", lower_bound=0)
    flags.DEFINE_float("min_face_fraction", MIN_FACE_FRACTION, "Smallest face looked for, as "
                       "a fraction of the image's shorter side, as `unlock "
                       "--min_face_fraction` (0: every size).", lower_bound=0.0, upper_bound=0.99)
    flags.DEFINE_string("out", None, "Also write the report as JSON here.")


def embed_records(model, records, detector, image_size, channels, margin, labels):
    """Runs every image of `records` through detection, alignment and `model`.

    Args:
        model: a callable on (1, H, W, C) images returning "embedding" and
            "expression_probabilities" (e.g. `LiteRTFaceModel`).
        records: `FaceRecords`.
        detector: a `FaceDetector`, or None for face crops.
        image_size, channels, margin: the export's input (its manifest).
        labels: the model's expression labels (its manifest).

    Returns:
        (indices of the records with a face, (M, D) normalised embeddings,
        (M, K) expression probabilities).
    """
    found, embeddings, probabilities = [], [], []
    for index, source in enumerate(tqdm.tqdm(records.sources, unit="image", disable=None)):
        image = decode_image(source)
        if image is None:
            raise DataError(f"{source}: not a readable image.")
        crop = face_crop(image, detector, image_size, channels, margin)
        if crop is None:
            continue
        outputs = model(crop[None])
        found.append(index)
        embeddings.append(read_outputs(outputs, labels)["embedding"])
        probabilities.append(np.asarray(outputs["expression_probabilities"][0]))
    if not found:
        raise DataError("No face was found in any image: check --detector (crops need "
                        "--detector=none).")
    return np.asarray(found), np.stack(embeddings), np.stack(probabilities)


def transfer_report(embeddings, subjects, threshold, probabilities=None, expressions=None,
                    expression_names=(), model_labels=()):
    """The verification and expression figures of `embed_records`' output.

    Args:
        embeddings: (M, D) normalised embeddings.
        subjects: (M,) subject keys.
        threshold: the export's similarity threshold.
        probabilities: (M, K) expression probabilities of the model, or None.
        expressions: (M,) expression indices into `expression_names` (-1: none).
        expression_names: the data's expression names.
        model_labels: the model's expression labels (its K outputs).

    Returns:
        dict of the figures (see the module docstring).

        An expression-only set (FER2013: every face its own subject) has no
        genuine pair: its report holds the expression figures alone.

    Raises:
        DataError: the faces hold no genuine pair or no impostor pair, and no
            expression labels to score instead.
    """
    scores, is_same = all_pair_scores(embeddings, subjects)
    impostors, genuine = scores[~is_same], scores[is_same]
    report = {"faces": int(len(embeddings)), "subjects": int(len(set(subjects)))}
    if probabilities is not None and expressions is not None:
        report["expression"] = _expression_report(probabilities, expressions,
                                                  expression_names, model_labels)
    if not len(impostors) or not len(genuine):
        if report.get("expression", {}).get("images"):
            return report
        raise DataError(f"{len(embeddings)} faces of {len(set(subjects))} people: scoring a "
                        "threshold needs two people and two faces of at least one of them.")
    accepted = int(np.sum(impostors >= threshold))
    report.update({
        "threshold": float(threshold),
        "far_at_threshold": accepted / len(impostors),
        "far_upper_bound_95": far_upper_bound(accepted, len(impostors)),
        "tar_at_threshold": float(np.mean(genuine >= threshold)),
        "auc": roc_auc(scores, is_same),
    })
    report.update(verification_all_pairs(embeddings, subjects))
    return report


def _expression_report(probabilities, expressions, expression_names, model_labels):
    """Accuracy over the images whose expression is one of the model's classes."""
    position = {name: index for index, name in enumerate(model_labels)}
    truth = np.array([position.get(expression_names[e], -1) if e >= 0 else -1
                      for e in expressions])
    known = truth >= 0
    skipped = sorted({expression_names[e] for e, t in zip(expressions, truth) if e >= 0 and t < 0})
    if not known.any():
        return {"images": 0, "not_in_model": skipped}
    predicted = np.argmax(probabilities[known], axis=1)
    result = evaluate_expression(truth[known], predicted, list(model_labels))
    return {"images": int(known.sum()), "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"], "not_in_model": skipped}


def _figure(value):
    """A rate to three decimals, or the reason there is none ("not enough pairs")."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print(report, name):
    print(f"{name}: {report['faces']} faces of {report['subjects']} people")
    if "threshold" in report:
        _print_verification(report)
    expression = report.get("expression")
    if expression and expression["images"]:
        print(f"  expression accuracy {expression['accuracy']:.3f}, macro-F1 "
              f"{expression['macro_f1']:.3f} over {expression['images']} images"
              + (f" (not in the model: {', '.join(expression['not_in_model'])})"
                 if expression["not_in_model"] else ""))


def _print_verification(report):
    print(f"  at the export's threshold {report['threshold']:.3f}: FAR "
          f"{report['far_at_threshold']:.4g} (95 % upper bound "
          f"{report['far_upper_bound_95']:.3g}) over {report['impostor_pairs']} impostor pairs,"
          f" TAR {report['tar_at_threshold']:.3f} over {report['genuine_pairs']} genuine pairs")
    print(f"  AUC {report['auc']:.4f}; similarity median impostor "
          f"{report['impostor_similarity_median']:.3f}, genuine "
          f"{report['genuine_similarity_median']:.3f}; TAR@FAR=1e-3 {_figure(report['tar@far=0.001'])}")


def main(argv):
    del argv
    quiet_logs()
    for flag in ("export_dir", "data_dir"):
        if not getattr(FLAGS, flag):
            raise app.UsageError(f"--{flag} is required.")
    try:
        manifest = load_manifest(FLAGS.export_dir, FLAGS.format)
        records = read_dataset(FLAGS.data_dir, FLAGS.dataset)
        # The detector `unlock enroll|verify` runs on a photo.
        detector, _ = frame_detectors(FLAGS.detector, FLAGS.max_detect_side,
                                      min_face_fraction=FLAGS.min_face_fraction)
        model = LiteRTFaceModel(manifest["file"])
        found, embeddings, probabilities = embed_records(
            model, records, detector, manifest["height"], manifest["channels"],
            manifest["face_margin"], manifest["expression_labels"])
    except (DataError, ManifestError) as error:
        logging.error("%s", error)
        raise SystemExit(1) from None
    if len(found) < len(records):
        logging.warning("No face found in %d of %d images; they are left out.",
                        len(records) - len(found), len(records))
    try:
        report = transfer_report(embeddings, records.subject[found], manifest["threshold"],
                                 probabilities, records.expression[found],
                                 records.expression_names, manifest["expression_labels"])
    except DataError as error:
        logging.error("%s", error)
        raise SystemExit(1) from None
    report.update(images=len(records), export_dir=os.path.abspath(FLAGS.export_dir),
                  format=FLAGS.format, detector=FLAGS.detector,
                  data_dir=os.path.abspath(FLAGS.data_dir))
    _print(report, FLAGS.data_dir)
    if FLAGS.out:
        write_json(FLAGS.out, report)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
