"""Generated faces, alignment, detection, cached loading and the tf.data pipeline."""

import os

import cv2
import numpy as np
import pytest

from keras_dmtl.data.faces import alignment
from keras_dmtl.data.faces import loading
from keras_dmtl.data.faces.detection import HaarDetector
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.data.generated import synthetic
from keras_dmtl.data.readers import read_ckplus48
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords


def test_renderer_is_seeded_and_varies_with_identity_and_expression():
    def render(person_seed, expression, jitter_seed=0):
        person = synthetic.random_identity(np.random.default_rng(person_seed))
        return synthetic.render_face(person, expression, 1.0, np.random.default_rng(jitter_seed))[0]

    np.testing.assert_array_equal(render(1, "happy"), render(1, "happy"))
    assert np.abs(render(1, "happy").astype(int) - render(2, "happy")).mean() > 5
    assert np.abs(render(1, "happy").astype(int) - render(1, "surprise")).mean() > 1
    assert render(1, "happy").shape == (64, 64) and render(1, "happy").dtype == np.uint8


def test_generated_set_layout_and_reuse(tmp_path):
    out = tmp_path / "faces"
    synthetic.write_synthetic_dataset(out, num_identities=3, expressions=("happy", "sadness"),
                                      sequences_per_pair=2, frames_per_sequence=3, image_size=32)
    files = sorted(os.listdir(out / "happy"))
    assert len(files) == 3 * 2 * 3 and files[0] == "S001_001_00000001.png"
    records = read_ckplus48(str(out))
    assert sorted(set(records.subject)) == ["S001", "S002", "S003"]
    assert records.expression_names == ["happy", "sadness"]
    mtime = os.stat(out / "happy" / files[0]).st_mtime_ns
    synthetic.write_synthetic_dataset(out, num_identities=3, expressions=("happy", "sadness"),
                                      sequences_per_pair=2, frames_per_sequence=3, image_size=32)
    assert os.stat(out / "happy" / files[0]).st_mtime_ns == mtime
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".generating")]


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = scale * points @ rotation.T + shift
    matrix = alignment.similarity_transform(points, moved)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_align_face_maps_landmarks_onto_the_template():
    # Landmarks = the template moved by a known similarity; a bright dot marks each.
    template = alignment.reference_landmarks(112)
    angle, scale, shift = 0.25, 1.4, np.array([30.0, 10.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = scale * template @ rotation.T + shift
    image = np.zeros((240, 240), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (int(round(x)), int(round(y))), 3, 255, -1)
    aligned = alignment.align_face(image, landmarks, 112)
    assert aligned.shape == (112, 112)
    for x, y in template:
        assert aligned[int(round(y)), int(round(x))] > 200


def test_preprocess_crop_shapes_and_channels():
    rgb = np.random.default_rng(0).integers(0, 255, (80, 60, 3), dtype=np.uint8)
    assert alignment.preprocess_crop(rgb, 48, 1).shape == (48, 48, 1)
    assert alignment.preprocess_crop(rgb, 48, 3).shape == (48, 48, 3)
    gray = rgb[:, :, 0]
    assert alignment.preprocess_crop(gray, 32, 3).dtype == np.uint8


def test_haar_finds_nothing_in_a_blank_image_and_bad_detector_flag():
    assert HaarDetector().detect(np.full((120, 120, 3), 128, np.uint8)) == []
    with pytest.raises(DataError, match="--detector"):
        make_detector("nope")
    with pytest.raises(DataError, match="no such file"):
        make_detector("yunet:/missing/model.onnx")


def _records(tmp_path, count=6):
    paths = []
    for index in range(count):
        path = tmp_path / f"face{index}.png"
        cv2.imwrite(str(path), np.full((40, 40), 20 * index, np.uint8))
        paths.append(str(path))
    return FaceRecords(paths, np.arange(count) % 2, np.zeros(count), [f"s{i}" for i in range(count)],
                       ["a", "b"], ["happy"], "manifest")


def test_load_faces_shapes_cache_and_bad_files(tmp_path, monkeypatch):
    records = _records(tmp_path)
    arrays = loading.load_faces(records, 24, 1, cache_dir=str(tmp_path / "cache"))
    assert arrays.images.shape == (6, 24, 24, 1)
    np.testing.assert_array_equal(arrays.identity, records.identity)

    def no_decoding(source):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(loading, "decode_image", no_decoding)
    again = loading.load_faces(records, 24, 1, cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(again.images, arrays.images)
    monkeypatch.undo()

    (tmp_path / "face2.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="face2.png.*--config.skip_bad_images"):
        loading.load_faces(records, 24, 1)
    skipped = loading.load_faces(records, 24, 1, skip_bad_images=True)
    assert len(skipped) == 5


def test_load_faces_with_a_detector_reports_no_face(tmp_path):
    records = _records(tmp_path, 2)
    with pytest.raises(DataError, match="no face found"):
        loading.load_faces(records, 24, 1, detector="haar")


def _arrays(count=40, classes=4):
    from keras_dmtl.data.records import FaceArrays

    rng = np.random.default_rng(0)
    expression = np.where(np.arange(count) < count * 3 // 4, 0, rng.integers(1, classes, count))
    return FaceArrays(rng.integers(0, 255, (count, 16, 16, 1)).astype(np.uint8),
                      rng.integers(-1, 3, count), expression, np.arange(count).astype(str),
                      ["a", "b", "c"], [str(i) for i in range(classes)])


def test_pipeline_shapes_range_and_drop_remainder():
    from keras_dmtl.data.pipeline import make_dataset

    batches = list(make_dataset(_arrays(), 16, training=True, seed=1))
    assert len(batches) == 2  # 40 samples, last partial batch dropped
    images, labels = batches[0]
    assert images.shape == (16, 16, 16, 1) and images.dtype.name == "float32"
    assert float(images.numpy().min()) >= 0 and float(images.numpy().max()) <= 255
    assert labels["identity"].dtype.name == "int32"
    evaluation = list(make_dataset(_arrays(), 16, training=False))
    assert sum(len(b[0]) for b in evaluation) == 40
    np.testing.assert_array_equal(evaluation[0][0].numpy(), _arrays().images[:16])


def test_pipeline_balances_classes():
    from keras_dmtl.data.pipeline import make_dataset

    arrays = _arrays(400)
    labels = np.concatenate([b[1]["expression"].numpy() for _ in range(3) for b in
                             make_dataset(arrays, 50, training=True, balance="expression")])
    shares = np.bincount(labels, minlength=4) / len(labels)
    assert np.bincount(arrays.expression)[0] / 400 > 0.7
    assert np.all(np.abs(shares - 0.25) < 0.07), shares


def _face_on_canvas():
    person = synthetic.random_identity(np.random.default_rng(1))
    face, landmarks = synthetic.render_face(person, "happy", 1.0, np.random.default_rng(2), 160,
                                            channels=3)
    canvas = np.full((300, 300, 3), 90, np.uint8)
    canvas[70:230, 60:220] = face
    return canvas, landmarks + np.array([60.0, 70.0])


def test_haar_and_mtcnn_find_a_generated_face():
    canvas, landmarks = _face_on_canvas()
    (haar_face,) = make_detector("haar").detect(canvas)
    x, y, w, h = haar_face.box
    assert x < landmarks[:, 0].min() and landmarks[:, 0].max() < x + w
    (mtcnn_face,) = make_detector("mtcnn").detect(canvas)
    # Eyes within a few pixels of where they were drawn (MTCNN places the mouth
    # corners of a drawn smile lower than the drawn corners, so only order is checked).
    assert np.abs(mtcnn_face.landmarks[:2] - landmarks[:2]).max() < 10
    assert mtcnn_face.landmarks[3:, 1].min() > mtcnn_face.landmarks[:2, 1].max()
    crop = loading.face_crop(canvas, make_detector("haar"), 48, 1, margin=0.2)
    assert crop.shape == (48, 48, 1)
