"""What the shard writer's worker processes do: make and encode the crops of one shard.

Workers are spawned processes that import OpenCV and numpy only (TensorFlow only
when the MTCNN detector is chosen, which needs it); the main process serialises
the examples. A job names its images by position and carries only what it needs
(the shard's sources, or nothing for generated faces), so it pickles small.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.data.faces.detection import ImageTooLargeError
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.data.faces.loading import face_crop
from keras_dmtl.data.generated.synthetic import DEFAULT_EXPRESSIONS
from keras_dmtl.data.generated.synthetic import render_stream_image

JPEG_QUALITY = 95
# Generated faces are drawn at least this large, then resized, as the in-memory
# generated set is (train.py writes it at max(image_size, 64)).
_MIN_RENDER_SIZE = 64


@dataclasses.dataclass(frozen=True)
class CropSettings:
    """How crops are made and stored.

    Attributes:
        image_size, channels: the crops' side and channels (1 gray, 3 RGB).
        detector: "none" (images are crops), "haar", "mtcnn" or "yunet:<model>".
        margin: context kept around a detected face (fraction of its size).
        encoding: "png" (lossless) or "jpeg" (quality `JPEG_QUALITY`).
    """

    image_size: int
    channels: int
    detector: str
    margin: float
    encoding: str


@dataclasses.dataclass(frozen=True)
class GeneratedFaces:
    """A generated stream (see `synthetic.render_stream_image`)."""

    identities: int
    seed: int
    expressions: Tuple[str, ...] = DEFAULT_EXPRESSIONS


@dataclasses.dataclass(frozen=True)
class ShardJob:
    """The images of one shard.

    Attributes:
        shard: the shard's number.
        positions: the images' positions in the dataset.
        sources: the images' paths or arrays (a reader's `FaceRecords.sources`),
            or None for generated faces.
        settings: `CropSettings`.
        generated: `GeneratedFaces` when `sources` is None.
    """

    shard: int
    positions: Sequence[int]
    sources: Optional[Sequence]
    settings: CropSettings
    generated: Optional[GeneratedFaces] = None


# One detector per worker process: MTCNN takes seconds to load.
_DETECTORS = {}


def init_worker():
    """Pool initializer: one OpenCV thread per worker, as the pool has one per core."""
    cv2.setNumThreads(1)


def encode_crop(crop, encoding):
    """The bytes of a PNG or JPEG file holding `crop`.

    Args:
        crop: uint8 (H, W, 1) or (H, W, 3) RGB.
        encoding: "png" or "jpeg".

    Returns:
        bytes.
    """
    image = crop[:, :, 0] if crop.shape[-1] == 1 else cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    if encoding == "png":
        ok, data = cv2.imencode(".png", image)
    else:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {crop.shape} crop as {encoding}.")
    return data.tobytes()


def _crop(source, settings):
    """(crop, None) or (None, problem) for one image file or array."""
    detector = settings.detector
    if detector not in _DETECTORS:
        _DETECTORS[detector] = make_detector(detector)
    try:
        image = decode_image(source)
    except ImageTooLargeError:
        return None, "over the size limit"
    if image is None:
        return None, "unreadable or corrupt"
    crop = face_crop(image, _DETECTORS[detector], settings.image_size, settings.channels,
                     settings.margin)
    return (None, "no face found") if crop is None else (crop, None)


def run_job(job: ShardJob) -> Tuple[int, List[Tuple[Optional[bytes], Optional[str]]]]:
    """Makes the crops of one shard.

    Returns:
        (shard, results): per position, (encoded crop, None) or (None, the
        problem: "unreadable or corrupt", "over the size limit", "no face found").
    """
    settings = job.settings
    results = []
    for index, position in enumerate(job.positions):
        if job.sources is None:
            generated = job.generated
            image = render_stream_image(position, generated.identities, generated.seed,
                                        max(settings.image_size, _MIN_RENDER_SIZE),
                                        settings.channels, generated.expressions)
            crop, problem = preprocess_crop(image, settings.image_size, settings.channels), None
        else:
            crop, problem = _crop(job.sources[index], settings)
        results.append((None, problem) if crop is None
                       else (encode_crop(np.asarray(crop), settings.encoding), None))
    return job.shard, results
