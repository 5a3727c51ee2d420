"""The per-frame unlock benchmark's frames and stage timing (no speed is asserted)."""

import cv2
import numpy as np
import pytest

from keras_dmtl.benchmarks import unlock as benchmark
from keras_dmtl.data.generated import synthetic


def _photos(folder, count=2):
    """Generated 200-pixel face photos written as PNG files."""
    for seed in range(count):
        person = synthetic.random_identity(np.random.default_rng(seed))
        face = synthetic.render_face(person, "happy", 1.0, np.random.default_rng(seed), 200,
                                     channels=3)[0]
        cv2.imwrite(str(folder / f"face{seed}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    return benchmark.face_photos(str(folder))


def test_frames_are_640x480_jpegs_of_the_photo(tmp_path):
    sessions = benchmark.make_sessions(_photos(tmp_path), 3, 4, 180, 240, 90, seed=0)
    assert [len(frames) for _, frames in sessions] == [4, 4, 4]
    frame = cv2.imdecode(np.frombuffer(sessions[0][1][0], np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (480, 640, 3)
    # A wide photo as large as the frame allows keeps its shape and stays inside.
    wide = np.full((240, 480, 3), 255, np.uint8)  # brighter than any background
    for jpeg in benchmark.session_frames(wide, np.random.default_rng(0), 5, 480, 480, 90):
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        white = frame > 245
        assert 470 <= (white.sum(axis=0) > 230).sum() <= 490
        assert 230 <= (white.sum(axis=1) > 470).sum() <= 250
    with pytest.raises(ValueError, match="no images"):
        benchmark.face_photos(str(tmp_path / "missing"))


def test_every_frame_is_timed_stage_by_stage(exported, tmp_path):
    sessions = benchmark.make_sessions(_photos(tmp_path), 2, 3, 180, 240, 90, seed=0)
    path = benchmark.FramePath(exported[0], "tflite_int8", "haar", 320, 10)
    assert path.tracker is not None  # as verify_session runs a camera
    stage_seconds, first, missed, width = benchmark.measure(path, sessions, warmup=1)
    assert missed == 0 and stage_seconds.shape == (6, len(benchmark.STAGES))
    assert (stage_seconds > 0).all() and first.tolist() == [True, False, False] * 2
    assert 100 < width < 240
    table = benchmark.summary(stage_seconds, first)
    assert list(table) == [*benchmark.STAGES, "total", "1st frame"]
    median, p95 = table["total"]
    assert median == pytest.approx(1000 * np.median(stage_seconds.sum(axis=1))) and p95 >= median


def test_table_cells_stay_apart_whatever_their_length():
    header = benchmark.table_header()
    timings = {name: (1234.5678, 98765.4) for name in [*benchmark.STAGES, "total", "1st frame"]}
    long_name = "gradnorm_tiny_seed0_with_a_long_run_name tflite_int8"
    measured = benchmark.table_row(long_name, "haar", timings, 3, 187.4)
    missing = benchmark.table_row("phone tflite_float32", "yunet", None, 300, 0.0)
    for row in (measured, missing):
        assert row.count("|") == header[0].count("|") == header[1].count("|")
    cells = [cell.strip() for cell in measured.strip("|").split("|")]
    assert cells[:3] == [long_name, "haar", "1234.57 / 98765.4"]
    assert cells[-2:] == ["3", "187"]
    assert [cell.strip() for cell in missing.strip("|").split("|")][-2:] == ["300", "-"]
