"""The LiteRT face-unlock runtime: parity with training, enroll/verify, store, lockout."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_dmtl.data.loading import load_faces
from keras_dmtl.data.readers import read_ckplus48
from keras_dmtl.edge.runtime import FaceUnlock
from keras_dmtl.edge.templates import TemplateStoreError
from keras_dmtl.export.artifacts import export_run
from keras_dmtl.training.run import TrainConfig
from keras_dmtl.training.run import train


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    config = TrainConfig(out_dir=str(root / "run"), cache_dir=str(root / "cache"), image_size=32,
                         batch_size=16, epochs=8, embedding_dim=32, generated_identities=8,
                         generated_sequences=1, val_fraction=0.25, test_fraction=0.25,
                         jit_compile=False, verbose=0)
    train(config)
    export_run(config.out_dir, str(root / "export"), formats=("tflite_int8",),
               representative_samples=50)
    faces = [os.path.join(root / "cache", d) for d in os.listdir(root / "cache")
             if d.startswith("generated_faces")][0]
    return str(root / "export"), read_ckplus48(faces), root


def _images_of(records, subject):
    return [path for path, s in zip(records.sources, records.subject) if s == subject]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_runtime_input_equals_training_input(exported, tmp_path):
    export_dir, records, _ = exported
    unlock = FaceUnlock(export_dir, str(tmp_path / "store.json"), detector="none")
    training = load_faces(records.subset(range(3)), 32, 1)
    for path, expected in zip(records.sources[:3], training.images):
        np.testing.assert_array_equal(unlock.model_input(path), expected)


def test_enroll_accepts_owner_rejects_other_and_locks_out(exported, tmp_path):
    export_dir, records, _ = exported
    clock = Clock()
    default = FaceUnlock(export_dir, str(tmp_path / "unused.json"), detector="none")
    calibrated = json.loads(open(os.path.join(export_dir, "manifest.json")).read())
    assert default.threshold == calibrated["formats"]["tflite_int8"]["threshold"]
    # A test-sized model (8 epochs on 8 people) separates its training people
    # (owner ~0.9, others < 0.5) but its threshold, calibrated on two held-out
    # people, is near 1: test the mechanics at a fixed operating point.
    unlock = FaceUnlock(export_dir, str(tmp_path / "store.json"), detector="none",
                        threshold=0.7, clock=clock)
    owner, other = _images_of(records, "S001"), _images_of(records, "S002")
    unlock.enroll("ana", owner[:-1:2])
    accepted = unlock.verify("ana", owner[-1])
    assert accepted["decision"] == "accept", accepted
    decisions = [unlock.verify("ana", other[i])["decision"] for i in range(5)]
    assert decisions == ["reject"] * 5
    assert unlock.verify("ana", owner[-1])["decision"] == "locked"
    # The lockout survives a restart (state in the store) and ends after 30 s.
    restarted = FaceUnlock(export_dir, str(tmp_path / "store.json"), detector="none",
                           threshold=0.7, clock=clock)
    assert restarted.verify("ana", owner[-1])["decision"] == "locked"
    clock.now += 31
    assert restarted.verify("ana", owner[-1])["decision"] == "accept"
    assert os.stat(tmp_path / "store.json").st_mode & 0o077 == 0
    stored = (tmp_path / "store.json").read_text()
    assert "png" not in stored  # templates only, never images


def test_liveness_challenge_needs_the_expression(exported, tmp_path):
    export_dir, records, _ = exported
    unlock = FaceUnlock(export_dir, str(tmp_path / "store.json"), detector="none",
                        threshold=0.7)
    owner = _images_of(records, "S001")
    unlock.enroll("ana", owner[:-1:2])
    shown = unlock.tag(owner[-1])["expression"]
    other_expression = next(e for e in unlock.labels if e != shown)
    result = unlock.verify("ana", owner[-1], challenge=other_expression)
    assert result["decision"] == "reject" and not result["challenge_met"]


def test_tampered_store_is_refused(exported, tmp_path):
    export_dir, records, _ = exported
    path = tmp_path / "store.json"
    FaceUnlock(export_dir, str(path), detector="none").enroll("ana", records.sources[:2])
    envelope = json.loads(path.read_text())
    envelope["payload"] = envelope["payload"].replace('"images": 2', '"images": 3')
    path.write_text(json.dumps(envelope))
    with pytest.raises(TemplateStoreError, match="integrity"):
        FaceUnlock(export_dir, str(path), detector="none")


def test_cli_without_tensorflow(exported, tmp_path):
    export_dir, records, _ = exported
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((120, 120, 3), 127, np.uint8))
    # The runtime must run where TensorFlow is not installed: block its import.
    code = ("import sys; sys.modules['tensorflow'] = None; from keras_dmtl.unlock import main; "
            "sys.exit(main(sys.argv[1:]))")
    common = [sys.executable, "-c", code, f"--export_dir={export_dir}",
              f"--store={tmp_path / 'store.json'}"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = lambda *args: subprocess.run(common + list(args), capture_output=True, text=True,
                                       cwd=root, timeout=120)
    enrolled = run("--detector=none", "enroll", "--user=ana", *records.sources[:3])
    assert enrolled.returncode == 0, enrolled.stderr
    tagged = run("--detector=none", "tag", records.sources[0])
    assert json.loads(tagged.stdout)["expression"] in records.expression_names
    no_face = run("verify", "--user=ana", str(blank))
    assert json.loads(no_face.stdout)["decision"] == "no face"
    unknown = run("--detector=none", "verify", "--user=bob", records.sources[0])
    assert unknown.returncode == 2 and "not enrolled" in unknown.stderr
