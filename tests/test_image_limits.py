"""Resource limits (issue 10, point 12): oversized images are refused before decoding and
before face detection. No model."""

import cv2
import numpy as np
import pytest

from keras_dmtl.data.faces import detection
from keras_dmtl.data.faces import loading
from keras_dmtl.data.faces.detection import ImageTooLargeError


def test_an_image_over_the_pixel_cap_is_refused_from_its_header(tmp_path, monkeypatch):
    # 9 megapixels of zeros: a 30 kB PNG. The cap is lowered so the test stays small.
    path = tmp_path / "bomb.png"
    cv2.imwrite(str(path), np.zeros((3000, 3000, 3), np.uint8))
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(detection, "MAX_IMAGE_PIXELS", 4_000_000)
    monkeypatch.setattr(loading.cv2, "imdecode",
                        lambda *args: pytest.fail("decoded an image over the cap"))
    with pytest.raises(ImageTooLargeError, match="3000x3000.*megapixel limit"):
        loading.decode_image(str(path))


def test_a_file_over_the_byte_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    monkeypatch.setattr(loading, "MAX_IMAGE_BYTES", 1000)
    with pytest.raises(ImageTooLargeError, match="MiB limit"):
        loading.decode_image(str(path))


def test_frames_over_the_cap_never_reach_the_detector(monkeypatch):
    monkeypatch.setattr(detection, "MAX_IMAGE_PIXELS", 100 * 100)

    class Detector:
        def detect(self, image):
            pytest.fail("detection ran on an image over the cap")

    with pytest.raises(ImageTooLargeError):
        loading.face_crop(np.zeros((101, 100, 3), np.uint8), Detector(), 32, 1, 0.2)


def test_images_under_the_caps_decode_as_before(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 255, (40, 30, 3), np.uint8)
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), pixels)
    np.testing.assert_array_equal(loading.decode_image(str(path)), pixels[..., ::-1])
