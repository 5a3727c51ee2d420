"""Detection on camera frames (issue 14): a shrunk copy of the frame, and a tracker that
looks near the last face but never answers with a remembered box."""

import numpy as np
import pytest

from keras_dmtl.data.faces.detection import Detection
from keras_dmtl.data.faces.detection import FaceDetector
from keras_dmtl.data.faces.detection import HaarDetector
from keras_dmtl.data.faces.detection import ScaledDetector
from keras_dmtl.data.faces.detection import TrackingDetector
from keras_dmtl.data.faces.detection import detect_scaled
from keras_dmtl.data.generated import synthetic
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION
from keras_dmtl.edge.runtime import frame_detectors

_FACE = synthetic.render_face(synthetic.random_identity(np.random.default_rng(1)), "happy", 1.0,
                              np.random.default_rng(2), 160, channels=3)[0]


def _frame(left=None, top=None):
    """A 640x480 frame, with the generated 160-pixel face at (left, top) if given."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    if left is not None:
        frame[top:top + 160, left:left + 160] = _FACE
    return frame


class Recorder(FaceDetector):
    """Runs a detector and records the shape and smallest face of every search."""

    def __init__(self, detector):
        self.detector = detector
        self.shapes = []
        self.min_faces = []

    def detect(self, image_rgb, min_face=None):
        self.shapes.append(image_rgb.shape[:2])
        self.min_faces.append(min_face)
        return self.detector.detect(image_rgb, min_face)


class Fixed(FaceDetector):
    """Finds one face at the same place of whatever image it is given."""

    def detect(self, image_rgb, min_face=None):
        return [Detection((10.0, 20.0, 30.0, 40.0), 0.9,
                          np.array([[12.0, 30.0], [30.0, 30.0], [20.0, 40.0], [14.0, 50.0],
                                    [28.0, 50.0]]))]


def _inside(box, left, top):
    """Whether a box lies on the face drawn at (left, top), within a few pixels."""
    x, y, w, h = box
    return left - 8 <= x and x + w <= left + 168 and top - 8 <= y and y + h <= top + 168


def test_scaled_boxes_and_landmarks_are_in_the_full_image():
    image = np.zeros((480, 640, 3), np.uint8)
    (face,) = detect_scaled(Fixed(), image, 0.5, region=(100, 50, 500, 450))
    assert face.box == pytest.approx((120.0, 90.0, 60.0, 80.0))
    np.testing.assert_allclose(face.landmarks[0], [124.0, 110.0])
    recorder = Recorder(Fixed())
    (face,) = ScaledDetector(recorder, 320).detect(image)
    assert recorder.shapes == [(240, 320)] and face.box == pytest.approx((20, 40, 60, 80))
    ScaledDetector(recorder, 320).detect(image, min_face=100)
    assert recorder.min_faces[-1] == pytest.approx(50)
    # Never enlarged: an image under max_side is searched as it is.
    ScaledDetector(recorder, 1000).detect(image)
    assert recorder.shapes[-1] == (480, 640)


def test_haar_skips_faces_under_min_face():
    (face,) = HaarDetector().detect(_frame(200, 100))
    assert HaarDetector().detect(_frame(200, 100), min_face=face.box[2] * 1.3) == []
    assert HaarDetector().detect(_frame(200, 100), min_face=face.box[2] * 0.8)


def test_haar_on_a_shrunk_frame_finds_the_face_where_it_is():
    recorder = Recorder(HaarDetector())
    (face,) = ScaledDetector(recorder, 320).detect(_frame(400, 250))
    assert recorder.shapes == [(240, 320)] and _inside(face.box, 400, 250)
    (full,) = HaarDetector().detect(_frame(400, 250))
    assert np.abs(np.subtract(face.box, full.box)).max() < 12


def test_tracker_looks_near_the_face_and_falls_back_to_the_whole_frame():
    recorder = Recorder(HaarDetector())
    tracker = TrackingDetector(recorder, max_side=320, redetect_every=10)
    (face,) = tracker.detect(_frame(100, 80))
    assert recorder.shapes == [(240, 320)] and _inside(face.box, 100, 80)
    (face,) = tracker.detect(_frame(110, 85))  # moved a little: found near its last box
    # Shrunk so that the face is ~64 pixels, and only faces of at least 0.6 of that.
    assert len(recorder.shapes) == 2 and max(recorder.shapes[1]) < 120
    assert recorder.min_faces == [None, pytest.approx(0.6 * 64, abs=1)]
    assert _inside(face.box, 110, 85)
    # The same box as a whole-frame search (the crop, and so the embedding, follow it).
    (whole,) = ScaledDetector(HaarDetector(), 320).detect(_frame(110, 85))
    assert abs(face.box[2] / whole.box[2] - 1) < 0.03
    assert np.abs(np.subtract(face.box[:2], whole.box[:2])).max() < 4
    (face,) = tracker.detect(_frame(450, 300))  # jumped away: the whole frame, same frame
    assert recorder.shapes[3] == (240, 320) and _inside(face.box, 450, 300)
    # Gone: nothing, not the remembered box; then a whole-frame search again.
    assert tracker.detect(_frame()) == []
    assert tracker.detect(_frame(200, 100)) and recorder.shapes[-1] == (240, 320)


def test_tracker_periodic_search_still_finds_a_much_smaller_face():
    import cv2  # noqa: PLC0415

    recorder = Recorder(HaarDetector())
    tracker = TrackingDetector(recorder, max_side=320, redetect_every=1)
    assert tracker.detect(_frame(100, 80))
    frame = _frame()
    frame[300:380, 400:480] = cv2.resize(_FACE, (80, 80), interpolation=cv2.INTER_AREA)
    (face,) = tracker.detect(frame)  # under 0.6 of the last face: found by the second look
    x, y, w, h = face.box
    assert 392 <= x and x + w <= 488 and 292 <= y and y + h <= 388
    assert recorder.shapes[1:] == [(240, 320), (240, 320)] and recorder.min_faces[2] is None


def test_tracker_searches_the_whole_frame_every_n_frames_and_after_reset():
    recorder = Recorder(Fixed())
    tracker = TrackingDetector(recorder, redetect_every=3)
    for _ in range(7):
        tracker.detect(np.zeros((480, 640, 3), np.uint8))
    whole = [i for i, shape in enumerate(recorder.shapes) if shape == (480, 640)]
    assert whole == [0, 3, 6]
    # The first search looks for every size; the periodic ones for faces of at least
    # 0.6 of the followed one (40 pixels) anywhere.
    assert recorder.min_faces[0] is None and recorder.min_faces[3] == pytest.approx(24)
    tracker.reset()
    tracker.detect(np.zeros((480, 640, 3), np.uint8))
    assert recorder.shapes[-1] == (480, 640)
    with pytest.raises(ValueError, match="redetect_every"):
        TrackingDetector(Fixed(), redetect_every=0)


def test_runtime_detectors_from_flags():
    single, stream = frame_detectors("haar", 320, 10)
    assert isinstance(single, ScaledDetector) and isinstance(stream, TrackingDetector)
    assert single.min_face_fraction == stream.min_face_fraction == MIN_FACE_FRACTION
    single, stream = frame_detectors("haar", 0, 1, min_face_fraction=0.0)
    assert isinstance(single.detector, HaarDetector) and stream is None
    assert frame_detectors("none", 320, 10) == (None, None)
    for bad in ({"max_detect_side": -1}, {"redetect_every": 0}, {"min_face_fraction": 1.0},
                {"min_face_fraction": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            frame_detectors("haar", **{"max_detect_side": 320, "redetect_every": 10, **bad})


def test_faces_under_the_minimum_fraction_are_not_looked_for():
    # 0.15 of a 480-pixel side is 72 pixels, 36 in the 320x240 copy searched.
    recorder = Recorder(Fixed())
    ScaledDetector(recorder, 320, min_face_fraction=0.15).detect(_frame())
    assert recorder.min_faces == [pytest.approx(36)]
    ScaledDetector(recorder, 320, min_face_fraction=0.15).detect(_frame(), min_face=100)
    assert recorder.min_faces[-1] == pytest.approx(50)  # the caller's, when larger
    tracker = TrackingDetector(recorder, max_side=320, min_face_fraction=0.15)
    tracker.detect(_frame())
    assert recorder.min_faces[-1] == pytest.approx(36)
    # Haar: the 160-pixel face is found with the same box; a 68-pixel one (a 50-pixel
    # box) only without the minimum.
    import cv2  # noqa: PLC0415

    unlock_detector, _ = frame_detectors("haar", 320, 10)
    (face,) = unlock_detector.detect(_frame(200, 100))
    (every_size,) = ScaledDetector(HaarDetector(), 320).detect(_frame(200, 100))
    assert face.box == pytest.approx(every_size.box)
    frame = _frame()
    frame[300:368, 400:468] = cv2.resize(_FACE, (68, 68), interpolation=cv2.INTER_AREA)
    assert unlock_detector.detect(frame) == []
    assert ScaledDetector(HaarDetector(), 320).detect(frame)
