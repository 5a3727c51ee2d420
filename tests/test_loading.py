"""Decode, detect, align and cache (what test_data_prep leaves out)."""

import logging
import os

import cv2
import numpy as np
import pytest

from keras_dmtl.data.faces import alignment
from keras_dmtl.data.faces import loading
from keras_dmtl.data.faces.detection import Detection
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords


def _records(sources, dataset="manifest"):
    count = len(sources)
    return FaceRecords(list(sources), np.arange(count) % 2, np.full(count, -1),
                       [f"s{i}" for i in range(count)], ["a", "b"], ["happy"], dataset)


def _write_images(folder, count, side=40):
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"face{index}.png")
        cv2.imwrite(path, np.full((side, side), 30 * index, np.uint8))
        paths.append(path)
    return paths


class _StubDetector:
    def __init__(self, detections):
        self.detections = detections

    def detect(self, image_rgb):
        return self.detections


def test_face_crop_aligns_with_landmarks_and_falls_back_to_the_box():
    image = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    landmarks = alignment.reference_landmarks(80) * 0.5 + 10
    small = Detection((0, 0, 10, 10), 0.9, None)
    with_points = Detection((5, 5, 60, 60), 0.8, landmarks)
    crop = loading.face_crop(image, _StubDetector([small, with_points]), 32, 3, margin=0.0)
    np.testing.assert_array_equal(crop, alignment.align_face(image, landmarks, 32))

    box_only = Detection((10, 20, 40, 40), 0.8, None)
    crop = loading.face_crop(image, _StubDetector([box_only]), 32, 1, margin=0.2)
    expected = alignment.preprocess_crop(alignment.crop_box(image, box_only.box, 32, 0.2), 32, 1)
    np.testing.assert_array_equal(crop, expected)
    assert loading.face_crop(image, _StubDetector([]), 32, 1, margin=0.2) is None


def test_in_memory_pixels_load_as_rgb_and_key_the_cache(tmp_path):
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(3)]
    cache = str(tmp_path / "cache")
    arrays = loading.load_faces(_records(pixels, "fer2013"), 24, 3, cache_dir=cache)
    assert arrays.images.shape == (3, 24, 24, 3) and arrays.images.dtype == np.uint8
    np.testing.assert_array_equal(arrays.expression, [-1, -1, -1])
    assert arrays.identity_names == ["a", "b"]

    pixels[1] = 255 - pixels[1]
    changed = loading.load_faces(_records(pixels, "fer2013"), 24, 3, cache_dir=cache)
    assert not np.array_equal(changed.images[1], arrays.images[1])
    assert len(os.listdir(cache)) == 2


def test_a_changed_file_or_setting_invalidates_the_cache(tmp_path):
    paths = _write_images(str(tmp_path), 3)
    cache = str(tmp_path / "cache")
    first = loading.load_faces(_records(paths), 16, 1, cache_dir=cache)

    cv2.imwrite(paths[0], np.full((40, 40), 250, np.uint8))
    os.utime(paths[0], ns=(1, 1))  # a different mtime even on a coarse-clock file system
    again = loading.load_faces(_records(paths), 16, 1, cache_dir=cache)
    assert again.images[0].min() == 250 and first.images[0].max() == 0
    assert loading.load_faces(_records(paths), 20, 1, cache_dir=cache).images.shape[1] == 20
    names = os.listdir(cache)
    assert len(names) == 3 and all(name.endswith(".npz") and not name.startswith(".")
                                   for name in names)


def test_skipping_logs_one_line_with_counts_per_reason_and_the_cache_keeps_the_survivors(
        tmp_path, monkeypatch, caplog):
    paths = _write_images(str(tmp_path), 4)
    with open(paths[1], "wb") as stream:
        stream.write(b"not an image")
    records = _records(paths + [str(tmp_path / "missing.png")])
    cache = str(tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger=loading.__name__):
        arrays = loading.load_faces(records, 16, 1, cache_dir=cache, skip_bad_images=True)
    assert len(arrays) == 3
    np.testing.assert_array_equal(arrays.identity, [0, 0, 1])
    np.testing.assert_array_equal(arrays.subject, ["s0", "s2", "s3"])
    (line,) = [record.getMessage() for record in caplog.records]
    assert "Skipped 2 of 5" in line and "2 unreadable or corrupt" in line

    monkeypatch.setattr(loading, "decode_image", lambda source: pytest.fail("cache not used"))
    cached = loading.load_faces(records, 16, 1, cache_dir=cache, skip_bad_images=True)
    np.testing.assert_array_equal(cached.subject, arrays.subject)
    np.testing.assert_array_equal(cached.images, arrays.images)


def test_no_usable_image_and_no_record_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="No usable face.*--config.detector"):
        loading.load_faces(_records([str(bad)]), 16, 1, skip_bad_images=True)
    with pytest.raises(DataError, match="--config.data_dir"):
        loading.load_faces(_records([]), 16, 1)


def test_action_unit_labels_follow_the_kept_crops_also_from_the_cache(tmp_path):
    paths = _write_images(str(tmp_path), 3)
    with open(paths[1], "wb") as stream:
        stream.write(b"not an image")
    records = FaceRecords(paths, [0, 0, 1], [-1, -1, -1], ["s0", "s1", "s2"], ["a", "b"], [],
                          "manifest", action_units=[[1, 0], [0, 1], [-1, 1]],
                          action_unit_names=["AU6", "AU12"])
    cache = str(tmp_path / "cache")
    for _ in range(2):  # the second call reads the cache
        arrays = loading.load_faces(records, 16, 1, cache_dir=cache, skip_bad_images=True)
        assert arrays.action_unit_names == ["AU6", "AU12"]
        assert arrays.action_units.tolist() == [[1, 0], [-1, 1]]


def test_a_killed_alignment_resumes_where_its_last_part_ends(tmp_path, monkeypatch, caplog):
    paths = _write_images(str(tmp_path), 7)
    with open(paths[1], "wb") as stream:
        stream.write(b"not an image")
    records = _records(paths)
    cache = str(tmp_path / "cache")
    whole = loading.load_faces(records, 16, 1, skip_bad_images=True)
    monkeypatch.setattr(loading, "PARTIAL_EVERY", 2)
    decode = loading.decode_image
    decoded = []

    def killed_at_five(source):
        if source == paths[5]:
            raise KeyboardInterrupt
        decoded.append(source)
        return decode(source)

    monkeypatch.setattr(loading, "decode_image", killed_at_five)
    with pytest.raises(KeyboardInterrupt):
        loading.load_faces(records, 16, 1, cache_dir=cache, skip_bad_images=True)
    assert len(loading._parts(os.path.join(cache, os.listdir(cache)[0].split(".part-")[0]
                                           + ".npz"))) == 2  # after images 2 and 4
    decoded.clear()
    monkeypatch.setattr(loading, "decode_image", lambda source: decoded.append(source)
                        or decode(source))
    with caplog.at_level(logging.WARNING, logger=loading.__name__):
        resumed = loading.load_faces(records, 16, 1, cache_dir=cache, skip_bad_images=True)
    assert decoded == paths[4:]  # images 0-3 came from the parts
    np.testing.assert_array_equal(resumed.images, whole.images)
    np.testing.assert_array_equal(resumed.subject, whole.subject)
    # The problem counts of the parts are kept, and the parts give way to the cache.
    assert "Skipped 1 of 7" in caplog.text and "1 unreadable or corrupt" in caplog.text
    assert [name for name in os.listdir(cache) if ".part-" in name] == []
