"""Model integrity (issue 10, point 9): the manifest is validated key by key, the model's
sha256 is checked at load, thresholds are finite and in (-1, 1]. No model is run."""

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_dmtl.edge.manifest import ManifestError
from keras_dmtl.edge.manifest import check_threshold
from keras_dmtl.edge.manifest import input_spec
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.manifest import parse_manifest

MODEL = b"not really a tflite model, but bytes to hash"


def _export(tmp_path, **format_changes):
    (tmp_path / "dmtl_int8.tflite").write_bytes(MODEL)
    entry = {"file": "dmtl_int8.tflite", "sha256": hashlib.sha256(MODEL).hexdigest(),
             "threshold": 0.5, "calibrated_far": 1e-3, "bytes": len(MODEL)}
    entry.update(format_changes)
    manifest = {"input": input_spec(32, 1), "expression_labels": ["happy", "sad"],
                "embedding_size": 8, "formats": {"tflite_int8": entry}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_a_valid_export_loads(tmp_path):
    _export(tmp_path)
    loaded = load_manifest(str(tmp_path), "tflite_int8")
    assert loaded["threshold"] == 0.5 and loaded["file"] == str(tmp_path / "dmtl_int8.tflite")


def test_a_changed_model_file_is_refused(tmp_path):
    _export(tmp_path)
    (tmp_path / "dmtl_int8.tflite").write_bytes(MODEL + b"!")
    with pytest.raises(ManifestError, match="sha256.*refusing to run it"):
        load_manifest(str(tmp_path), "tflite_int8")


@pytest.mark.parametrize("key", ["threshold", "sha256", "file"])
def test_a_missing_key_is_named(tmp_path, key):
    manifest = _export(tmp_path)
    del manifest["formats"]["tflite_int8"][key]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=f'missing key "formats.tflite_int8.{key}"'):
        load_manifest(str(tmp_path), "tflite_int8")


@pytest.mark.parametrize("threshold", [-1, -1.5, 1.0000001, float("nan"), float("inf"), "0.5",
                                       True, None])
def test_thresholds_outside_the_cosine_range_are_refused(tmp_path, threshold):
    _export(tmp_path, threshold=threshold)
    with pytest.raises(ManifestError, match="threshold"):
        load_manifest(str(tmp_path), "tflite_int8")
    with pytest.raises(ManifestError, match="--threshold"):
        check_threshold(threshold, "--threshold")


def test_a_model_file_outside_the_export_folder_is_refused(tmp_path):
    _export(tmp_path, file="../dmtl_int8.tflite")
    with pytest.raises(ManifestError, match="file name in the export folder"):
        load_manifest(str(tmp_path), "tflite_int8")


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                     lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(st.text(max_size=6), children, max_size=3),
                     max_leaves=10)


@settings(max_examples=100, deadline=None, database=None)
@given(manifest=st.one_of(_json, st.fixed_dictionaries(
    {"input": st.one_of(_json, st.just(input_spec(32, 1))),
     "expression_labels": st.one_of(_json, st.just(["happy"])),
     "formats": st.one_of(_json, st.fixed_dictionaries({"tflite_int8": _json}))})))
def test_any_manifest_parses_or_names_what_is_wrong(manifest):
    try:
        parsed = parse_manifest(manifest, "tflite_int8")
    except ManifestError as error:
        assert str(error).startswith(("manifest.json", "--format")) and "\n" not in str(error)
    else:
        assert -1 < parsed["threshold"] <= 1
