"""The golden vectors: recomputed from the Python runtime's code, reproduced by the JVM core.

The committed file is compared with freshly computed vectors and never rewritten
(regenerate it with `python -m keras_dmtl.edge.golden_vectors`). `.ci/run` installs the JDK's test jars and sets KERAS_DMTL_REQUIRE_JVM=1, so there the
JVM half runs instead of being skipped.
"""

import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

from keras_dmtl.data.faces.alignment import align_face
from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.edge import golden_vectors

CORE = os.path.join(os.path.dirname(__file__), os.pardir, "android_demo", "unlock-core")
LIBS = os.environ.get("JAVA_LIBS", "/usr/share/java")


def _jvm_ready():
    return (shutil.which("javac") is not None
            and all(os.path.exists(os.path.join(LIBS, jar))
                    for jar in ("gson.jar", "junit-platform-console-standalone.jar")))


# Taken at import, before any test runs: a test run must leave the committed file alone.
_COMMITTED_STAT = os.stat(golden_vectors.GOLDEN_PATH)


@pytest.fixture(scope="module")
def vectors():
    return json.loads(json.dumps(golden_vectors.build_golden_vectors()))


def _differences(expected, actual, where="vectors"):
    """Where two JSON values differ; floats to 1e-9 (their last bits vary by platform)."""
    if isinstance(expected, float) or isinstance(actual, float):
        ok = (isinstance(expected, (int, float)) and isinstance(actual, (int, float))
              and math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12))
        return [] if ok else [where]
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where} keys"]
        return [d for key in expected for d in _differences(expected[key], actual[key],
                                                             f"{where}.{key}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where} length"]
        return [d for i, (e, a) in enumerate(zip(expected, actual))
                for d in _differences(e, a, f"{where}[{i}]")]
    return [] if expected == actual else [where]


def _run_jvm_tests(*jvm_args):
    if not _jvm_ready():
        if os.environ.get("KERAS_DMTL_REQUIRE_JVM"):
            pytest.fail(f"javac or the test jars in {LIBS} are missing: "
                        "apt-get install -y junit5 libgoogle-gson-java")
        pytest.skip("no javac or JUnit/Gson jars (apt-get install -y junit5 libgoogle-gson-java)")
    return subprocess.run(["bash", os.path.join(CORE, "run_tests.sh"), *jvm_args],
                          capture_output=True, text=True, timeout=300)


def test_the_committed_file_holds_what_the_python_runtime_computes(vectors):
    with open(golden_vectors.GOLDEN_PATH) as stream:
        committed = json.load(stream)
    differences = _differences(committed, vectors)
    assert not differences, (f"{differences[:5]}: regenerate with "
                             "python -m keras_dmtl.edge.golden_vectors")
    case = vectors["preprocessing"][0]
    frame = np.array(case["rgb"], np.uint8).reshape(case["height"], case["width"], 3)
    crop = align_face(frame, np.array(case["landmarks"]), case["size"], case["margin"])
    expected = preprocess_crop(crop, case["size"], case["channels"]).reshape(-1)
    np.testing.assert_array_equal(case["aligned_input"], expected)
    decisions = {step["expected"]["decision"] for sequence in vectors["attempts"]
                 for step in sequence["steps"]}
    assert decisions == {"accept", "reject", "locked", "no face"}
    names = {sequence["name"] for sequence in vectors["attempts"]}
    assert {"lockout_and_backoff", "cap_and_reenroll", "clock_backwards",
            "device_budget"} <= names
    assert any(step["expected"]["reenroll_required"] for sequence in vectors["attempts"]
               for step in sequence["steps"])
    # Issue 22: a face past the cap is never compared; enrollments and exports are checked.
    past_the_cap = next(sequence for sequence in vectors["sessions"]
                        if sequence["name"] == "owner_past_the_cap")["steps"][0]
    assert len(past_the_cap["faces"]) > past_the_cap["expected"]["compared"]
    assert past_the_cap["expected"]["decision"] == "reject"
    assert {case["expected"].get("reason") for case in vectors["enrollments"]} == \
        {None, "count", "pair"}
    assert {case["expected"] for case in vectors["export_checks"]} == \
        {None, "unrecorded", "model", "threshold", "labels"}


def test_float_last_bits_are_tolerated_but_real_changes_are_not():
    assert _differences({"a": [0.1 + 0.2]}, {"a": [0.3]}) == []
    assert _differences({"a": [0.3]}, {"a": [0.3001]}) == ["vectors.a[0]"]
    assert _differences({"a": "locked"}, {"a": "accept"}) == ["vectors.a"]


def test_the_jvm_core_reproduces_every_vector(vectors):
    result = _run_jvm_tests()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 tests failed" in result.stdout


def test_the_jvm_core_fails_when_python_and_java_disagree(vectors, tmp_path):
    changed = json.loads(json.dumps(vectors))
    changed["preprocessing"][1]["aligned_input"][7] += 1
    changed["attempts"][0]["steps"][5]["expected"]["decision"] = "accept"
    changed["quantization"][2]["expected"][0] += 1
    changed["sessions"][0]["steps"][0]["expected"]["compared"] += 1
    changed["enrollments"][0]["expected"]["accepted"] = False
    changed["export_checks"][0]["expected"] = "threshold"
    path = tmp_path / "golden_vectors.json"
    path.write_text(json.dumps(changed))
    result = _run_jvm_tests(f"-Dgolden.vectors={path}")
    assert result.returncode != 0
    for test in ("alignedAndBoxCropsMatchTrainingPixelForPixel",
                 "attemptSequencesGiveTheSameDecisionsAndLockouts",
                 "int8QuantisationRoundsHalfToEvenAndSaturates",
                 "attemptSessionsCompareAtMostTheCapAndCountOnce",
                 "enrollmentsNeedThreeFacesOfOnePerson",
                 "exportsAreCheckedAgainstTheEnrollmentAsInPython"):
        assert test in result.stdout, result.stdout[-4000:]
    assert "6 tests failed" in result.stdout


def test_a_test_run_leaves_the_committed_file_untouched(vectors):
    golden_vectors.build_golden_vectors()
    status = os.stat(golden_vectors.GOLDEN_PATH)
    assert (status.st_mtime_ns, status.st_size) == (_COMMITTED_STAT.st_mtime_ns,
                                                     _COMMITTED_STAT.st_size)
