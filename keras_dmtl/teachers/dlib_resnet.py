"""dlib's ResNet face-recognition model as a teacher (CC0 1.0).

`face-recognition-models` 0.3.0 ships the model (`dlib_face_recognition_resnet_model_v1.dat`,
128-d, trained by Davis King on about 3 million faces of about 7,500 people; LFW
99.38 %) and dlib's 5-point landmark model, both under CC0 1.0; `dlib-bin` is a
prebuilt dlib. Neither is a requirement of the project: install them to compute
teacher embeddings (`requirements-teacher.txt`).

Alignment is dlib's own: the HOG detector finds the face (the largest), the
5-point model places the eyes and nose, and dlib cuts its 150 px chip from the
source image. HOG runs at the image's own scale, and once more upsampled 2x when
that finds nothing. A tight face crop (no side over `CROP_SIDE`, e.g. FER2013's 48 px,
an aligned 112 px crop) is scaled up to 150 px first and, when HOG finds nothing
in it, taken whole as the face box; a larger photo where HOG finds no face has no
embedding.
"""

from __future__ import annotations

import cv2
import numpy as np

from keras_dmtl.teachers.base import EmbeddingTeacher
from keras_dmtl.teachers.base import unit
from keras_dmtl.teachers.registry import register

# Images with no side longer than this are face crops, not photos.
CROP_SIDE = 160
# dlib's chip size: smaller crops are scaled up to it before landmarks are placed.
CHIP_SIDE = 150


def _import_dlib():
    try:
        import dlib  # noqa: PLC0415 (optional dependency)
        import face_recognition_models  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            f"The dlib_resnet teacher needs dlib and face_recognition_models ({error}): "
            "pip install -r requirements-teacher.txt") from None
    return dlib, face_recognition_models


@register("dlib_resnet")
class DlibResnet(EmbeddingTeacher):
    """dlib's ResNet-34 face embedding (128-d), aligned with its 5-point model.

    Example:

    ```python
    teacher = DlibResnet()
    vector = teacher.embed(rgb_photo)  # (128,) unit norm, or None: no face
    ```
    """

    version = "dlib_face_recognition_resnet_model_v1+5pt+hog0then1"
    embedding_dim = 128
    licence = "CC0 1.0 (face-recognition-models 0.3.0)"

    def __init__(self):
        dlib, models = _import_dlib()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._network = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def embed(self, image):
        image = np.asarray(image, np.uint8)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        is_crop = max(image.shape[:2]) <= CROP_SIDE
        if is_crop and min(image.shape[:2]) < CHIP_SIDE:
            scale = CHIP_SIDE / min(image.shape[:2])
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
        image = np.ascontiguousarray(image)
        faces = self._detector(image, 0)
        if not len(faces) and not is_crop:
            # One upsampling pass finds faces down to ~40 px; it costs 4x, so it is
            # tried only where the image's own scale finds none.
            faces = self._detector(image, 1)
        if len(faces):
            box = max(faces, key=lambda face: face.width() * face.height())
        elif is_crop:
            box = self._dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)
        else:
            return None
        shape = self._landmarks(image, box)
        return unit(self._network.compute_face_descriptor(image, shape))
