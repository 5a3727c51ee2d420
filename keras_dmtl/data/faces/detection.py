"""Face detectors behind one interface: MTCNN (5 landmarks), Haar cascade, YuNet.

Haar and YuNet need only OpenCV; MTCNN needs TensorFlow and is imported lazily.
"""

import collections
import os

import cv2
import numpy as np

from keras_dmtl.data.records import DataError

Detection = collections.namedtuple("Detection", ["box", "score", "landmarks"])
Detection.__doc__ = """One face: box (x, y, w, h), score, and (5, 2) landmarks (left eye,
right eye, nose tip, left and right mouth corners) or None."""

_MTCNN_KEYPOINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# The largest image decoded or searched for faces: 40 megapixels (a 50 MP phone photo
# is refused, a 12 MP one is not). Decoded RGB that is 120 MB, and the detectors'
# image pyramids a few times that; without a cap a small crafted file (a PNG of zeros
# compresses ~1000:1) decodes to gigabytes and exhausts memory.
MAX_IMAGE_PIXELS = 40_000_000


class ImageTooLargeError(DataError):
    """An image over `MAX_IMAGE_PIXELS` (or the byte cap of encoded files)."""


def check_image_size(height, width, name="image"):
    """Refuses an image of more than `MAX_IMAGE_PIXELS` pixels.

    Raises:
        ImageTooLargeError: naming `name` and the cap.
    """
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(
            f"{name}: {width}x{height} pixels is over the {MAX_IMAGE_PIXELS // 1_000_000} "
            "megapixel limit; scale it down first.")


class FaceDetector:
    """Finds faces in an RGB uint8 image."""

    def detect(self, image_rgb, min_face=None):
        """Returns a list of `Detection`s, possibly empty.

        Args:
            image_rgb: (H, W[, C]) uint8.
            min_face: faces whose box side is under this many pixels are not
                looked for (or dropped); None: the detector's own smallest size.
        """
        raise NotImplementedError


def _at_least(detections, min_face):
    """The detections whose box side reaches `min_face` pixels (all when None)."""
    if min_face is None:
        return detections
    return [d for d in detections if max(d.box[2], d.box[3]) >= min_face]


class HaarDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade (ships with opencv-python-headless 4.x)."""

    def __init__(self, min_size_fraction=0.1):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DataError(f"Could not load the Haar cascade {path}: reinstall "
                            "opencv-python-headless 4.x (5.x dropped it).")
        self._min_size_fraction = min_size_fraction

    def detect(self, image_rgb, min_face=None):
        gray = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        # Haar's cost is in the small sizes: a larger minimum skips them outright.
        smallest = max(int(min(gray.shape[:2]) * self._min_size_fraction), 16,
                       int(np.ceil(min_face or 0)))
        boxes = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(smallest, smallest))
        return [Detection(tuple(float(v) for v in box), 1.0, None) for box in boxes]


class MtcnnDetector(FaceDetector):
    """MTCNN from the `mtcnn` package: boxes and 5 landmarks, weights in the wheel."""

    def __init__(self, min_confidence=0.9):
        from mtcnn import MTCNN  # TensorFlow-based: imported only when chosen.

        self._mtcnn = MTCNN()
        self._min_confidence = min_confidence

    def detect(self, image_rgb, min_face=None):
        if image_rgb.ndim == 2:
            image_rgb = cv2.cvtColor(image_rgb, cv2.COLOR_GRAY2RGB)
        found = []
        for face in self._mtcnn.detect_faces(image_rgb):
            if face["confidence"] < self._min_confidence:
                continue
            points = _image_left_first([face["keypoints"][k] for k in _MTCNN_KEYPOINTS])
            found.append(Detection(tuple(float(v) for v in face["box"]),
                                   float(face["confidence"]), points))
        return _at_least(found, min_face)


class YuNetDetector(FaceDetector):
    """OpenCV's YuNet (`cv2.FaceDetectorYN`) with the user's ONNX model file."""

    def __init__(self, model_path, min_confidence=0.8):
        if not os.path.isfile(model_path):
            raise DataError(f"--detector=yunet:{model_path}: no such file; download "
                            "face_detection_yunet_2023mar.onnx from the OpenCV zoo and give its path.")
        self._detector = cv2.FaceDetectorYN.create(model_path, "", (320, 320), min_confidence)

    def detect(self, image_rgb, min_face=None):
        if image_rgb.ndim == 2:
            image_rgb = cv2.cvtColor(image_rgb, cv2.COLOR_GRAY2RGB)
        height, width = image_rgb.shape[:2]
        self._detector.setInputSize((width, height))
        _, faces = self._detector.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        # Each row: x, y, w, h, 5 (x, y) landmarks (eyes, nose, mouth corners), score.
        return _at_least([Detection(tuple(float(v) for v in row[:4]), float(row[14]),
                                    _image_left_first(row[4:14].reshape(5, 2)))
                          for row in faces], min_face)


def _image_left_first(points):
    """Orders eyes and mouth corners left to right in the image, as the template is.

    Detectors disagree on whether "left" is the person's or the image's left.
    """
    points = np.asarray(points, np.float64).copy()
    for first, second in ((0, 1), (3, 4)):
        if points[first, 0] > points[second, 0]:
            points[[first, second]] = points[[second, first]]
    return points


def make_detector(spec):
    """Builds a detector from a flag value.

    Args:
        spec: "none", "haar", "mtcnn" or "yunet:/path/to/model.onnx".

    Returns:
        A `FaceDetector`, or None for "none" (images are already face crops).
    """
    if spec in (None, "", "none"):
        return None
    if spec == "haar":
        return HaarDetector()
    if spec == "mtcnn":
        return MtcnnDetector()
    if spec.startswith("yunet:"):
        return YuNetDetector(spec.split(":", 1)[1])
    raise DataError(f"--detector={spec}: choose none, haar, mtcnn or yunet:/path/to/model.onnx.")


def detect_scaled(detector, image_rgb, scale, region=None, min_face=None):
    """Runs `detector` on a resized part of an image; boxes come back in its pixels.

    Args:
        detector: a `FaceDetector`.
        image_rgb: the whole (H, W[, C]) uint8 image.
        scale: resize factor of the searched pixels (1.0: as they are).
        region: (x0, y0, x1, y1) integer pixel bounds to search, or None for all.
        min_face: smallest face side looked for, in the resized pixels, or None.

    Returns:
        A list of `Detection`s in `image_rgb`'s coordinates.
    """
    x0, y0 = (0, 0) if region is None else region[:2]
    if region is not None:
        image_rgb = image_rgb[region[1]:region[3], region[0]:region[2]]
    if scale != 1.0:
        height, width = image_rgb.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # INTER_AREA: averaging, no aliasing to confuse the detector's features.
        image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        # The scale actually applied, per axis, after rounding to whole pixels.
        scale_x, scale_y = size[0] / width, size[1] / height
    else:
        scale_x = scale_y = 1.0
    found = []
    for face in detector.detect(image_rgb, min_face):
        x, y, w, h = face.box
        box = (x / scale_x + x0, y / scale_y + y0, w / scale_x, h / scale_y)
        landmarks = None
        if face.landmarks is not None:
            landmarks = face.landmarks / np.array([scale_x, scale_y]) + np.array([x0, y0])
        found.append(Detection(box, face.score, landmarks))
    return found


def frame_min_face(image_rgb, min_face, min_face_fraction):
    """The smallest face side to look for in an image, in its pixels.

    Args:
        image_rgb: the (H, W[, C]) image searched.
        min_face: the caller's smallest face side, or None.
        min_face_fraction: the smallest face as a fraction of the image's shorter
            side (0: no such minimum).

    Returns:
        The larger of the two, or `min_face` when the fraction is 0.
    """
    if not min_face_fraction:
        return min_face
    return max(min_face or 0.0, min_face_fraction * min(image_rgb.shape[:2]))


def _downscale(height, width, max_side):
    """The factor that brings the longer side to at most `max_side` (never above 1)."""
    if not max_side:
        return 1.0
    return min(1.0, max_side / max(height, width))


class ScaledDetector(FaceDetector):
    """Searches a copy of the image shrunk to `max_side`; boxes in the full image.

    Haar's and YuNet's cost grows with the pixels searched. Haar's smallest face
    is a fraction of the image side, so shrinking a 640x480 frame to 320x240
    keeps the faces it can find; the crop is still cut from the full frame.

    Args:
        detector: the `FaceDetector` to run.
        max_side: the longer side searched, in pixels (None or 0: as it is).
        min_face_fraction: faces under this fraction of the image's shorter side
            are not looked for (0: every size the detector finds).
    """

    def __init__(self, detector, max_side, min_face_fraction=0.0):
        self.detector = detector
        self.max_side = max_side
        self.min_face_fraction = min_face_fraction

    def detect(self, image_rgb, min_face=None):
        min_face = frame_min_face(image_rgb, min_face, self.min_face_fraction)
        scale = _downscale(*image_rgb.shape[:2], self.max_side)
        return detect_scaled(self.detector, image_rgb, scale,
                             min_face=None if min_face is None else min_face * scale)


class TrackingDetector(FaceDetector):
    """Follows the face of a camera stream: searches near where it just was.

    After a face is found, the next frame is searched only in the last box grown
    by `margin` on every side, shrunk so that the face is about `face_side`
    pixels, and only for faces of at least `min_change` of that side: a fraction
    of a whole-frame search. When nothing is found there, the same frame gets a
    whole-frame search (shrunk to `max_side`), and so does every
    `redetect_every`-th frame (for faces at least `min_change` of the followed
    one's size first, all sizes if that finds none), so that a face elsewhere is
    not missed for long. Every answer is a detection in the current frame: a
    remembered box is never returned, so every frame's face goes through the
    model and the decision. Not thread-safe: one tracker per stream.

    Args:
        detector: the `FaceDetector` to run.
        max_side: longer side of whole-frame searches (None or 0: the full frame).
        margin: search area around the last box, as a fraction of its side.
        face_side: side, in pixels, the last face is shrunk to in that search. At
            64 Haar's boxes match a whole-frame search's (JAFFE frames: width ratio
            0.99, embedding cosine 0.97 to the whole-frame crop's, where two
            consecutive frames give 0.98); at 48 they came out ~10 % larger
            (cosine 0.89).
        min_change: smallest face looked for near the last one, as a fraction of
            its side (a face does not shrink by half from one frame to the next;
            if it does, the whole-frame search finds it).
        redetect_every: a whole-frame search at least every this many frames.
        min_face_fraction: faces under this fraction of the frame's shorter side are
            not looked for, near the last face or in the whole frame (0: every size).
    """

    def __init__(self, detector, max_side=None, margin=0.3, face_side=64, min_change=0.6,
                 redetect_every=10, min_face_fraction=0.0):
        if redetect_every < 1:
            raise ValueError(f"redetect_every={redetect_every}: must be at least 1.")
        self.detector = detector
        self.max_side = max_side
        self.margin = margin
        self.face_side = face_side
        self.min_change = min_change
        self.redetect_every = redetect_every
        self.min_face_fraction = min_face_fraction
        self.reset()

    def reset(self):
        """Forgets the face: the next frame gets a whole-frame search (a new stream)."""
        self._last_box = None
        self._tracked = 0  # frames searched near the face since the last whole-frame search

    def detect(self, image_rgb, min_face=None):
        min_face = frame_min_face(image_rgb, min_face, self.min_face_fraction)
        height, width = image_rgb.shape[:2]
        scale = _downscale(height, width, self.max_side)
        found = []
        if self._last_box is not None:
            if self._tracked + 1 < self.redetect_every:
                found = self._search_near(image_rgb, min_face)
                self._tracked += 1
            else:
                # The periodic whole-frame look: for a face elsewhere at least
                # `min_change` of the followed one's size; the small sizes, where
                # Haar spends its time, only when that finds nothing.
                smallest = max(self.min_change * max(self._last_box[2:]), min_face or 0.0)
                found = detect_scaled(self.detector, image_rgb, scale, min_face=smallest * scale)
                self._tracked = 0
        if not found:
            found = detect_scaled(self.detector, image_rgb, scale,
                                  min_face=None if min_face is None else min_face * scale)
            self._tracked = 0
        face = largest_face(found)
        self._last_box = None if face is None else face.box
        return found

    def _search_near(self, image_rgb, min_face):
        """Detections in the area around the last face, or []."""
        height, width = image_rgb.shape[:2]
        x, y, w, h = self._last_box
        side = max(w, h)
        grow = self.margin * side
        region = (max(0, int(x - grow)), max(0, int(y - grow)),
                  min(width, int(np.ceil(x + w + grow))), min(height, int(np.ceil(y + h + grow))))
        if region[2] <= region[0] or region[3] <= region[1]:
            return []
        scale = min(1.0, self.face_side / side)
        smallest = max(self.min_change * side, min_face or 0.0) * scale
        return detect_scaled(self.detector, image_rgb, scale, region, smallest)


def largest_face(detections):
    """The detection with the largest box area, or None."""
    if not detections:
        return None
    return max(detections, key=lambda d: d.box[2] * d.box[3])
