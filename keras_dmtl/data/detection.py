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

    def detect(self, image_rgb):
        """Returns a list of `Detection`s, possibly empty."""
        raise NotImplementedError


class HaarDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade (ships with opencv-python-headless 4.x)."""

    def __init__(self, min_size_fraction=0.1):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DataError(f"Could not load the Haar cascade {path}: reinstall "
                            "opencv-python-headless 4.x (5.x dropped it).")
        self._min_size_fraction = min_size_fraction

    def detect(self, image_rgb):
        gray = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        smallest = max(int(min(gray.shape[:2]) * self._min_size_fraction), 16)
        boxes = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(smallest, smallest))
        return [Detection(tuple(float(v) for v in box), 1.0, None) for box in boxes]


class MtcnnDetector(FaceDetector):
    """MTCNN from the `mtcnn` package: boxes and 5 landmarks, weights in the wheel."""

    def __init__(self, min_confidence=0.9):
        from mtcnn import MTCNN  # TensorFlow-based: imported only when chosen.

        self._mtcnn = MTCNN()
        self._min_confidence = min_confidence

    def detect(self, image_rgb):
        if image_rgb.ndim == 2:
            image_rgb = cv2.cvtColor(image_rgb, cv2.COLOR_GRAY2RGB)
        found = []
        for face in self._mtcnn.detect_faces(image_rgb):
            if face["confidence"] < self._min_confidence:
                continue
            points = _image_left_first([face["keypoints"][k] for k in _MTCNN_KEYPOINTS])
            found.append(Detection(tuple(float(v) for v in face["box"]),
                                   float(face["confidence"]), points))
        return found


class YuNetDetector(FaceDetector):
    """OpenCV's YuNet (`cv2.FaceDetectorYN`) with the user's ONNX model file."""

    def __init__(self, model_path, min_confidence=0.8):
        if not os.path.isfile(model_path):
            raise DataError(f"--detector=yunet:{model_path}: no such file; download "
                            "face_detection_yunet_2023mar.onnx from the OpenCV zoo and give its path.")
        self._detector = cv2.FaceDetectorYN.create(model_path, "", (320, 320), min_confidence)

    def detect(self, image_rgb):
        if image_rgb.ndim == 2:
            image_rgb = cv2.cvtColor(image_rgb, cv2.COLOR_GRAY2RGB)
        height, width = image_rgb.shape[:2]
        self._detector.setInputSize((width, height))
        _, faces = self._detector.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        # Each row: x, y, w, h, 5 (x, y) landmarks (eyes, nose, mouth corners), score.
        return [Detection(tuple(float(v) for v in row[:4]), float(row[14]),
                          _image_left_first(row[4:14].reshape(5, 2)))
                for row in faces]


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


def largest_face(detections):
    """The detection with the largest box area, or None."""
    if not detections:
        return None
    return max(detections, key=lambda d: d.box[2] * d.box[3])
