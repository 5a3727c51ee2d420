"""Export a trained run to every format, check each against Keras, write the report."""

import collections
import json
import os

import keras
import numpy as np
import tensorflow as tf
import tqdm

from keras_dmtl import __version__
from keras_dmtl.data.faces.loading import load_faces
from keras_dmtl.data.readers import read_dataset
from keras_dmtl.data.records import DataError
from keras_dmtl.data.sources import parse_sources
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import input_spec
from keras_dmtl.evaluation.action_units import THRESHOLD
from keras_dmtl.evaluation.action_units import align_action_units
from keras_dmtl.evaluation.action_units import evaluate_action_units
from keras_dmtl.evaluation.verification import all_pair_scores
from keras_dmtl.evaluation.verification import cosine_scores
from keras_dmtl.evaluation.verification import evaluate_pairs
from keras_dmtl.evaluation.verification import interleaved_pairs
from keras_dmtl.export import tflite
from keras_dmtl.export.calibration import calibrate
from keras_dmtl.export.calibration import strictest_of_populations
from keras_dmtl.export.inference import ACTION_UNIT_PROBABILITIES
from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.export.onnx_export import export_onnx
from keras_dmtl.export.onnx_export import run_onnx
from keras_dmtl.export.savedmodel import export_saved_model
from keras_dmtl.export.staging import staged_directory
from keras_dmtl.io_utils import read_json
from keras_dmtl.io_utils import sha256_digest
from keras_dmtl.io_utils import write_json
from keras_dmtl.training.config import EXPORT_FORMATS
from keras_dmtl.training.finetune import load_source
from keras_dmtl.training.finetune import run_model_file
from keras_dmtl.training.finetune import source_labels
from keras_dmtl.training.run import load_run_config
from keras_dmtl.training.run import load_splits
from keras_dmtl.training.run import split_in_memory

FORMATS = EXPORT_FORMATS
# Every pair of the calibration images is scored: 4000 images give ~8 M pairs.
MAX_CALIBRATION_IMAGES = 4000


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def _score(outputs, reference, expression, pairs, action_units=None):
    """Parity of one format's outputs with Keras', and its accuracy on every head.

    With an AU head (`action_units`: the held-out AU labels in the head's order,
    -1 not annotated), also the largest AU probability difference from Keras, the
    agreement of the AU decisions at 0.5 and, where AUs are annotated, their
    mean F1."""
    a, b, is_same = pairs
    embedding = np.asarray(outputs["embedding"], np.float64)
    cosine = cosine_scores(embedding, reference["embedding"])
    labelled = expression >= 0
    predicted = np.asarray(outputs["expression_label"]).reshape(-1)
    scores = cosine_scores(embedding[a], embedding[b])
    unit_scores = {}
    if action_units is not None:
        units = np.asarray(outputs[ACTION_UNIT_PROBABILITIES], np.float64)
        keras_units = np.asarray(reference[ACTION_UNIT_PROBABILITIES], np.float64)
        unit_scores = {
            "action_unit_probability_max_diff": float(np.abs(units - keras_units).max()),
            "action_unit_decision_agreement": float(np.mean(
                (units >= THRESHOLD) == (keras_units >= THRESHOLD))),
        }
        if (action_units >= 0).any():
            unit_scores["action_unit_mean_f1"] = evaluate_action_units(
                action_units, units, [str(i) for i in range(units.shape[1])])["mean_f1"]
    return {
        **unit_scores,
        "embedding_cosine_mean": float(cosine.mean()),
        "embedding_cosine_min": float(cosine.min()),
        "expression_top1_agreement": float(np.mean(
            predicted == np.asarray(reference["expression_label"]).reshape(-1))),
        "expression_accuracy": float(np.mean(predicted[labelled] == expression[labelled])),
        "images": int(len(embedding)),
        "pairs": int(len(is_same)),
        "verification_accuracy": evaluate_pairs(scores, is_same)["accuracy"],
    }


# In --export.calibration_data, this entry stands for the run's own held-out
# subjects, so that they are one population beside the user's face sets.
HELD_OUT = "held_out"

Population = collections.namedtuple("Population", ["name", "subjects", "images", "rows"])
Population.__doc__ = """One population the thresholds are calibrated on: its name,
subjects, and either its images (a face set) or `rows` of the run's held-out
images (whose outputs every format computes anyway; None for a face set)."""


def _calibration_sets(config, calibration_data, detector, held_out_subjects):
    """The `Population`s the thresholds are calibrated on: the user's face sets
    (comma-separated, any layout train.py reads, faces found by `detector` or,
    when None, cropped as the run's were; the entry `HELD_OUT` is the run's
    held-out subjects), else the run's held-out subjects. Every pair within a
    population is scored."""
    if not calibration_data:
        return [_held_out_set(held_out_subjects)]
    return [_held_out_set(held_out_subjects) if source.path == HELD_OUT
            else _calibration_set(config, source.path, source.detector)
            for source in parse_sources(calibration_data, "auto", detector or config.detector)]


def _held_out_set(held_out_subjects):
    """The `Population` of the run's held-out subjects that have an identity."""
    # Faces of an expression-only source carry no identity (subject ""): no
    # pair of theirs is known to be genuine or impostor. Every pair of up to
    # MAX_CALIBRATION_IMAGES of the others is scored (10,000 held-out faces
    # would be 50 M pairs, gigabytes per format).
    rows = _sample(np.flatnonzero(np.asarray(held_out_subjects) != ""))
    return Population("held-out subjects of the run", np.asarray(held_out_subjects)[rows],
                      None, rows)


def _calibration_set(config, path, detector):
    """The `Population` of one calibration face set, named by its path."""
    arrays = load_faces(read_dataset(path, "auto", skip_bad=config.skip_bad_images),
                        config.image_size, config.channels, detector=detector,
                        cache_dir=config.cache_dir,
                        # A photo with no face found is left out (load_faces warns
                        # with the count): the bound is computed on the pairs scored.
                        skip_bad_images=True)
    arrays = arrays.subset(np.flatnonzero(arrays.identity >= 0))
    if len(np.unique(arrays.subject)) < 2:
        raise DataError(f"--export.calibration_data: {path} needs identity labels of at "
                        "least two people to calibrate on.")
    arrays = arrays.subset(_sample(np.arange(len(arrays))))
    return Population(path, np.asarray(arrays.subject), arrays.images.astype(np.float32), None)


def _sample(rows):
    """At most `MAX_CALIBRATION_IMAGES` of `rows`, drawn with seed 0, in order."""
    if len(rows) <= MAX_CALIBRATION_IMAGES:
        return rows
    return np.sort(np.random.default_rng(0).permutation(rows)[:MAX_CALIBRATION_IMAGES])


def _calibrate(predict, held_out_outputs, populations, target_far):
    """The threshold of one format: calibrated on its population, or, with several,
    the strictest of theirs (`calibration.strictest_of_populations`).

    Args:
        predict: the format's `predict(images) -> outputs`.
        held_out_outputs: its outputs for the run's held-out images.
        populations: `Population`s.
        target_far: the FAR each population must meet.
    """
    scored = []
    for population in populations:
        embeddings = (held_out_outputs["embedding"][population.rows]
                      if population.images is None
                      else predict(population.images)["embedding"])
        scores, is_same = all_pair_scores(embeddings, population.subjects)
        result = calibrate(scores, is_same, target_far,
                           subjects=len(np.unique(population.subjects)))
        scored.append((scores, is_same, {**result, "data": population.name}))
    if len(scored) == 1:
        return scored[0][2]
    return strictest_of_populations(scored, target_far)


def _ensemble_member(path, run_dir, labels):
    """The model of another run to ensemble with `run_dir`'s; it must have been
    trained on the same split and expression classes (else the held-out scores
    would include its training subjects)."""
    model_file = run_model_file(path, "--ensemble")
    member = load_source(model_file, "--ensemble")
    member_labels = source_labels(model_file)
    if member_labels is None:
        raise DataError(f"--ensemble={path}: no labels.json beside {model_file}; give the "
                        "member's run folder.")
    for key in ("expression_names", "split_subjects"):
        if member_labels.get(key) != labels.get(key):
            raise DataError(
                f"--ensemble={path}: its {key.replace('_', ' ')} differ from {run_dir}'s; "
                "ensemble runs of the same data, seed and split fractions (e.g. other "
                "weighting strategies or identity heads).")
    return member


def export_run(run_dir, out_dir, formats=None, representative_samples=None, name="dmtl",
               target_far=None, model_path=None, calibration_data=None,
               calibration_detector=None, ensemble=()):
    """Exports `run_dir/model.keras` to `formats` under `out_dir`, with the report.

    The run's held-out subjects (validation and test, the same split as
    training) score every format against Keras; the representative set for int8
    comes from the training split.

    Args:
        run_dir: the run folder (its config.json and labels.json give the data,
            the split and the label names).
        out_dir: the export folder. It is written as a whole beside the old
            one and swapped in only when complete (`staging.staged_directory`),
            so its manifest always describes the model files next to it.
        formats: a subset of `FORMATS`; default the run config's export.formats.
        representative_samples: training crops that calibrate int8; default
            the run config's export.representative_samples.
        name: file and TF Serving model name.
        target_far: false-accept rate the thresholds are calibrated for;
            default the run config's export.target_far.
        model_path: a `.keras` model of that run other than `run_dir/model.keras`
            (e.g. its `checkpoint.keras`).
        calibration_data: face sets (any layout train.py reads, comma-separated;
            `HELD_OUT` for the run's held-out subjects), each a population whose
            every pair calibrates the thresholds, the strictest kept; default the
            run config's export.calibration_data, else the run's held-out subjects.
        calibration_detector: how faces are found in calibration_data ("none",
            "haar", ...); default the run config's export.calibration_detector,
            else the run's own detector. Photos calibrating a model trained on
            crops need one, as the unlock runtime uses one.
        ensemble: other runs (folders or `.keras` files) of the same split to
            export together with this one as one model
            (`inference.build_inference_model`): mean expression
            probabilities, the members' embeddings side by side.

    Returns:
        The report dict (also `export_report.json`; `export_report.md` beside it).
    """
    config = load_run_config(run_dir)
    formats = tuple(config.export.formats if formats is None else formats)
    if representative_samples is None:
        representative_samples = config.export.representative_samples
    if target_far is None:
        target_far = config.export.target_far
    if calibration_data is None:
        calibration_data = config.export.calibration_data
    if calibration_detector is None:
        calibration_detector = config.export.get("calibration_detector")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"--export.formats: unknown {unknown}; choose from "
                         f"{', '.join(FORMATS)}.")
    labels = read_json(os.path.join(run_dir, "labels.json"))
    splits = load_splits(config)
    keras_path = model_path or os.path.join(run_dir, "model.keras")
    if not os.path.exists(keras_path):
        raise ValueError(f"{keras_path} does not exist: train first with train.py, or pass "
                         "--model=<a .keras file of the run>.")
    model = keras.saving.load_model(keras_path)
    members = [model] + [_ensemble_member(path, run_dir, labels) for path in ensemble]
    inference = build_inference_model(members if ensemble else model)
    # Both held-out splits: the more images, the finer the accuracy drop it resolves
    # (of streamed splits, a sample: every pair of them is scored).
    held_out = [split_in_memory(splits, name, MAX_CALIBRATION_IMAGES // 2)
                for name in ("validation", "test")]
    held_out_images = np.concatenate([part.images for part, _ in held_out]).astype(np.float32)
    expression = np.concatenate([part.expression for part, _ in held_out])
    unit_names = model.action_unit_names
    action_units = (np.concatenate([
        align_action_units(part.action_units, part.action_unit_names, unit_names)
        for part, _ in held_out]) if unit_names else None)
    subjects = np.concatenate([part_subjects for _, part_subjects in held_out])
    reference = {k: np.asarray(v) for k, v in inference.predict(held_out_images, verbose=0).items()}
    # Verification pairs among the faces with an identity (subject "" has none).
    known = np.flatnonzero(subjects != "")
    a, b, is_same = interleaved_pairs(subjects[known], max_pairs=5000)
    pairs = known[a], known[b], is_same
    rng = np.random.default_rng(0)
    train, _ = split_in_memory(splits, "train", representative_samples)
    representative = train.images[rng.permutation(len(train))[
        :representative_samples]].astype(np.float32)
    populations = _calibration_sets(config, calibration_data, calibration_detector, subjects)

    def score(predict, outputs):
        return {**_score(outputs, reference, expression, pairs, action_units),
                "calibration": _calibrate(predict, outputs, populations, target_far)}

    results = {"keras": score(_predictor("keras", keras_path, inference), reference)}
    results["keras"].update(path=keras_path, bytes=_size(keras_path))
    with staged_directory(out_dir) as staging:
        _write_artifacts(staging, inference, formats, name, representative,
                         results["keras"]["calibration"]["threshold"])
        for fmt, relative in tqdm.tqdm(_artifact_names(formats, name).items(),
                                       desc="Scoring the exports", unit="format", disable=None):
            path = os.path.join(staging, relative)
            predict = _predictor(fmt, path, inference)  # loaded once per format
            results[fmt] = score(predict, predict(held_out_images))
            # Reported where the file will be once the export is swapped in.
            results[fmt].update(path=os.path.join(out_dir, relative), bytes=_size(path),
                                sha256=sha256_digest(path), file=relative)
        manifest = {
            "keras_dmtl_version": __version__,
            "tensorflow_version": tf.__version__,
            "input": input_spec(config.image_size, config.channels),
            "expression_labels": labels["expression_names"],
            **({"action_unit_labels": unit_names} if unit_names else {}),
            "embedding_size": int(reference["embedding"].shape[1]),
            "ensemble": [keras_path] + [run_model_file(p, "--ensemble") for p in ensemble],
            "target_far": target_far,
            "formats": {fmt: {"file": r.get("file", r["path"]), "bytes": r["bytes"],
                              "sha256": r.get("sha256"),
                              "threshold": r["calibration"]["threshold"],
                              "calibration": {key: r["calibration"][key] for key in (
                                  "backed", "far", "far_upper_bound", "confidence",
                                  "impostor_pairs", "genuine_pairs", "subjects", "data",
                                  "populations") if key in r["calibration"]}}
                        for fmt, r in results.items()},
        }
        write_json(os.path.join(staging, "manifest.json"), manifest)
        write_json(os.path.join(staging, "export_report.json"), results)
        with open(os.path.join(staging, "export_report.md"), "w") as stream:
            stream.write(report_table(results))
    return results


# Images a SavedModel or ONNX call takes at once: 10,000 held-out faces in one
# call hold every layer's activations for all of them (over 20 GB at 64 px).
PREDICT_BATCH = 256


def batched(predict, batch_size=PREDICT_BATCH):
    """`predict` run on `batch_size` images at a time, its output dicts joined."""
    def run(images):
        parts = [predict(images[start:start + batch_size])
                 for start in range(0, len(images), batch_size)]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return run


def _predictor(fmt, path, inference):
    """`predict(images) -> outputs dict` of one exported format, loaded once."""
    if fmt == "keras":
        return lambda images: {k: np.asarray(v)
                               for k, v in inference.predict(images, verbose=0).items()}
    if fmt == "saved_model":
        signature = tf.saved_model.load(path).signatures["serving_default"]
        return batched(lambda images: {k: v.numpy() for k, v in
                                       signature(images=tf.constant(images)).items()})
    if fmt == "onnx":
        return batched(lambda images: run_onnx(path, images))
    return LiteRTFaceModel(path)


def _artifact_names(formats, name):
    """The path of each requested format inside the export folder."""
    names = {"saved_model": os.path.join("serving", name, "1"), "onnx": f"{name}.onnx"}
    names.update({f"tflite_{kind}": f"{name}_{kind}.tflite" for kind in tflite.KINDS})
    return {fmt: names[fmt] for fmt in FORMATS if fmt in formats}


def _write_artifacts(directory, inference, formats, name, representative, threshold):
    """Writes every requested format under `directory` (TFLite converts from the
    SavedModel, which is therefore always written)."""
    names = _artifact_names(tuple(formats) + ("saved_model",), name)
    saved_model_dir = os.path.join(directory, names["saved_model"])
    export_saved_model(inference, saved_model_dir, threshold)
    for kind in tflite.KINDS:
        if f"tflite_{kind}" in formats:
            with open(os.path.join(directory, names[f"tflite_{kind}"]), "wb") as stream:
                stream.write(tflite.convert(saved_model_dir, kind, representative))
    if "onnx" in formats:
        export_onnx(inference, os.path.join(directory, names["onnx"]))


def report_table(results):
    """The parity and size table (Markdown); drops are Keras minus the format, in points.

    "FAR <= bound" is the 95 % Clopper-Pearson upper bound at the threshold;
    "not backed" marks a threshold whose pairs could not show the target FAR. A
    model with an AU head gets a second table: its AU parity and mean F1.
    """
    keras_scores = results["keras"]
    calibration = keras_scores["calibration"]
    lines = [f"Held-out images: {keras_scores['images']} (validation and test subjects), "
             f"verification pairs: {keras_scores['pairs']}. Thresholds calibrated on "
             f"{calibration['data']}: {calibration['subjects']} people, "
             f"{calibration['impostor_pairs']} impostor and {calibration['genuine_pairs']} "
             f"genuine pairs, for FAR {calibration['target_far']:.2g}.", "",
             "| format | size (KB) | emb. cosine mean / min | expr. top-1 agree | "
             "expr. acc (drop) | verif. acc (drop) | threshold | FAR <= bound | TAR |",
             "|" + "---|" * 9]
    for fmt, r in results.items():
        calibration = r["calibration"]
        expression_drop = 100 * (keras_scores["expression_accuracy"] - r["expression_accuracy"])
        verification_drop = 100 * (keras_scores["verification_accuracy"]
                                   - r["verification_accuracy"])
        backed = "" if calibration["backed"] else " (not backed)"
        lines.append(
            f"| {fmt} | {r['bytes'] / 1024:.0f} | {r['embedding_cosine_mean']:.5f} / "
            f"{r['embedding_cosine_min']:.5f} | {r['expression_top1_agreement']:.3f} | "
            f"{r['expression_accuracy']:.3f} ({expression_drop:+.1f}) | "
            f"{r['verification_accuracy']:.3f} ({verification_drop:+.1f}) | "
            f"{calibration['threshold']:.3f} | {calibration['far_upper_bound']:.2g}{backed} | "
            f"{calibration['tar']:.3f} |")
    if "action_unit_probability_max_diff" in keras_scores:
        lines += ["", "| format | AU prob. max diff | AU decisions agree | AU mean F1 |",
                  "|" + "---|" * 4]
        for fmt, r in results.items():
            f1 = r.get("action_unit_mean_f1")
            lines.append(f"| {fmt} | {r['action_unit_probability_max_diff']:.5f} | "
                         f"{r['action_unit_decision_agreement']:.3f} | "
                         f"{'-' if f1 is None else f'{f1:.3f}'} |")
    return "\n".join(lines) + "\n"
