"""One of our exported models as a peer: the unlock's own path (detect, align, LiteRT)."""

import os

from keras_dmtl.benchmarks.peers.base import Peer
from keras_dmtl.benchmarks.peers.base import PeerOutput
from keras_dmtl.benchmarks.peers.registry import register
from keras_dmtl.data.faces.loading import face_crop
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION
from keras_dmtl.edge.runtime import frame_detectors
from keras_dmtl.edge.runtime import read_outputs


@register("export")
class ExportPeer(Peer):
    """An export folder's LiteRT model behind a face detector, as `unlock` runs it.

    Args:
        export_dir: the export folder (manifest.json).
        model_format: which exported model, e.g. "tflite_int8".
        detector: "none" (face crops), "haar", "mtcnn" or "yunet:/path.onnx".
        max_detect_side: faces are searched in a copy of each image shrunk to this
            longer side, as `unlock --max_detect_side` does (0: the image as it is).
        min_face_fraction: smallest face looked for, as a fraction of the image's
            shorter side, as `unlock --min_face_fraction` (0: every size).
    """

    def __init__(self, export_dir, model_format="tflite_int8", detector="haar",
                 max_detect_side=MAX_DETECT_SIDE, min_face_fraction=MIN_FACE_FRACTION):
        self._manifest = load_manifest(export_dir, model_format)
        self._model = LiteRTFaceModel(self._manifest["file"])
        # The detector `unlock enroll|verify` runs on a photo.
        self._detector, _ = frame_detectors(detector, max_detect_side,
                                            min_face_fraction=min_face_fraction)
        self.name = f"{os.path.basename(os.path.normpath(export_dir))} {model_format}"
        self.expression_labels = tuple(self._manifest["expression_labels"])
        self.threshold = float(self._manifest["threshold"])

    def analyse(self, image):
        manifest = self._manifest
        crop = face_crop(image, self._detector, manifest["height"], manifest["channels"],
                         manifest["face_margin"])
        if crop is None:
            return PeerOutput()
        outputs = self._model(crop[None])
        return PeerOutput(embedding=read_outputs(outputs, self.expression_labels)["embedding"],
                          expression=outputs["expression_probabilities"][0])
