"""Face unlock on LiteRT: detect, align, embed, compare, tag the expression.

Imports numpy, OpenCV, Pillow (image headers) and ai_edge_litert only (no
TensorFlow), and shares the alignment and preprocessing code with training
(`keras_dmtl.data.faces.loading.face_crop`).
"""

import re

import numpy as np

from keras_dmtl.data.faces.detection import ScaledDetector
from keras_dmtl.data.faces.detection import TrackingDetector
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.data.faces.loading import face_crop
from keras_dmtl.edge import enrollment
from keras_dmtl.edge.decision import MAX_FACES_PER_ATTEMPT
from keras_dmtl.edge.decision import AttemptSession
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.enrollment import EnrollmentError
from keras_dmtl.edge.enrollment import export_mismatch
from keras_dmtl.edge.enrollment import new_entry
from keras_dmtl.edge.image_files import check_image_file
from keras_dmtl.edge.image_files import read_image
from keras_dmtl.edge.interrupts import deferred_interrupts
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import check_label_count
from keras_dmtl.edge.manifest import check_threshold
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.templates import TemplateStore

# User names: 1-64 of letters, digits, ".", "_", "-", starting with a letter or digit
# (no paths, spaces or control characters; they are keys of the store and of logs).
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Faces are searched in a copy of the image shrunk to this longer side: a 640x480
# frame to 320x240, where Haar still finds faces of a tenth of the frame (the
# crop is cut from the full image). Issue 14: 1.8x less detection time on JAFFE
# frames, 90 % of the box widths within 3 % of the full frame's.
MAX_DETECT_SIDE = 320
# Faces under this fraction of the image's shorter side are not looked for (72 px
# of a 480-pixel side, a face at arm's length and nearer). The Android demo's ML Kit
# detector takes the same minimum (`setMinFaceSize(0.15f)` of the portrait width).
# Haar spent a quarter to two fifths of a 640x480 frame's time on the sizes below
# it (JAFFE frames, docs/benchmarks.md).
MIN_FACE_FRACTION = 0.15
# Camera frames: a whole-frame search at least every this many frames, the face
# looked for near its last box in between (`TrackingDetector`).
REDETECT_EVERY = 10


class NoFaceError(ValueError):
    """No face was found in an image."""


class TemplateMismatchError(ValueError):
    """No template exists, or it was enrolled with another model, threshold or labels."""


def check_user_name(user):
    """Returns `user` when it is a valid user name, else raises ValueError."""
    if not isinstance(user, str) or USER_NAME.fullmatch(user) is None:
        raise ValueError(f"--user={user!r}: a user name is 1-64 letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit.")
    return user


def check_attempt_images(images):
    """Refuses more images than one attempt may compare (`MAX_FACES_PER_ATTEMPT`).

    Raises:
        ValueError: saying the cap and why.
    """
    if len(images) > MAX_FACES_PER_ATTEMPT:
        raise ValueError(f"verify compares at most {MAX_FACES_PER_ATTEMPT} faces per attempt "
                         f"(each is one guess), got {len(images)} images: pass at most "
                         f"{MAX_FACES_PER_ATTEMPT}.")


def _check_paths(images):
    """Checks every image path before any model runs (arrays are checked when cropped)."""
    for image in images:
        if isinstance(image, str):
            check_image_file(image)


def frame_detectors(spec, max_detect_side=MAX_DETECT_SIDE, redetect_every=REDETECT_EVERY,
                    min_face_fraction=MIN_FACE_FRACTION):
    """The runtime's detectors: one for single images, one for a stream of frames.

    Args:
        spec: "haar", "yunet:/path.onnx", "mtcnn" or "none".
        max_detect_side: longer side searched (0 or None: the image as it is).
        redetect_every: whole-frame search at least every this many frames (1:
            every frame, no tracking).
        min_face_fraction: smallest face looked for, as a fraction of the image's
            shorter side, in [0, 1) (0: every size the detector finds).

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
    if not 0.0 <= min_face_fraction < 1.0:
        raise ValueError(f"--min_face_fraction={min_face_fraction}: in [0, 1), the smallest "
                         "face as a fraction of the image's shorter side (0: every size).")
    base = make_detector(spec)
    if base is None:
        return None, None
    single = ScaledDetector(base, max_detect_side, min_face_fraction)
    stream = (TrackingDetector(base, max_detect_side, redetect_every=redetect_every,
                               min_face_fraction=min_face_fraction)
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
        min_face_fraction: faces under this fraction of the image's shorter side
            are not looked for (0: every size the detector finds).
        threshold: overrides the manifest's calibrated threshold (another
            operating point: lower accepts more, including impostors); finite,
            in (-1, 1]. At verify it may only be stricter than the threshold the
            user enrolled with.
        clock: time source of the attempt policy.
        key_file: where the store's key lives when there is no OS keyring.

    Raises:
        ManifestError: the export cannot be trusted, or its expression labels do
            not match the model's expression classes.
    """

    def __init__(self, export_dir, store_path, model_format="tflite_int8", detector="haar",
                 threshold=None, clock=None, key_file=None, max_detect_side=MAX_DETECT_SIDE,
                 redetect_every=REDETECT_EVERY, min_face_fraction=MIN_FACE_FRACTION):
        manifest = load_manifest(export_dir, model_format)
        self.model = LiteRTFaceModel(manifest["file"])
        self.labels = manifest["expression_labels"]
        check_label_count(self.labels, self.model.output_shape("expression_probabilities")[-1])
        self.model_format = model_format
        self.model_sha256 = manifest["sha256"]
        self.export_threshold = manifest["threshold"]
        self.threshold_is_explicit = threshold is not None
        self.threshold = (self.export_threshold if threshold is None
                          else check_threshold(threshold, "--threshold"))
        # Whether the threshold in force meets the export's target FAR (as its
        # manifest says): the export's own when backed, or a stricter one.
        self.threshold_backed = (manifest["threshold_backed"]
                                 and self.threshold >= self.export_threshold)
        self.calibration = manifest["calibration"]
        self.image_size = manifest["height"]
        self.channels = manifest["channels"]
        self.face_margin = manifest["face_margin"]
        self.detector, self.tracker = frame_detectors(detector, max_detect_side, redetect_every,
                                                      min_face_fraction)
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
            hint = ""
            fraction = 0.0 if self.detector is None else self.detector.min_face_fraction
            if fraction:
                hint = (f" (faces under {fraction:.0%} of the image's shorter "
                        "side are not looked for: come closer, or lower --min_face_fraction)")
            raise NoFaceError(f"{name}: no face found{hint}")
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
        """Enrolls `user` from several images of one person; returns how many were used.

        Args:
            user: a valid user name (`check_user_name`).
            images: at least `enrollment.MIN_ENROLL_IMAGES` RGB arrays or paths;
                each must show a face, every pair as similar as the threshold in
                force asks (`enrollment.new_entry`).
            replace: allow replacing an enrolled user's template.

        Raises:
            EnrollmentError: too few images, images that may show two people, the
                user is enrolled and `replace` is False, or the user (or the
                device) is locked out.
            ImageError, NoFaceError: an image is unreadable or shows no face.
        """
        check_user_name(user)
        images = list(images)
        enrollment.check_image_count(len(images))
        _check_paths(images)
        # The model runs outside the store's lock; the checks run under it.
        embeddings = [self.analyse(image)["embedding"] for image in images]
        names = [image if isinstance(image, str) else f"image {index + 1}"
                 for index, image in enumerate(images)]
        entry = new_entry(embeddings, names, self.model_sha256, self.threshold,
                          self.threshold_backed, self.labels)
        with self.store.open() as contents:
            if user in contents["users"] and not replace:
                raise EnrollmentError(f"--user={user} is already enrolled: pass --replace to "
                                      "replace the template.")
            policy = self._policy(contents)
            locked = policy.locked_for(user)
            if locked > 0:
                raise EnrollmentError(f"--user={user} is locked out for {locked:.0f} s more: "
                                      "enrollment is refused until the lockout ends.")
            contents["users"][user] = entry
            policy.forget(user)
        return len(images)

    def tag(self, image):
        """The expression of the face in `image`."""
        result = self.analyse(image)
        return {"expression": result["expression"],
                "confidence": result["expression_confidence"]}

    def enrolled(self, user):
        """The user's store entry, checked against this export (see `verify_session`).

        Raises:
            TemplateMismatchError: as `verify_session`.
        """
        with self.store.open() as contents:
            return self._enrolled(contents, user)

    def _enrolled(self, contents, user):
        entry = contents["users"].get(user)
        if entry is None:
            raise TemplateMismatchError(f"--user={user} is not enrolled: run enroll first.")
        problem = export_mismatch(entry, self.model_sha256, self.threshold, self.labels)
        if problem is not None:
            raise TemplateMismatchError(self._mismatch_message(problem, user, entry))
        return entry

    def _mismatch_message(self, problem, user, entry):
        """One line: why `user`'s template cannot be used with this export, and what to do."""
        changed = "the export was changed since: restore it, or re-enroll with enroll --replace"
        if problem == enrollment.UNRECORDED:
            return (f"--user={user} was enrolled before enrollment recorded the export's "
                    "threshold and expression labels, so this export cannot be checked against "
                    "it: re-enroll with enroll --replace.")
        if problem == enrollment.MODEL:
            return (f"--user={user} was enrolled with another model (sha256 "
                    f"{entry['model_sha256'][:12]}..., this one is {self.model_sha256[:12]}...): "
                    "templates of different models cannot be compared; re-enroll with "
                    "enroll --replace.")
        if problem == enrollment.THRESHOLD and self.threshold_is_explicit:
            return (f"--threshold={self.threshold:g} is looser than the threshold "
                    f"{entry['threshold']:g} --user={user} enrolled with: an explicit threshold "
                    f"may only be stricter; pass at least {entry['threshold']:g}, or none.")
        if problem == enrollment.THRESHOLD:
            return (f"the export's threshold {self.threshold:g} (manifest.json formats."
                    f"{self.model_format}.threshold) is looser than the {entry['threshold']:g} "
                    f"--user={user} enrolled with: {changed}.")
        return (f"the export's expression labels {self.labels!r:.200} differ from the "
                f"{entry['expression_labels']!r:.200} --user={user} enrolled with: {changed}.")

    def verify(self, user, image, challenge=None):
        """Decides whether `image` shows `user`: one attempt (see `verify_session`)."""
        return self.verify_session(user, [image], challenge)

    def verify_session(self, user, frames, challenge=None):
        """Decides one unlock attempt from one or more frames (images or a camera).

        Faces are compared until one is accepted, at most `MAX_FACES_PER_ATTEMPT`
        of them (frames without a face do not count); the session then counts as
        one attempt: accepted if a face was, else one failure (or "no face" when
        no frame had a face). A camera gives ~30 frames a second: counting each
        would lock the owner out as soon as a stranger glanced at it. A list of
        image paths is checked in full before any model runs; once a face was
        compared, the attempt is recorded whatever happens after (an unreadable
        frame, Ctrl-C, SIGTERM under `interrupts.sigterm_raises`).

        Args:
            user: an enrolled user.
            frames: RGB arrays or image paths: a list or tuple of at most
                `MAX_FACES_PER_ATTEMPT`, or any iterable read lazily (a camera).
            challenge: an expression the face must show to be accepted (liveness,
                e.g. "happy" for "smile to unlock"), or None.

        Returns:
            dict: decision ("accept", "reject", "locked", "no face"), the lockout
            seconds in force and whether the user must re-enroll; for a decided
            attempt also similarity, threshold, expression and challenge_met
            (not for whoever asks for the unlock: see the CLI's output).

        Raises:
            ValueError: a list of more than `MAX_FACES_PER_ATTEMPT` frames.
            TemplateMismatchError: not enrolled, or enrolled with another model,
                a looser threshold or other expression labels.
            ImageError: a frame path is not a readable image.
        """
        if isinstance(frames, (list, tuple)):
            check_attempt_images(frames)
            _check_paths(frames)
        with self.store.open() as contents:
            template = np.asarray(self._enrolled(contents, user)["template"])
            policy = self._policy(contents)
            if policy.reenroll_required(user) or policy.locked_for(user) > 0:
                # Locked out: the face is not even run through the model.
                return verify_attempt(policy, user, template, None, None, self.threshold,
                                      challenge)
        session = AttemptSession(template, self.threshold, challenge)
        try:
            self._compare(frames, session)
        finally:
            # Reloaded under the lock: attempts and enrollments made meanwhile count.
            # Runs on any exit: a compared face is never a free guess.
            with deferred_interrupts(), self.store.open() as contents:
                template = np.asarray(self._enrolled(contents, user)["template"])
                result = session.decide(self._policy(contents), user, template)
        return result

    def _compare(self, frames, session):
        """Offers the faces of `frames` to `session` until it closes or frames run out."""
        if self.tracker is not None:
            self.tracker.reset()  # a new stream: nothing is known of where the face is
        for frame in frames:
            try:
                analysis = self.analyse(frame, self.tracker)
            except NoFaceError:
                continue
            session.offer(analysis["embedding"], analysis["expression"])
            if not session.open:
                break  # accepted, or the cap: no further frame is read
