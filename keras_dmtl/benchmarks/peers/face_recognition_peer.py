"""face_recognition 1.3 (dlib's HOG detector and ResNet embedding, 128-d) as a peer.

Install: `pip install -r requirements-peers.txt` (face-recognition with --no-deps:
its own requirements would compile dlib). Its default decision is a Euclidean
distance of at most 0.6 between the raw (unnormalised) encodings.
"""

import numpy as np

from keras_dmtl.benchmarks.peers.base import Peer
from keras_dmtl.benchmarks.peers.base import PeerOutput
from keras_dmtl.benchmarks.peers.registry import register


@register("face_recognition")
class FaceRecognitionPeer(Peer):
    """`face_recognition.face_encodings` on the largest HOG face of the photo."""

    distance_threshold = 0.6

    def __init__(self):
        try:
            import face_recognition  # noqa: PLC0415 (optional)
        except ImportError as error:
            raise ImportError(f"The face_recognition peer needs its library ({error}): "
                              "pip install -r requirements-peers.txt") from None
        self._library = face_recognition

    def analyse(self, image):
        image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
        image = np.ascontiguousarray(image)
        boxes = self._library.face_locations(image)
        if not boxes:
            # A tight face crop: the whole image is the face.
            height, width = image.shape[:2]
            boxes = [(0, width - 1, height - 1, 0)] if max(height, width) <= 160 else []
        if not boxes:
            return PeerOutput()
        largest = max(boxes, key=lambda box: (box[2] - box[0]) * (box[1] - box[3]))
        raw = np.asarray(self._library.face_encodings(image, [largest])[0], np.float32)
        return PeerOutput(embedding=raw / max(float(np.linalg.norm(raw)), 1e-12), raw=raw)

    def accepts(self, first, second, similarity):
        return float(np.linalg.norm(first.raw - second.raw)) <= self.distance_threshold
