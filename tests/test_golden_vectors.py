"""The golden vectors: recomputed from the Python runtime's code, reproduced by the JVM core.

The committed file is compared with freshly computed vectors and never rewritten
(regenerate it with `python -m keras_dmtl.edge.golden_vectors`); the vectors are held
to computations made here by hand (the alignment's similarity and sampling, the
template average). `.ci/run` installs the JDK's test jars and sets
KERAS_DMTL_REQUIRE_JVM=1, so there the JVM half runs, on the committed file, instead
of being skipped.
"""

import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

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


def _similarity_by_least_squares(points, target):
    """The (2, 3) similarity [[a, -b, tx], [b, a, ty]] taking `points` nearest to
    `target`, solved as the linear least-squares problem it is in (a, b, tx, ty)."""
    rows, values = [], []
    for (x, y), (u, v) in zip(points, target):
        rows += [[x, -y, 1.0, 0.0], [y, x, 0.0, 1.0]]
        values += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(values), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def _warp_by_hand(frame, matrix, size):
    """Each output pixel sampled bilinearly where the inverse similarity puts it,
    the frame's edge pixels repeated outward (float64, no rounding)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx, sy = (inverse @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])).reshape(2, size,
                                                                                   size)
    height, width = frame.shape[:2]
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]

    def pixel(y, x):
        return frame[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)].astype(np.float64)

    return ((1 - fy) * ((1 - fx) * pixel(y0, x0) + fx * pixel(y0, x0 + 1))
            + fy * ((1 - fx) * pixel(y0 + 1, x0) + fx * pixel(y0 + 1, x0 + 1)))


def test_aligned_inputs_are_the_frames_sampled_through_a_least_squares_similarity(vectors):
    template = np.array(vectors["manifest"]["expected"]["landmark_template"])
    for index, case in enumerate(vectors["preprocessing"]):
        size = case["size"]
        matrix = _similarity_by_least_squares(np.array(case["landmarks"]), template * size)
        np.testing.assert_allclose(case["similarity_transform"], matrix, atol=1e-9,
                                   err_msg=f"case {index}")
        frame = np.array(case["rgb"], np.uint8).reshape(case["height"], case["width"], 3)
        aligned = _warp_by_hand(frame, matrix, size)
        if case["channels"] == 1:  # ITU-R BT.601 luma, as a JPEG decoder's grey
            aligned = aligned @ np.array([[0.299], [0.587], [0.114]])
        actual = np.array(case["aligned_input"], np.float64).reshape(aligned.shape)
        # OpenCV interpolates in fixed point (1/32 px) and rounds to uint8: under a
        # level from exact bilinear sampling on these smooth frames, a quarter of one
        # on average (rounding alone).
        difference = np.abs(actual - aligned)
        assert difference.max() <= 1.5 and difference.mean() < 0.35, (index, difference.max(),
                                                                        difference.mean())


def test_templates_are_the_normalised_mean_of_normalised_embeddings(vectors):
    for case in vectors["templates"]:
        embeddings = np.array(case["embeddings"])
        units = embeddings / np.sqrt((embeddings ** 2).sum(axis=1, keepdims=True))
        mean = units.sum(axis=0) / len(units)
        template = mean / np.sqrt(mean @ mean)
        np.testing.assert_allclose(case["template"], template, atol=1e-12)
        probe = np.array(case["probe"])
        assert case["similarity"] == pytest.approx(probe @ template / np.sqrt(probe @ probe),
                                                   abs=1e-12)


# The JUnit tests of android_demo/unlock-core when this was written: a class that
# stops being found (renamed out of the scanner's *Test pattern, say) must fail here.
KNOWN_JVM_TESTS = 13


def _jvm_count(stdout, what):
    """A count from the JUnit console's summary, e.g. 'tests successful'."""
    found = re.findall(rf"\[\s*(\d+) {what}\s*\]", stdout)
    assert len(found) == 1, stdout[-4000:]
    return int(found[0])


def test_the_jvm_core_reproduces_every_vector(vectors):
    result = _run_jvm_tests()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert _jvm_count(result.stdout, "tests failed") == 0
    # Every @Test method in the sources ran and passed, and none has gone missing.
    written = sum(len(re.findall(r"^\s*@Test\b", path.read_text(), re.MULTILINE))
                  for path in pathlib.Path(CORE, "src", "test").rglob("*.java"))
    successful = _jvm_count(result.stdout, "tests successful")
    assert successful == written >= KNOWN_JVM_TESTS, (successful, written)


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
    assert _jvm_count(result.stdout, "tests failed") == 6


def test_the_regeneration_command_writes_the_committed_vectors(tmp_path, monkeypatch, capsys):
    # README's command, pointed at a scratch file: it must write what is committed,
    # and leave the committed file as it was when this module was imported.
    out = tmp_path / "golden_vectors.json"
    monkeypatch.setattr(sys, "argv", ["golden_vectors", f"--out={out}"])
    golden_vectors.main()
    assert capsys.readouterr().out.strip() == str(out)
    with open(golden_vectors.GOLDEN_PATH) as stream:
        committed = json.load(stream)
    assert not _differences(committed, json.loads(out.read_text()))
    status = os.stat(golden_vectors.GOLDEN_PATH)
    assert (status.st_mtime_ns, status.st_size) == (_COMMITTED_STAT.st_mtime_ns,
                                                     _COMMITTED_STAT.st_size)
