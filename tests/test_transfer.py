"""`python -m keras_dmtl.export.transfer`: an export's threshold and heads on unseen faces."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.export.transfer import transfer_report


def test_report_counts_impostors_accepted_at_the_threshold():
    # Two people, two images each; one impostor pair sits above the threshold.
    embeddings = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.6, 0.8]])
    subjects = np.array(["a", "a", "b", "b"])
    report = transfer_report(embeddings, subjects, threshold=0.9)
    # Impostor pairs: (0,2)=0, (0,3)=0.6, (1,2)=0.28, (1,3)=0.8; genuine: (0,1)=0.96, (2,3)=0.8.
    assert report["impostor_pairs"] == 4 and report["genuine_pairs"] == 2
    assert report["far_at_threshold"] == 0.0
    assert report["tar_at_threshold"] == 0.5
    assert 0.5 < report["far_upper_bound_95"] < 0.6  # 1 - 0.05 ** (1 / 4)
    lower = transfer_report(embeddings, subjects, threshold=0.7)
    assert lower["far_at_threshold"] == 0.25 and lower["tar_at_threshold"] == 1.0


def test_expression_counts_only_the_classes_the_model_has():
    embeddings = np.eye(4)
    subjects = np.array(["a", "a", "b", "c"])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    report = transfer_report(embeddings, subjects, 0.5, probabilities,
                             expressions=np.array([0, 1, 2, -1]),
                             expression_names=["happy", "sadness", "neutral"],
                             model_labels=["happy", "sadness"])
    assert report["expression"]["images"] == 2
    assert report["expression"]["accuracy"] == 1.0
    assert report["expression"]["not_in_model"] == ["neutral"]


def test_one_person_or_no_repeat_cannot_score_a_threshold():
    with pytest.raises(DataError, match="two people and two faces"):
        transfer_report(np.eye(3), np.array(["a", "b", "c"]), 0.5)


def test_cli_reports_on_a_face_set(exported, tmp_path):
    export_dir, _, root = exported
    faces = [p for p in (root / "cache").iterdir() if p.name.startswith("generated_faces")][0]
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "keras_dmtl.export.transfer", f"--export_dir={export_dir}",
         f"--data_dir={faces}", "--detector=none", f"--out={out}"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert "at the export's threshold" in result.stdout

    # The same figures, computed here: training's crops through the exported model,
    # every pair of images scored by hand.
    from keras_dmtl.data.faces.loading import load_faces  # noqa: PLC0415
    from keras_dmtl.data.readers import read_dataset  # noqa: PLC0415
    from keras_dmtl.edge.litert_model import LiteRTFaceModel  # noqa: PLC0415

    manifest = json.loads((pathlib.Path(export_dir) / "manifest.json").read_text())
    entry = manifest["formats"]["tflite_int8"]
    records = read_dataset(str(faces))
    crops = load_faces(records, manifest["input"]["height"], manifest["input"]["channels"])
    outputs = LiteRTFaceModel(os.path.join(export_dir, entry["file"]))(crops.images)
    embeddings = outputs["embedding"].astype(np.float64)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    first, second = np.triu_indices(len(records), k=1)
    scores = np.sum(embeddings[first] * embeddings[second], axis=1)
    same = records.subject[first] == records.subject[second]
    genuine, impostor = scores[same], scores[~same]
    threshold = entry["threshold"]
    assert report["faces"] == report["images"] == len(records) == 8 * 7 * 3
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (len(genuine), len(impostor))
    assert report["threshold"] == threshold
    # The threshold was calibrated just above a held-out impostor pair's score, which
    # is among these pairs: a pair within float64 rounding (1e-12) of it may fall
    # either side, any other on the side computed here.
    for rate, scored in (("far_at_threshold", impostor), ("tar_at_threshold", genuine)):
        accepted = report[rate] * len(scored)
        assert np.sum(scored >= threshold + 1e-12) - 1e-6 <= accepted, rate
        assert accepted <= np.sum(scored >= threshold - 1e-12) + 1e-6, rate
    assert report["auc"] == pytest.approx(
        np.mean((genuine[:, None] > impostor) + 0.5 * (genuine[:, None] == impostor)), abs=1e-9)
    assert report["genuine_similarity_median"] == pytest.approx(np.median(genuine), abs=1e-9)
    assert report["impostor_similarity_median"] == pytest.approx(np.median(impostor), abs=1e-9)
    # Each image's expression, as the model's label index, against the model's argmax.
    position = {name: index for index, name in enumerate(manifest["expression_labels"])}
    truth = np.array([position[records.expression_names[e]] for e in records.expression])
    predicted = outputs["expression_probabilities"].argmax(axis=1)
    assert report["expression"]["images"] == len(records)
    assert report["expression"]["accuracy"] == pytest.approx(np.mean(predicted == truth),
                                                             abs=1e-12)


def test_cli_names_a_missing_export(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_dmtl.export.transfer", f"--export_dir={tmp_path}",
         f"--data_dir={tmp_path}", "--detector=none"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "manifest.json" in result.stderr


def test_an_expression_only_set_reports_its_expression_figures_alone():
    # FER2013-like: every face its own subject, so no genuine pair to score.
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    report = transfer_report(np.eye(3), np.array(["a", "b", "c"]), 0.5, probabilities,
                             np.array([0, 1, 1]), ["happy", "sadness"], ["happy", "sadness"])
    assert "threshold" not in report and "auc" not in report
    assert report["expression"]["images"] == 3
    assert report["expression"]["accuracy"] == pytest.approx(2 / 3)
