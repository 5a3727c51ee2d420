"""The shipped model (keras_dmtl/pretrained): its files are the ones the manifest
and the model card describe, they run under LiteRT and Keras, they give the
stored outputs of a fixed generated face, and the unlock uses them by default."""

import os

import cv2
import keras
import numpy as np
import pytest

from configs import finetune_pretrained
from keras_dmtl import pretrained
from keras_dmtl import unlock
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.export.inference import build_inference_model
from keras_dmtl.io_utils import read_json
from keras_dmtl.io_utils import sha256_digest
from keras_dmtl.pretrained.build import face_digest
from keras_dmtl.pretrained.build import reference_face
from keras_dmtl.pretrained.export import export_server_formats
from keras_dmtl.training import config as config_lib
from keras_dmtl.training import run

FOLDER = pretrained.export_dir()
MANIFEST = read_json(os.path.join(FOLDER, pretrained.MANIFEST))
STORED = read_json(os.path.join(FOLDER, pretrained.REFERENCE))
REFERENCE = {f"{fmt}_{name}": np.asarray(value)
             for fmt, values in STORED["outputs"].items() for name, value in values.items()}
SPEC = MANIFEST["input"]


def _cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def face():
    image = reference_face(SPEC["height"], SPEC["channels"])
    # The generator still draws the face the outputs were stored for.
    assert face_digest(image) == STORED["face_sha256"]
    return image


def test_every_shipped_file_has_the_manifests_checksum():
    for fmt in (*pretrained.SHIPPED_FORMATS, "keras"):
        entry = MANIFEST["formats"][fmt]
        path = os.path.join(FOLDER, entry["file"])
        assert sha256_digest(path) == entry["sha256"], fmt
        assert os.path.getsize(path) == entry["bytes"], fmt
    total = sum(os.path.getsize(os.path.join(FOLDER, name)) for name in os.listdir(FOLDER))
    assert total < 16 * 2**20  # the folder lives in git


@pytest.mark.parametrize("fmt", pretrained.SHIPPED_FORMATS)
def test_litert_gives_the_stored_outputs_of_the_reference_face(fmt, face):
    parsed = load_manifest(FOLDER, fmt)  # checks the file against the manifest's sha256
    outputs = LiteRTFaceModel(parsed["file"])(face)
    assert outputs["embedding"].shape == (1, MANIFEST["embedding_size"])
    assert outputs["expression_probabilities"].shape == (1, len(MANIFEST["expression_labels"]))
    np.testing.assert_allclose(outputs["embedding"].reshape(-1), REFERENCE[f"{fmt}_embedding"],
                               atol=1e-5)
    np.testing.assert_allclose(outputs["expression_probabilities"].reshape(-1),
                               REFERENCE[f"{fmt}_expression_probabilities"], atol=1e-5)
    # The phone's model and the float one agree on the face.
    assert _cosine(outputs["embedding"], REFERENCE["keras_embedding"]) > 0.95


def test_the_keras_model_loads_and_gives_the_stored_embedding(face):
    model = keras.saving.load_model(os.path.join(FOLDER, pretrained.KERAS_MODEL))
    outputs = build_inference_model(model).predict(face, verbose=0)
    np.testing.assert_allclose(outputs["embedding"].reshape(-1), REFERENCE["keras_embedding"],
                               atol=1e-4)
    assert _cosine(outputs["embedding"], REFERENCE["tflite_float32_embedding"]) > 0.9999
    assert model.network.input_shape[1:] == (SPEC["height"], SPEC["width"], SPEC["channels"])


def test_a_run_can_start_from_the_shipped_model(tmp_path):
    config = config_lib.with_updates(finetune_pretrained.get_config(), jit_compile="false")
    labels = read_json(os.path.join(FOLDER, "labels.json"))
    model = run.build_model(config, 3, len(labels["expression_names"]),
                            label_names={"identity_names": ["a", "b", "c"],
                                         "expression_names": labels["expression_names"]})
    source = keras.saving.load_model(os.path.join(FOLDER, pretrained.KERAS_MODEL))
    for mine, shipped in zip(model.trunk.weights, source.trunk.weights):
        np.testing.assert_array_equal(mine.numpy(), shipped.numpy())


def test_the_unlock_runs_the_shipped_model_without_export_dir(face, tmp_path, capsys):
    path = str(tmp_path / "face.png")
    assert cv2.imwrite(path, face[0].astype(np.uint8))
    code = unlock.main([f"--store={tmp_path / 'store' / 'templates.json'}", "--detector=none",
                        "tag", path])
    assert code == 0
    tagged = capsys.readouterr().out
    expected = MANIFEST["expression_labels"][int(np.argmax(
        REFERENCE["tflite_int8_expression_probabilities"]))]
    assert f'"{expected}"' in tagged


def test_one_command_writes_its_savedmodel_and_onnx(tmp_path):
    differences = export_server_formats(str(tmp_path / "server"))
    assert set(differences) == {"saved_model", "onnx"}
    assert max(differences.values()) <= 1e-4
    written = read_json(str(tmp_path / "server" / "manifest.json"))
    for fmt, entry in written["formats"].items():
        assert sha256_digest(str(tmp_path / "server" / entry["file"])) == entry["sha256"], fmt
        assert entry["threshold"] == MANIFEST["formats"]["keras"]["threshold"]
