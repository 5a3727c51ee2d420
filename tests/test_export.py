"""Export core (part of issue 5): SavedModel signatures, TFLite variants, ONNX parity."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl.data.records import DataError
from keras_dmtl.export.artifacts import export_run
from keras_dmtl.training.config import make_config

from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.export import tflite
from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.export.onnx_export import export_onnx
from keras_dmtl.export.onnx_export import run_onnx
from keras_dmtl.export.savedmodel import export_saved_model
from tests.core_helpers import make_batch
from tests.core_helpers import make_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = make_model("dynamic")
    images, labels = make_batch(32)
    for _ in range(3):
        model.train_on_batch(images, labels)
    inference = build_inference_model(model)
    directory = str(tmp_path_factory.mktemp("serving") / "dmtl" / "1")
    export_saved_model(inference, directory, threshold=0.5)
    return inference, directory, images, tmp_path_factory.mktemp("artifacts")


def _cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def test_saved_model_signatures(exported):
    inference, directory, images, _ = exported
    loaded = tf.saved_model.load(directory)
    assert set(loaded.signatures) == {"serving_default", "verify"}
    served = loaded.signatures["serving_default"](images=tf.constant(images[:4]))
    assert {k: v.dtype for k, v in served.items()} == {
        "embedding": tf.float32, "expression_probabilities": tf.float32,
        "expression_label": tf.int32, "task_weights": tf.float32}
    np.testing.assert_allclose(served["embedding"], inference(images[:4])["embedding"], atol=1e-5)
    # verify: the cosine of each image of `a` with its partner in `b`, compared with
    # the threshold baked in at export (0.5 here).
    first, second = images[:8], images[8:16]
    verified = loaded.signatures["verify"](images_a=tf.constant(first),
                                           images_b=tf.constant(second))
    embeddings = [np.asarray(inference(x)["embedding"], np.float64) for x in (first, second)]
    expected = _cosine(embeddings[0], embeddings[1] / np.linalg.norm(embeddings[1], axis=1,
                                                                      keepdims=True))
    np.testing.assert_allclose(verified["similarity"], expected, atol=1e-5)
    np.testing.assert_array_equal(verified["same_person"], verified["similarity"] >= 0.5)


@pytest.mark.parametrize("kind", tflite.KINDS)
def test_tflite_matches_keras(exported, kind):
    inference, directory, images, artifacts = exported
    path = artifacts / f"{kind}.tflite"
    path.write_bytes(tflite.convert(directory, kind, representative_images=images))
    outputs = LiteRTFaceModel(str(path))(images[:8])
    cosine = _cosine(outputs["embedding"], inference(images[:8])["embedding"].numpy())
    assert cosine.min() >= (0.98 if kind == "int8" else 0.999)


def test_onnx_matches_keras(exported):
    inference, _, images, artifacts = exported
    path = str(artifacts / "model.onnx")
    names = export_onnx(inference, path)
    assert set(names) == {"embedding", "expression_probabilities", "expression_label",
                          "task_weights"}
    outputs = run_onnx(path, images[:8])
    np.testing.assert_allclose(outputs["embedding"], inference(images[:8])["embedding"],
                               atol=1e-4)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from keras_dmtl.training.config import make_config
    from keras_dmtl.training.run import train

    root = tmp_path_factory.mktemp("export_run")
    run = root / "run"
    train(make_config(out_dir=str(run), cache_dir=str(root / "cache"), image_size=32,
                      batch_size=16, epochs=1, embedding_dim=16, generated_identities=8,
                      generated_sequences=1, val_fraction=0.25, test_fraction=0.25,
                      jit_compile=False, verbose=0))
    return run


def test_export_run_writes_manifest_and_report(trained_run, tmp_path):
    import json

    from keras_dmtl.data.faces.alignment import reference_landmarks
    from keras_dmtl.export.artifacts import export_run

    run = trained_run
    # A model other than model.keras (here the last checkpoint) with its run's data.
    results = export_run(str(run), str(tmp_path / "export"),
                         formats=("saved_model", "tflite_int8"), representative_samples=20,
                         model_path=str(run / "checkpoint.keras"))
    assert results["keras"]["path"].endswith("checkpoint.keras")
    assert results["tflite_int8"]["path"] == str(tmp_path / "export" / "dmtl_int8.tflite")
    metrics = json.loads((run / "metrics.json").read_text())
    held_out = sum(metrics[split]["samples"] for split in ("validation", "test"))
    assert results["tflite_int8"]["images"] == held_out
    assert results["tflite_int8"]["embedding_cosine_min"] >= 0.98
    assert results["saved_model"]["embedding_cosine_min"] >= 0.999
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["input"]["height"] == 32 and len(manifest["expression_labels"]) == 7
    assert manifest["input"]["face_margin"] == 0.2
    np.testing.assert_allclose(np.array(manifest["input"]["landmark_template"]) * 32,
                               reference_landmarks(32, 0.2))
    assert set(manifest["formats"]) == {"keras", "saved_model", "tflite_int8"}
    assert manifest["formats"]["tflite_int8"]["sha256"]
    # Two held-out people cannot show FAR 2e-5: the manifest says so.
    calibration = manifest["formats"]["tflite_int8"]["calibration"]
    assert calibration["backed"] is False and calibration["far_upper_bound"] > 2e-5
    assert calibration["data"] == "held-out subjects of the run" and calibration["subjects"] == 4
    assert "tflite_int8" in (tmp_path / "export" / "export_report.md").read_text()

    # The served verify signature on held-out faces: two frames of one person's
    # sequence score above that frame and another person's, one image with itself
    # highest; each is accepted exactly when it reaches the manifest's threshold.
    from keras_dmtl.training.run import load_run_config  # noqa: PLC0415
    from keras_dmtl.training.run import load_splits  # noqa: PLC0415

    test = load_splits(load_run_config(str(run))).test
    one, other = sorted(set(test.subject))[:2]
    a, b = np.flatnonzero(test.subject == one), np.flatnonzero(test.subject == other)
    assert test.expression[a[0]] == test.expression[a[1]] == test.expression[b[0]]
    first, second = test.images[[a[0], a[0], a[0]]], test.images[[a[0], a[1], b[0]]]
    verify = tf.saved_model.load(str(tmp_path / "export" / "serving" / "dmtl" / "1")
                                 ).signatures["verify"]
    verified = verify(images_a=tf.constant(first, tf.float32),
                      images_b=tf.constant(second, tf.float32))
    similarity = verified["similarity"].numpy()
    model = keras.saving.load_model(run / "checkpoint.keras")
    embeddings = [np.asarray(model.network(x.astype(np.float32))["embedding"], np.float64)
                  for x in (first, second)]
    unit = [e / np.linalg.norm(e, axis=1, keepdims=True) for e in embeddings]
    np.testing.assert_allclose(similarity, np.sum(unit[0] * unit[1], axis=1), atol=1e-5)
    assert similarity[0] > similarity[1] > similarity[2], similarity  # same, genuine, impostor
    threshold = manifest["formats"]["saved_model"]["threshold"]
    np.testing.assert_array_equal(verified["same_person"], similarity >= threshold)
    assert verified["same_person"].numpy()[0] and not verified["same_person"].numpy()[2]


def test_thresholds_calibrate_on_a_separate_face_set(trained_run, tmp_path):
    import json

    from keras_dmtl.export.artifacts import export_run

    faces = next((trained_run.parent / "cache").glob("generated_faces_*"))
    results = export_run(str(trained_run), str(tmp_path / "export"),
                         formats=("tflite_float32",), representative_samples=20,
                         calibration_data=str(faces), target_far=1e-2)
    calibration = results["tflite_float32"]["calibration"]
    # All 8 generated people, every pair of their images.
    assert calibration["data"] == str(faces) and calibration["subjects"] == 8
    images = 8 * 7 * 3
    assert calibration["impostor_pairs"] + calibration["genuine_pairs"] == images * (images - 1) // 2
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["formats"]["tflite_float32"]["calibration"]["subjects"] == 8
    assert "Thresholds calibrated on " + str(faces) in (
        tmp_path / "export" / "export_report.md").read_text()


def test_the_runs_held_out_people_are_one_population_beside_a_face_set(trained_run, tmp_path):
    from keras_dmtl.export.artifacts import HELD_OUT
    from keras_dmtl.export.artifacts import export_run

    faces = next((trained_run.parent / "cache").glob("generated_faces_*"))
    only_held_out = export_run(str(trained_run), str(tmp_path / "held_out"),
                               formats=("tflite_float32",), representative_samples=20,
                               target_far=1e-2)["tflite_float32"]["calibration"]
    both = export_run(str(trained_run), str(tmp_path / "both"), formats=("tflite_float32",),
                      representative_samples=20, target_far=1e-2,
                      calibration_data=f"{HELD_OUT},{faces}")["tflite_float32"]["calibration"]
    held_out, face_set = both["populations"]
    assert (held_out["data"], face_set["data"]) == ("held-out subjects of the run", str(faces))
    # The held-out population is the same pairs as calibrating on it alone.
    assert held_out["own_threshold"] == only_held_out["threshold"]
    assert held_out["impostor_pairs"] == only_held_out["impostor_pairs"]
    assert face_set["subjects"] == 8
    assert both["threshold"] == max(held_out["own_threshold"], face_set["own_threshold"])


def _files_match_manifest(export_dir):
    import json

    from keras_dmtl.io_utils import sha256_digest

    manifest = json.loads((export_dir / "manifest.json").read_text())
    return all(sha256_digest(str(export_dir / entry["file"])) == entry["sha256"]
               for fmt, entry in manifest["formats"].items() if fmt != "keras")


def test_a_failed_re_export_leaves_the_previous_export_whole(trained_run, tmp_path,
                                                             monkeypatch):
    import keras

    from keras_dmtl.data.records import DataError
    from keras_dmtl.export import artifacts

    export_dir = tmp_path / "export"
    formats = ("saved_model", "tflite_float32")
    artifacts.export_run(str(trained_run), str(export_dir), formats=formats,
                         representative_samples=20)
    report = (export_dir / "export_report.json").read_text()
    # Another model of the run, whose export dies half-way (after its SavedModel).
    other = keras.saving.load_model(trained_run / "model.keras")
    other.set_weights([w * 1.5 for w in other.get_weights()])
    other.save(tmp_path / "other.keras")

    def crash(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(artifacts.tflite, "convert", crash)
    with pytest.raises(RuntimeError, match="converter crashed"):
        artifacts.export_run(str(trained_run), str(export_dir), formats=formats,
                             representative_samples=20, model_path=str(tmp_path / "other.keras"))
    monkeypatch.undo()
    assert _files_match_manifest(export_dir)
    assert (export_dir / "export_report.json").read_text() == report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "other.keras"]

    # A complete re-export replaces the folder whole, and a folder that is not an
    # export is never replaced.
    artifacts.export_run(str(trained_run), str(export_dir), formats=formats,
                         representative_samples=20, model_path=str(tmp_path / "other.keras"))
    assert _files_match_manifest(export_dir)
    assert (export_dir / "export_report.json").read_text() != report
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not an export folder"):
        artifacts.export_run(str(trained_run), str(tmp_path / "mine"), formats=formats)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_tf_serving_rest_contract(exported):
    """The README's REST body, fed to the loaded signature as TF Serving feeds its
    "instances" rows (stacked by input name), answers what the trained network says."""
    import json

    inference, directory, images, _ = exported
    body = json.loads(json.dumps({
        "signature_name": "serving_default",
        "instances": [{"images": images[0].tolist()}, {"images": images[1].tolist()}],
    }))
    signature = tf.saved_model.load(directory).signatures[body["signature_name"]]
    inputs = signature.structured_input_signature[1]
    assert set(inputs) == set(body["instances"][0]) == {"images"}
    assert inputs["images"].shape.as_list() == [None, *images.shape[1:]]
    batch = {name: tf.constant([row[name] for row in body["instances"]], inputs[name].dtype)
             for name in inputs}
    outputs = {name: value.numpy() for name, value in signature(**batch).items()}
    predictions = json.loads(json.dumps({"predictions": [
        {name: value[row].tolist() for name, value in outputs.items()} for row in range(2)]}))
    # What each output should be, from the trained network's raw outputs by hand.
    network = next(layer for layer in inference.layers if isinstance(layer, keras.Model))
    raw = {name: np.asarray(value, np.float64)
           for name, value in network(images[:2], training=False).items()}
    logits = raw["expression_logits"] - raw["expression_logits"].max(axis=1, keepdims=True)
    expected = {"embedding": raw["embedding"] / np.linalg.norm(raw["embedding"], axis=1,
                                                                keepdims=True),
                "expression_probabilities": np.exp(logits) / np.exp(logits).sum(axis=1,
                                                                                keepdims=True),
                "task_weights": raw["task_weights"]}
    expected["expression_label"] = expected["expression_probabilities"].argmax(axis=1)
    for row, prediction in enumerate(predictions["predictions"]):
        assert set(prediction) == set(expected)
        for name in ("embedding", "expression_probabilities", "task_weights"):
            np.testing.assert_allclose(prediction[name], expected[name][row], atol=1e-5,
                                       err_msg=name)
        assert prediction["expression_label"] == expected["expression_label"][row]


def _tiny_run(root, cache, strategy):
    from keras_dmtl.training.run import train  # noqa: PLC0415

    out = str(root / strategy)
    train(make_config(out_dir=out, cache_dir=cache, image_size=16, batch_size=16, epochs=1,
                      embedding_dim=8, generated_identities=8, verbose=0,
                      jit_compile="false", val_fraction=0.25, test_fraction=0.25,
                      **{"weighting.name": strategy, "export.enabled": False}))
    return out


def test_an_ensemble_of_runs_exports_as_one_model(tmp_path):
    cache = str(tmp_path / "cache")
    first, second = _tiny_run(tmp_path, cache, "gradnorm"), _tiny_run(tmp_path, cache, "static")
    results = export_run(first, str(tmp_path / "export"), formats=("tflite_float32",),
                         representative_samples=20, ensemble=(second,))
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["embedding_size"] == 16  # two members' 8-dimensional embeddings
    assert len(manifest["ensemble"]) == 2
    assert results["tflite_float32"]["embedding_cosine_min"] > 0.999
    members = [keras.saving.load_model(os.path.join(run, "model.keras")) for run in (first, second)]
    images = np.random.default_rng(0).uniform(0, 255, (6, 16, 16, 1)).astype(np.float32)
    ensemble = build_inference_model(members)(images)
    alone = [build_inference_model(member)(images) for member in members]
    np.testing.assert_allclose(
        ensemble["expression_probabilities"],
        np.mean([a["expression_probabilities"] for a in alone], axis=0), rtol=1e-5, atol=1e-6)
    # Its cosine between two images is the members' mean cosine.
    cosines = [float(np.dot(a["embedding"][0], a["embedding"][1])) for a in alone]
    np.testing.assert_allclose(float(np.dot(ensemble["embedding"][0], ensemble["embedding"][1])),
                               np.mean(cosines), rtol=1e-5)
    # A member trained on another split is refused: its held-out subjects differ.
    other = tmp_path / "other_split"
    other.mkdir()
    os.link(os.path.join(second, "model.keras"), other / "model.keras")
    labels = json.loads(open(os.path.join(second, "labels.json")).read())
    labels["split_subjects"]["test"] = labels["split_subjects"]["train"][:1]
    (other / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(DataError, match="split subjects differ"):
        export_run(first, str(tmp_path / "export2"), formats=("tflite_float32",),
                   representative_samples=20, ensemble=(str(other),))


def test_held_out_faces_without_identity_are_left_out_of_calibration(monkeypatch):
    from keras_dmtl.export import artifacts

    # An expression-only source's faces carry subject "": as one "person" they
    # would make millions of false genuine pairs (and all-pair scoring of every
    # held-out face runs out of memory on a large mix).
    subjects = np.array(["a", "", "b", "a", "", "c", "b", ""] * 3)
    images = np.arange(len(subjects), dtype=np.float32).reshape(-1, 1, 1, 1)
    monkeypatch.setattr(artifacts, "MAX_CALIBRATION_IMAGES", 10)
    (population,) = artifacts._calibration_sets(None, None, None, subjects)
    assert population.name == "held-out subjects of the run"
    chosen, chosen_subjects = images[population.rows], population.subjects
    assert len(chosen) == 10 and "" not in set(chosen_subjects)
    rows = chosen.reshape(-1).astype(int)
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(subjects[rows], chosen_subjects)


def test_server_formats_are_scored_a_batch_at_a_time():
    from keras_dmtl.export.artifacts import batched

    calls = []

    def predict(images):
        calls.append(len(images))
        return {"embedding": images * 2, "expression_label": images[:, 0]}

    images = np.arange(10, dtype=np.float32).reshape(5, 2)
    outputs = batched(predict, batch_size=2)(images)
    assert calls == [2, 2, 1]
    np.testing.assert_array_equal(outputs["embedding"], images * 2)
    np.testing.assert_array_equal(outputs["expression_label"], images[:, 0])


def test_several_populations_get_the_strictest_of_their_thresholds():
    from keras_dmtl.export.calibration import calibrate
    from keras_dmtl.export.calibration import strictest_of_populations

    rng = np.random.default_rng(0)
    populations = []
    for name, impostor_mean in (("loose", 0.2), ("alike", 0.6)):
        scores = np.concatenate([rng.normal(impostor_mean, 0.1, 20000),
                                 rng.normal(0.9, 0.05, 500)])
        is_same = np.arange(len(scores)) >= 20000
        result = calibrate(scores, is_same, 1e-3)
        populations.append((scores, is_same, {**result, "data": name, "subjects": 10}))
    combined = strictest_of_populations(populations, 1e-3)
    own = {p[2]["data"]: p[2]["threshold"] for p in populations}
    # The population whose strangers look alike sets the threshold ...
    assert combined["threshold"] == own["alike"] > own["loose"]
    # ... and at it every population stays within the target.
    assert combined["backed"] and all(row["backed"] for row in combined["populations"])
    assert combined["far_upper_bound"] <= 1e-3
    assert [row["data"] for row in combined["populations"]] == ["loose", "alike"]
    assert combined["impostor_pairs"] == 40000 and combined["data"] == "loose,alike"
    # The single calibration on both at once holds on average, not on "alike".
    pooled = calibrate(np.concatenate([p[0] for p in populations]),
                       np.concatenate([p[1] for p in populations]), 1e-3)
    alike_scores, alike_same, _ = populations[1]
    assert pooled["threshold"] < combined["threshold"]
    assert np.mean(alike_scores[~alike_same] >= pooled["threshold"]) > 1e-3
