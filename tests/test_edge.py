"""The LiteRT face-unlock runtime: parity with training, enroll/verify, store, lockout."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_dmtl.data.faces.loading import load_faces
from keras_dmtl.edge.decision import MAX_FACES_PER_ATTEMPT
from keras_dmtl.edge.runtime import FaceUnlock
from keras_dmtl.edge.templates import TemplateStoreError


def _images_of(records, subject):
    return [path for path, s in zip(records.sources, records.subject) if s == subject]


def _unlock(export_dir, tmp_path, store="store.json", **kwargs):
    """A runtime whose store key lives in a key file outside the store's folder."""
    return FaceUnlock(export_dir, str(tmp_path / "store" / store), detector="none",
                      key_file=str(tmp_path / "keys" / "store.key"), **kwargs)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_runtime_input_equals_training_input(exported, tmp_path):
    export_dir, records, _ = exported
    unlock = _unlock(export_dir, tmp_path)
    training = load_faces(records.subset(range(3)), 32, 1)
    for path, expected in zip(records.sources[:3], training.images):
        np.testing.assert_array_equal(unlock.model_input(path), expected)


def test_enroll_accepts_owner_rejects_other_and_locks_out(exported, tmp_path):
    export_dir, records, _ = exported
    clock = Clock()
    default = _unlock(export_dir, tmp_path, "unused.json")
    calibrated = json.loads(open(os.path.join(export_dir, "manifest.json")).read())
    assert default.threshold == calibrated["formats"]["tflite_int8"]["threshold"]
    # A test-sized model (8 epochs on 8 people) separates its training people
    # (owner ~0.9, others < 0.5) but its threshold, calibrated on two held-out
    # people, is near 1: test the mechanics at a fixed operating point.
    unlock = _unlock(export_dir, tmp_path, threshold=0.7, clock=clock)
    owner, other = _images_of(records, "S001"), _images_of(records, "S002")
    unlock.enroll("ana", owner[:3])
    accepted = unlock.verify("ana", owner[-1])
    assert accepted["decision"] == "accept", accepted
    decisions = [unlock.verify("ana", other[i])["decision"] for i in range(5)]
    assert decisions == ["reject"] * 5
    assert unlock.verify("ana", owner[-1])["decision"] == "locked"
    # The lockout survives a restart (state in the store) and ends after 30 s.
    restarted = _unlock(export_dir, tmp_path, threshold=0.7, clock=clock)
    assert restarted.verify("ana", owner[-1])["decision"] == "locked"
    clock.now += 31
    assert restarted.verify("ana", owner[-1])["decision"] == "accept"
    assert os.stat(tmp_path / "store" / "store.json").st_mode & 0o077 == 0
    stored = (tmp_path / "store" / "store.json").read_text()
    assert "png" not in stored  # templates only, never images


def test_liveness_challenge_needs_the_expression(exported, tmp_path):
    export_dir, records, _ = exported
    unlock = _unlock(export_dir, tmp_path, threshold=0.7)
    owner = _images_of(records, "S001")
    unlock.enroll("ana", owner[:3])
    shown = unlock.tag(owner[-1])["expression"]
    other_expression = next(e for e in unlock.labels if e != shown)
    result = unlock.verify("ana", owner[-1], challenge=other_expression)
    assert result["decision"] == "reject" and not result["challenge_met"]


def test_a_tracked_session_runs_the_model_on_every_frame_with_a_face(exported, tmp_path):
    """A camera session follows the face, but every frame with one is run and decided:
    at the export's own threshold a stranger's frames are each scored against the
    owner's template and the session rejected, the owner's accepted at the first frame."""
    from keras_dmtl.data.generated import synthetic  # noqa: PLC0415

    def face(seed):
        person = synthetic.random_identity(np.random.default_rng(seed))
        return synthetic.render_face(person, "happy", 1.0, np.random.default_rng(2), 160,
                                     channels=3)[0]

    def frame(drawn=None, left=0, top=0):
        image = np.full((480, 640, 3), 90, np.uint8)
        if drawn is not None:
            image[top:top + 160, left:left + 160] = drawn
        return image

    export_dir = exported[0]
    unlock = FaceUnlock(export_dir, str(tmp_path / "store" / "store.json"), detector="haar",
                        key_file=str(tmp_path / "keys" / "store.key"), redetect_every=10)
    calibrated = json.loads(open(os.path.join(export_dir, "manifest.json")).read())
    assert unlock.threshold == calibrated["formats"]["tflite_int8"]["threshold"]
    calls = []
    model = unlock.model
    unlock.model = lambda images: calls.append(images) or model(images)

    def unit(outputs):
        embedding = outputs["embedding"][0].astype(np.float64)
        return embedding / np.linalg.norm(embedding)

    owner = face(3)
    # Three copies of one frame: enrollment needs three faces of one person.
    unlock.enroll("ana", [frame(owner, 240, 160)] * 3)
    template = unit(model(calls[-1]))
    calls.clear()
    stranger = face(1)
    frames = [frame(stranger, 100, 80), frame(stranger, 110, 85), frame(),
              frame(stranger, 450, 300), frame(stranger, 455, 300)]
    result = unlock.verify_session("ana", frames)
    assert len(calls) == 4  # every frame with a face; the blank one has none
    best = max(unit(model(images)) @ template for images in calls)
    assert result["decision"] == "reject" and best < unlock.threshold
    assert result["similarity"] == pytest.approx(best, abs=1e-6)
    calls.clear()
    accepted = unlock.verify_session("ana", [frame(owner, 240, 160), frame(owner, 245, 165)])
    assert accepted["decision"] == "accept" and len(calls) == 1, accepted
    assert accepted["similarity"] == pytest.approx(unit(model(calls[0])) @ template, abs=1e-6)


def test_tampered_store_is_refused(exported, tmp_path):
    export_dir, records, _ = exported
    path = tmp_path / "store" / "store.json"
    _unlock(export_dir, tmp_path, threshold=0.7).enroll("ana", records.sources[:3])
    envelope = json.loads(path.read_text())
    envelope["payload"] = envelope["payload"].replace('"images": 3', '"images": 4')
    path.write_text(json.dumps(envelope))
    with pytest.raises(TemplateStoreError, match="integrity"):
        _unlock(export_dir, tmp_path).verify("ana", records.sources[0])


def test_cli_without_tensorflow(exported, tmp_path):
    export_dir, records, _ = exported
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((120, 120, 3), 127, np.uint8))
    # The runtime must run where TensorFlow is not installed: block its import.
    code = ("import sys; sys.modules['tensorflow'] = None; from keras_dmtl.unlock import main; "
            "sys.exit(main(sys.argv[1:]))")
    common = [sys.executable, "-c", code, f"--export_dir={export_dir}",
              f"--store={tmp_path / 'store' / 'store.json'}",
              f"--key_file={tmp_path / 'keys' / 'store.key'}"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = lambda *args: subprocess.run(common + list(args), capture_output=True, text=True,
                                       cwd=root, timeout=120)
    enrolled = run("--detector=none", "--threshold=0.7", "enroll", "--user=ana",
                   *records.sources[:3])
    assert enrolled.returncode == 0, enrolled.stderr
    tagged = run("--detector=none", "tag", records.sources[0])
    assert json.loads(tagged.stdout)["expression"] in records.expression_names
    no_face = run("verify", "--user=ana", str(blank))
    assert json.loads(no_face.stdout)["decision"] == "no face" and no_face.returncode == 5
    unknown = run("--detector=none", "verify", "--user=bob", records.sources[0])
    assert unknown.returncode == 1 and "not enrolled" in unknown.stderr


def test_a_camera_attempt_compares_at_most_the_cap_of_faces(exported, tmp_path):
    # Issue 22, point 2: frames are read lazily (a camera), so the cap is on faces compared.
    export_dir, records, _ = exported
    unlock = _unlock(export_dir, tmp_path, threshold=0.7)
    owner, other = _images_of(records, "S001"), _images_of(records, "S002")
    unlock.enroll("ana", owner[:3])
    calls = []
    model = unlock.model
    unlock.model = lambda images: calls.append(images) or model(images)
    frames = (path for path in other[:MAX_FACES_PER_ATTEMPT + 1] + [owner[-1]])
    assert unlock.verify_session("ana", frames)["decision"] == "reject"
    assert len(calls) == MAX_FACES_PER_ATTEMPT
    assert next(frames) == other[MAX_FACES_PER_ATTEMPT]  # no frame read past the cap


def test_an_interrupt_after_a_compared_face_still_counts_the_attempt(exported, tmp_path):
    # Issue 22, point 1: Ctrl-C after a stranger's face was compared.
    export_dir, records, _ = exported
    unlock = _unlock(export_dir, tmp_path, threshold=0.7)
    unlock.enroll("ana", _images_of(records, "S001")[:3])

    def frames():
        yield _images_of(records, "S002")[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        unlock.verify_session("ana", frames())
    with unlock.store.open() as contents:
        assert contents["attempts"]["users"]["ana"]["failures"] == 1
