"""fer 25.10 (a FER2013 mini-Xception with an OpenCV face detector) as a peer.

Install: `pip install -r requirements-peers.txt` (fer with --no-deps, which keeps
torch out). It tags seven expressions and embeds nothing.
"""

import numpy as np

from keras_dmtl.benchmarks.peers.base import Peer
from keras_dmtl.benchmarks.peers.base import PeerOutput
from keras_dmtl.benchmarks.peers.registry import register

# fer's emotion names, mapped onto the project's canonical ones.
_CANONICAL = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
              "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}


@register("fer")
class FerPeer(Peer):
    """`FER().detect_emotions` on the photo; a tight crop is taken whole."""

    expression_labels = tuple(_CANONICAL.values())

    def __init__(self):
        try:
            from fer.fer import FER  # noqa: PLC0415 (optional)
        except ImportError as error:
            raise ImportError(f"The fer peer needs its library ({error}): pip install -r "
                              "requirements-peers.txt") from None
        self._model = FER()

    def analyse(self, image):
        image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
        height, width = image.shape[:2]
        # fer's detector misses faces that fill the image: give crops their box.
        boxes = [(0, 0, width, height)] if max(height, width) <= 160 else None
        faces = self._model.detect_emotions(np.ascontiguousarray(image[..., ::-1]),
                                            face_rectangles=boxes)
        if not faces:
            return PeerOutput()
        largest = max(faces, key=lambda face: face["box"][2] * face["box"][3])
        scores = largest["emotions"]
        return PeerOutput(expression=np.asarray([scores[name] for name in _CANONICAL],
                                                np.float32))
