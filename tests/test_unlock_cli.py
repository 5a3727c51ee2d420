"""The unlock command line fails closed (issue 10, points 4, 5 and 9): exit 0 only on accept,
enrollment rules, thresholds, templates tied to their model. Shares the session's tiny export."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from keras_dmtl import unlock
from keras_dmtl.edge.templates import TemplateStore


def _images_of(records, subject):
    return [path for path, s in zip(records.sources, records.subject) if s == subject]


@pytest.fixture
def cli(exported, tmp_path):
    """Runs `main` in-process on a fresh store; returns (exit status, stdout, stderr)."""
    export_dir = exported[0]
    common = [f"--export_dir={export_dir}", f"--store={tmp_path / 'store' / 'templates.json'}",
              f"--key_file={tmp_path / 'keys' / 'templates.key'}", "--detector=none",
              "--threshold=0.7"]

    def run(*args):
        return unlock.main(common + list(args))
    return run


def test_exit_status_is_zero_only_on_accept(exported, cli, tmp_path, capsys):
    _, records, _ = exported
    owner, other = _images_of(records, "S001"), _images_of(records, "S002")
    assert cli("enroll", "--user=ana", *owner[:-1:2]) == unlock.EXIT_ACCEPT
    assert cli("verify", "--user=ana", owner[-1]) == unlock.EXIT_ACCEPT
    capsys.readouterr()
    empty, garbage = tmp_path / "empty.png", tmp_path / "garbage.png"
    empty.write_bytes(b"")
    garbage.write_bytes(b"not an image at all")
    for path, reason in ((tmp_path / "missing.png", "No such file"), (empty, "empty"),
                         (garbage, "not a readable image")):
        assert cli("verify", "--user=ana", str(path)) == unlock.EXIT_ERROR
        error = capsys.readouterr().err
        assert reason in error and str(path) in error and error.count("\n") == 1
    assert [cli("verify", "--user=ana", other[i]) for i in range(5)] == [unlock.EXIT_REJECT] * 5
    assert cli("verify", "--user=ana", owner[-1]) == unlock.EXIT_LOCKED
    with pytest.raises(SystemExit) as no_image:
        cli("verify", "--user=ana")
    assert no_image.value.code == unlock.EXIT_USAGE


def test_no_face_has_its_own_status_and_is_not_an_attempt(exported, tmp_path):
    export_dir, records, _ = exported
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 120, 3), 127, np.uint8))
    common = [f"--export_dir={export_dir}", f"--store={tmp_path / 'store' / 'templates.json'}",
              f"--key_file={tmp_path / 'keys' / 'templates.key'}"]
    assert unlock.main(common + ["--detector=none", "enroll", "--user=ana",
                                 *records.sources[:3]]) == 0
    assert unlock.main(common + ["verify", "--user=ana", str(blank)]) == unlock.EXIT_NO_FACE
    with TemplateStore(common[1].split("=", 1)[1], common[2].split("=", 1)[1]).open() as contents:
        assert contents["attempts"]["users"]["ana"]["failures"] == 0


def test_the_process_exit_status_fails_closed(exported, tmp_path):
    # `verify && unlock_door`: a stranger must not get status 0 from the real process.
    export_dir, records, _ = exported
    common = [sys.executable, "-m", "keras_dmtl.unlock", f"--export_dir={export_dir}",
              f"--store={tmp_path / 'store' / 'templates.json'}", "--detector=none",
              "--threshold=0.7"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_DMTL_KEY_FILE=str(tmp_path / "keys" / "templates.key"))
    run = lambda *args: subprocess.run(common + list(args), capture_output=True, text=True,  # noqa: E731
                                       cwd=root, env=env, timeout=120)
    assert run("enroll", "--user=ana", *_images_of(records, "S001")[:-1:2]).returncode == 0
    stranger = run("verify", "--user=ana", _images_of(records, "S002")[0])
    assert stranger.returncode == unlock.EXIT_REJECT, stranger.stderr
    assert json.loads(stranger.stdout)["decision"] == "reject"


def test_reenrollment_needs_replace_and_waits_for_the_lockout(exported, cli, capsys):
    _, records, _ = exported
    owner, other = _images_of(records, "S001"), _images_of(records, "S002")
    assert cli("enroll", "--user=ana", *owner[:3]) == 0
    assert cli("enroll", "--user=ana", *other[:3]) == unlock.EXIT_ERROR
    assert "--replace" in capsys.readouterr().err
    for image in other[:5]:
        cli("verify", "--user=ana", image)
    capsys.readouterr()
    # A locked-out attacker cannot enroll their own face under the victim's name.
    assert cli("enroll", "--replace", "--user=ana", *other[:3]) == unlock.EXIT_ERROR
    assert "locked out" in capsys.readouterr().err
    assert cli("verify", "--user=ana", owner[-1]) == unlock.EXIT_LOCKED


@pytest.mark.parametrize("name", ["", "-rf", "a b", "../ana", "ä", "x" * 65, "ana\n"])
def test_user_names_are_validated(cli, name):
    with pytest.raises(SystemExit) as error:
        cli("enroll", f"--user={name}", "face.png")
    assert error.value.code == unlock.EXIT_USAGE


@pytest.mark.parametrize("threshold", ["-1", "nan", "inf", "1.5", "-2"])
def test_thresholds_outside_the_cosine_range_are_usage_errors(exported, tmp_path, threshold):
    with pytest.raises(SystemExit) as error:
        unlock.main([f"--export_dir={exported[0]}", f"--threshold={threshold}", "tag", "x.png"])
    assert error.value.code == unlock.EXIT_USAGE


@pytest.mark.parametrize("flag", ["--max_detect_side=-1", "--max_detect_side=big",
                                  "--redetect_every=0", "--redetect_every=1.5"])
def test_detection_flags_are_checked(flag, tmp_path):
    with pytest.raises(SystemExit) as error:
        unlock.main([f"--export_dir={tmp_path}", flag, "tag", "x.png"])
    assert error.value.code == unlock.EXIT_USAGE


def test_a_template_made_by_another_model_is_refused(exported, cli, tmp_path, capsys):
    _, records, _ = exported
    assert cli("enroll", "--user=ana", *records.sources[:3]) == 0
    store = TemplateStore(str(tmp_path / "store" / "templates.json"),
                          str(tmp_path / "keys" / "templates.key"))
    with store.open() as contents:
        contents["users"]["ana"]["model_sha256"] = "f" * 64
    capsys.readouterr()
    assert cli("verify", "--user=ana", records.sources[0]) == unlock.EXIT_ERROR
    assert "re-enroll" in capsys.readouterr().err


def test_an_unbacked_threshold_is_reported_at_start(exported, tmp_path, capsys):
    export_dir, records, _ = exported
    common = [f"--export_dir={export_dir}", f"--store={tmp_path / 'store' / 'templates.json'}",
              f"--key_file={tmp_path / 'keys' / 'templates.key'}", "--detector=none"]
    # The fixture's threshold comes from two held-out people: far from FAR 2e-5.
    assert unlock.main(common + ["enroll", "--user=ana", *records.sources[:2]]) == 0
    warning = capsys.readouterr().err
    assert warning.startswith("warning: the threshold") and "not backed" in warning
    # An operator's own --threshold is not second-guessed.
    assert unlock.main(common + ["--threshold=0.9", "tag", records.sources[0]]) == 0
    assert capsys.readouterr().err == ""
