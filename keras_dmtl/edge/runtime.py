"""Face unlock on LiteRT: detect, align, embed, compare, tag the expression.

Imports numpy, OpenCV, Pillow (image headers) and ai_edge_litert only (no
TensorFlow), and shares the alignment and preprocessing code with training
(`keras_dmtl.data.faces.loading.face_crop`).
"""

import os
import re

import numpy as np

from keras_dmtl.data.faces.detection import ScaledDetector
from keras_dmtl.data.faces.detection import TrackingDetector
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.data.faces.loading import face_crop
from keras_dmtl.edge.decision import accepts
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import check_threshold
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.templates import TemplateStore
from keras_dmtl.edge.templates import average_template

# User names: 1-64 of letters, digits, ".", "_", "-", starting with a letter or digit
# (no paths, spaces or control characters; they are keys of the store and of logs).
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Faces are searched in a copy of the image shrunk to this longer side: a 640x480
# frame to 320x240, where Haar still finds faces of a tenth of the frame (the
# crop is cut from the full image). Issue 14: 1.8x less detection time on JAFFE
# frames, 90 % of the box widths within 3 % of the full frame's.
MAX_DETECT_SIDE = 320
# Camera frames: a whole-frame search at least every this many frames, the face
# looked for near its last box in between (`TrackingDetector`).
REDETECT_EVERY = 10


class NoFaceError(ValueError):
    """No face was found in an image."""


class ImageError(ValueError):
    """An image path that is missing, empty or not a readable image."""


class EnrollmentError(ValueError):
    """An enrollment the policy refuses (already enrolled, locked out)."""


class TemplateMismatchError(ValueError):
    """A user's template was not made by this model, or no template exists."""


def check_user_name(user):
    """Returns `user` when it is a valid user name, else raises ValueError."""
    if not isinstance(user, str) or USER_NAME.fullmatch(user) is None:
        raise ValueError(f"--user={user!r}: a user name is 1-64 letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit.")
    return user


def read_image(path):
    """The RGB pixels of an image file.

    Raises:
        ImageError: the file is missing, empty or not an image.
        keras_dmtl.data.faces.detection.ImageTooLargeError: over the size caps.
    """
    try:
        size = os.stat(path).st_size
    except OSError as error:
        raise ImageError(f"{path}: {error.strerror}.") from None
    if size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes).")
    image = decode_image(path)
    if image is None:
        raise ImageError(f"{path}: not a readable image (PNG, JPEG, BMP, WebP, TIFF ...).")
    return image


def frame_detectors(spec, max_detect_side=MAX_DETECT_SIDE, redetect_every=REDETECT_EVERY):
    """The runtime's detectors: one for single images, one for a stream of frames.

    Args:
        spec: "haar", "yunet:/path.onnx", "mtcnn" or "none".
        max_detect_side: longer side searched (0 or None: the image as it is).
        redetect_every: whole-frame search at least every this many frames (1:
            every frame, no tracking).

    Returns:
        (detector for single images or None for "none", detector for a stream:
        a `TrackingDetector`, or None when there is no detector or no tracking).
    """
    if max_detect_side is not None and max_detect_side < 0:
        raise ValueError(f"--max_detect_side={max_detect_side}: 0 (the whole image) or a "
                         "positive number of pixels.")
    if redetect_every < 1:
        raise ValueError(f"--redetect_every={redetect_every}: at least 1 (1: a whole-frame "
                         "search on every frame).")
    base = make_detector(spec)
    if base is None:
        return None, None
    single = ScaledDetector(base, max_detect_side) if max_detect_side else base
    stream = (TrackingDetector(base, max_detect_side, redetect_every=redetect_every)
              if redetect_every > 1 else None)
    return single, stream


def read_outputs(outputs, labels):
    """Embedding (normalised) and expression from the model's outputs for one face.

    Args:
        outputs: the model's outputs for a batch of one (`LiteRTFaceModel`).
        labels: the expression names, in the model's order.

    Returns:
        dict: embedding (float64, unit norm), expression, expression_confidence.
    """
    embedding = outputs["embedding"][0].astype(np.float64)
    probabilities = outputs["expression_probabilities"][0]
    label = int(np.asarray(outputs["expression_label"]).reshape(-1)[0])
    return {"embedding": embedding / np.linalg.norm(embedding),
            "expression": labels[label],
            "expression_confidence": float(probabilities[label])}


class FaceUnlock:
    """The runtime behind `python -m keras_dmtl.unlock`.

    Args:
        export_dir: folder with `manifest.json` and the model files (export step).
        store_path: the template store file.
        model_format: which exported model to run (default the int8 phone model).
        detector: "haar", "yunet:/path.onnx" or "none" (images are face crops).
        max_detect_side: faces are searched in a copy of each image shrunk to this
            longer side (0 or None: the image as it is).
        redetect_every: `verify_session` follows the face from frame to frame and
            searches the whole frame at least every this many frames (1: every
            frame). Every frame's face still goes through the model and the decision.
        threshold: overrides the manifest's calibrated threshold (another
            operating point: lower accepts more, including impostors); finite,
            in (-1, 1].
        clock: time source of the attempt policy.
        key_file: where the store's key lives when there is no OS keyring.
    """

    def __init__(self, export_dir, store_path, model_format="tflite_int8", detector="haar",
                 threshold=None, clock=None, key_file=None, max_detect_side=MAX_DETECT_SIDE,
                 redetect_every=REDETECT_EVERY):
        manifest = load_manifest(export_dir, model_format)
        self.model = LiteRTFaceModel(manifest["file"])
        self.model_sha256 = manifest["sha256"]
        self.threshold = (manifest["threshold"] if threshold is None
                          else check_threshold(threshold, "--threshold"))
        # Whether the export's threshold was shown to meet its target FAR.
        self.threshold_backed = manifest["threshold_backed"]
        self.calibration = manifest["calibration"]
        self.labels = manifest["expression_labels"]
        self.image_size = manifest["height"]
        self.channels = manifest["channels"]
        self.face_margin = manifest["face_margin"]
        self.detector, self.tracker = frame_detectors(detector, max_detect_side, redetect_every)
        self.store = TemplateStore(store_path, key_file)
        self._policy_args = {} if clock is None else {"clock": clock}

    def model_input(self, image, detector=None):
        """The model's input for an RGB image (or path): uint8 (H, W, C).

        Args:
            image: RGB array or image path.
            detector: the `FaceDetector` to use instead of the runtime's own.

        Raises:
            ImageError: the path is not a readable image.
            NoFaceError: no face was found.
        """
        name = image if isinstance(image, str) else "the frame"
        if isinstance(image, str):
            image = read_image(image)
        crop = face_crop(image, self.detector if detector is None else detector,
                         self.image_size, self.channels, self.face_margin)
        if crop is None:
            raise NoFaceError(f"{name}: no face found")
        return crop

    def analyse(self, image, detector=None):
        """Embedding (normalised) and expression of the face in `image`.

        Args:
            image: RGB array or image path.
            detector: the `FaceDetector` to use instead of the runtime's own.
        """
        return read_outputs(self.model(self.model_input(image, detector)[None]), self.labels)

    def _policy(self, contents):
        return AttemptPolicy(contents["attempts"], **self._policy_args)

    def enroll(self, user, images, replace=False):
        """Enrolls `user` from several images; returns how many were used.

        Args:
            user: a valid user name (`check_user_name`).
            images: RGB arrays or paths; each must show a face.
            replace: allow replacing an enrolled user's template.

        Raises:
            EnrollmentError: the user is enrolled and `replace` is False, or the
                user (or the device) is locked out.
        """
        check_user_name(user)
        if not images:
            raise ValueError("enroll needs at least one image.")
        # The model runs outside the store's lock; the checks run under it.
        template = average_template([self.analyse(image)["embedding"] for image in images])
        with self.store.open() as contents:
            if user in contents["users"] and not replace:
                raise EnrollmentError(f"--user={user} is already enrolled: pass --replace to "
                                      "replace the template.")
            policy = self._policy(contents)
            locked = policy.locked_for(user)
            if locked > 0:
                raise EnrollmentError(f"--user={user} is locked out for {locked:.0f} s more: "
                                      "enrollment is refused until the lockout ends.")
            contents["users"][user] = {"template": template.tolist(), "images": len(images),
                                       "model_sha256": self.model_sha256}
            policy.forget(user)
        return len(images)

    def tag(self, image):
        """The expression of the face in `image`."""
        result = self.analyse(image)
        return {"expression": result["expression"],
                "confidence": result["expression_confidence"]}

    def _template(self, contents, user):
        entry = contents["users"].get(user)
        if entry is None:
            raise TemplateMismatchError(f"--user={user} is not enrolled: run enroll first.")
        if entry["model_sha256"] != self.model_sha256:
            raise TemplateMismatchError(
                f"--user={user} was enrolled with another model (sha256 "
                f"{entry['model_sha256'][:12]}..., this one is {self.model_sha256[:12]}...): "
                "templates of different models cannot be compared; re-enroll with "
                "enroll --replace.")
        return np.asarray(entry["template"])

    def verify(self, user, image, challenge=None):
        """Decides whether `image` shows `user`: one attempt (see `verify_session`)."""
        return self.verify_session(user, [image], challenge)

    def verify_session(self, user, frames, challenge=None):
        """Decides one unlock attempt from one or more frames (images or a camera).

        Frames are looked at until one is accepted; the session then counts as
        one attempt: accepted if a frame was, else one failure (or "no face" when
        no frame had a face). A camera gives ~30 frames a second: counting each
        would lock the owner out as soon as a stranger glanced at it.

        Args:
            user: an enrolled user.
            frames: RGB arrays or image paths (any iterable, read lazily).
            challenge: an expression the face must show to be accepted (liveness,
                e.g. "happy" for "smile to unlock"), or None.

        Returns:
            dict: decision ("accept", "reject", "locked", "no face"), similarity,
            threshold, expression, the lockout seconds in force and whether the
            user must re-enroll.

        Raises:
            TemplateMismatchError: not enrolled, or enrolled with another model.
            ImageError: a frame path is not a readable image.
        """
        with self.store.open() as contents:
            template = self._template(contents, user)
            policy = self._policy(contents)
            if policy.reenroll_required(user) or policy.locked_for(user) > 0:
                # Locked out: the face is not even run through the model.
                return verify_attempt(policy, user, template, None, None, self.threshold,
                                      challenge)
        chosen, best = None, -np.inf
        if self.tracker is not None:
            self.tracker.reset()  # a new stream: nothing is known of where the face is
        for frame in frames:
            try:
                analysis = self.analyse(frame, self.tracker)
            except NoFaceError:
                continue
            accepted, similarity, _ = accepts(template, analysis["embedding"],
                                              analysis["expression"], self.threshold, challenge)
            if accepted or similarity > best:
                chosen, best = analysis, similarity
            if accepted:
                break
        # Reloaded under the lock: attempts and enrollments made meanwhile count.
        with self.store.open() as contents:
            template = self._template(contents, user)
            return verify_attempt(self._policy(contents), user, template,
                                  None if chosen is None else chosen["embedding"],
                                  None if chosen is None else chosen["expression"],
                                  self.threshold, challenge)
