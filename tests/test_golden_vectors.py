"""The golden vectors: regenerated from the Python runtime's code, reproduced by the JVM core.

`.ci/run` installs the JDK's test jars and sets KERAS_DMTL_REQUIRE_JVM=1, so there the
JVM half runs instead of being skipped.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from keras_dmtl.data.alignment import align_face
from keras_dmtl.data.alignment import preprocess_crop
from keras_dmtl.edge import golden_vectors

CORE = os.path.join(os.path.dirname(__file__), os.pardir, "android_demo", "unlock-core")
LIBS = os.environ.get("JAVA_LIBS", "/usr/share/java")


def _jvm_ready():
    return (shutil.which("javac") is not None
            and all(os.path.exists(os.path.join(LIBS, jar))
                    for jar in ("gson.jar", "junit-platform-console-standalone.jar")))


@pytest.fixture(scope="module")
def vectors():
    return golden_vectors.write_golden_vectors()


def _run_jvm_tests(*jvm_args):
    if not _jvm_ready():
        if os.environ.get("KERAS_DMTL_REQUIRE_JVM"):
            pytest.fail(f"javac or the test jars in {LIBS} are missing: "
                        "apt-get install -y junit5 libgoogle-gson-java")
        pytest.skip("no javac or JUnit/Gson jars (apt-get install -y junit5 libgoogle-gson-java)")
    return subprocess.run(["bash", os.path.join(CORE, "run_tests.sh"), *jvm_args],
                          capture_output=True, text=True, timeout=300)


def test_the_file_holds_what_the_python_runtime_computes(vectors):
    with open(golden_vectors.GOLDEN_PATH) as stream:
        assert json.load(stream) == json.loads(json.dumps(vectors))
    case = vectors["preprocessing"][0]
    frame = np.array(case["rgb"], np.uint8).reshape(case["height"], case["width"], 3)
    crop = align_face(frame, np.array(case["landmarks"]), case["size"], case["margin"])
    expected = preprocess_crop(crop, case["size"], case["channels"]).reshape(-1)
    np.testing.assert_array_equal(case["aligned_input"], expected)
    decisions = {step["expected"]["decision"] for sequence in vectors["attempts"]
                 for step in sequence["steps"]}
    assert decisions == {"accept", "reject", "locked", "no face"}


def test_the_jvm_core_reproduces_every_vector(vectors):
    result = _run_jvm_tests()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 tests failed" in result.stdout


def test_the_jvm_core_fails_when_python_and_java_disagree(vectors, tmp_path):
    changed = json.loads(json.dumps(vectors))
    changed["preprocessing"][1]["aligned_input"][7] += 1
    changed["attempts"][0]["steps"][5]["expected"]["decision"] = "accept"
    changed["quantization"][2]["expected"][0] += 1
    path = tmp_path / "golden_vectors.json"
    path.write_text(json.dumps(changed))
    result = _run_jvm_tests(f"-Dgolden.vectors={path}")
    assert result.returncode != 0
    for test in ("alignedAndBoxCropsMatchTrainingPixelForPixel",
                 "attemptSequencesGiveTheSameDecisionsAndLockouts",
                 "int8QuantisationRoundsHalfToEvenAndSaturates"):
        assert test in result.stdout, result.stdout[-4000:]
    assert "3 tests failed" in result.stdout
