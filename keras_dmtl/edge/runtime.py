"""Face unlock on LiteRT: detect, align, embed, compare, tag the expression.

Imports numpy, OpenCV and ai_edge_litert only (no TensorFlow), and shares the
alignment and preprocessing code with training (`keras_dmtl.data.loading.face_crop`).
"""

import os

import numpy as np

from keras_dmtl.data.detection import make_detector
from keras_dmtl.data.loading import decode_image
from keras_dmtl.data.loading import face_crop
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.templates import TemplateStore

class NoFaceError(ValueError):
    """No face was found in an image."""


class FaceUnlock:
    """The runtime behind `python -m keras_dmtl.unlock`.

    Args:
        export_dir: folder with `manifest.json` and the model files (export step).
        store_path: the template store file.
        model_format: which exported model to run (default the int8 phone model).
        detector: "haar", "yunet:/path.onnx" or "none" (images are face crops).
        threshold: overrides the manifest's calibrated threshold (another
            operating point: lower accepts more, including impostors).
        clock: time source of the attempt policy.
    """

    def __init__(self, export_dir, store_path, model_format="tflite_int8", detector="haar",
                 threshold=None, clock=None):
        manifest = load_manifest(export_dir)
        if model_format not in manifest["formats"]:
            raise ValueError(f"--format={model_format}: the export in {export_dir} has "
                             f"{', '.join(manifest['formats'])}.")
        entry = manifest["formats"][model_format]
        self.model = LiteRTFaceModel(os.path.join(export_dir, entry["file"]))
        self.threshold = float(entry["threshold"] if threshold is None else threshold)
        self.labels = manifest["expression_labels"]
        self.image_size = manifest["input"]["height"]
        self.channels = manifest["input"]["channels"]
        self.face_margin = manifest["input"]["face_margin"]
        self.detector = make_detector(detector)
        self.store = TemplateStore(store_path)
        policy_args = {} if clock is None else {"clock": clock}
        self.policy = AttemptPolicy(self.store.data.setdefault("attempts", {}), **policy_args)

    def model_input(self, image):
        """The model's input for an RGB image (or path): uint8 (H, W, C).

        Raises:
            NoFaceError: no face was found.
        """
        if isinstance(image, str):
            path, image = image, decode_image(image)
            if image is None:
                raise NoFaceError(f"{path}: unreadable image")
        crop = face_crop(image, self.detector, self.image_size, self.channels,
                           self.face_margin)
        if crop is None:
            raise NoFaceError("no face found")
        return crop

    def analyse(self, image):
        """Embedding (normalised) and expression of the face in `image`."""
        outputs = self.model(self.model_input(image)[None])
        embedding = outputs["embedding"][0].astype(np.float64)
        probabilities = outputs["expression_probabilities"][0]
        label = int(np.asarray(outputs["expression_label"]).reshape(-1)[0])
        return {"embedding": embedding / np.linalg.norm(embedding),
                "expression": self.labels[label],
                "expression_confidence": float(probabilities[label])}

    def enroll(self, user, images):
        """Enrolls `user` from several images; returns how many were used."""
        embeddings = [self.analyse(image)["embedding"] for image in images]
        self.store.enroll(user, embeddings)
        return len(embeddings)

    def tag(self, image):
        """The expression of the face in `image`."""
        result = self.analyse(image)
        return {"expression": result["expression"],
                "confidence": result["expression_confidence"]}

    def verify(self, user, image, challenge=None):
        """Decides whether `image` shows `user`.

        Args:
            user: an enrolled user.
            image: RGB array or path.
            challenge: an expression the face must show to be accepted (liveness,
                e.g. "happy" for "smile to unlock"), or None.

        Returns:
            dict: decision ("accept", "reject", "locked", "no face"), similarity,
            threshold, expression, and the lockout seconds in force.
        """
        template = self.store.template(user)
        if template is None:
            raise ValueError(f"--user={user} is not enrolled: run enroll first.")
        analysis = None
        if self.policy.locked_for(user) <= 0:
            try:
                analysis = self.analyse(image)
            except NoFaceError as error:
                return {"decision": "no face", "reason": str(error), "lockout_seconds": 0.0}
        result = verify_attempt(self.policy, user, template,
                                None if analysis is None else analysis["embedding"],
                                None if analysis is None else analysis["expression"],
                                self.threshold, challenge)
        if result["decision"] != "locked":
            self.store.save()
        return result
