"""Face unlock with expression tags on LiteRT, from the command line (no TensorFlow).

    python -m keras_dmtl.unlock enroll --user=ana a1.png a2.png a3.png
    python -m keras_dmtl.unlock verify --user=ana probe.png
    python -m keras_dmtl.unlock verify --user=ana --challenge=happy --camera=0
    python -m keras_dmtl.unlock tag face1.png face2.png
    python -m keras_dmtl.unlock --export_dir=runs/x/export verify --user=ana probe.png

Without --export_dir it runs the model that comes with keras_dmtl
(keras_dmtl/pretrained, MODEL_CARD.md there); with it, an export of your own.

Exit status (only 0 may open anything: `verify ... && unlock_door`):
    0  verify accepted the face; enroll or tag succeeded
    1  error: unreadable, missing, empty or oversized image, or not a regular file;
       bad export or store; user not enrolled, or the export changed since the
       user enrolled (another model, a looser threshold or --threshold, other
       expression labels); refused enrollment (images that may show two people,
       user enrolled or locked out)
    2  usage error: bad or missing flags or arguments (argparse), bad --user or
       --threshold, verify without an image or with more than 5, enroll with
       fewer than 3
    3  verify rejected the face (one failed attempt counted)
    4  locked out (the user or the device; or, after 20 failures, until re-enrolled)
    5  no face found (verify: in any frame, and not counted as an attempt;
       enroll: in an image; tag: in every image)

One `verify` run is one attempt: it compares at most 5 faces (image paths, or
camera or video frames with a face) and prints the decision only (no score). Enroll
takes at least 3 images of one person: every pair must score the threshold in force.
The store's key lives in the OS keyring, or with --key_file (or KERAS_DMTL_KEY_FILE)
in a file of this account's own, outside the store's folder, in a folder no other
account can write; without either, enroll and verify refuse to run. See
docs/security.md.
"""

import argparse
import json
import os
import sys

import cv2

from keras_dmtl import pretrained
from keras_dmtl.data.records import DataError
from keras_dmtl.edge.enrollment import check_image_count
from keras_dmtl.edge.interrupts import sigterm_raises
from keras_dmtl.edge.manifest import ManifestError
from keras_dmtl.edge.manifest import check_threshold
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION
from keras_dmtl.edge.runtime import REDETECT_EVERY
from keras_dmtl.edge.runtime import FaceUnlock
from keras_dmtl.edge.runtime import NoFaceError
from keras_dmtl.edge.runtime import check_attempt_images
from keras_dmtl.edge.runtime import check_user_name
from keras_dmtl.edge.templates import TemplateStoreError

DEFAULT_STORE = os.path.join(os.path.expanduser("~"), ".keras_dmtl", "templates.json")

EXIT_ACCEPT = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECT = 3
EXIT_LOCKED = 4
EXIT_NO_FACE = 5
EXIT_CODES = {"accept": EXIT_ACCEPT, "reject": EXIT_REJECT, "locked": EXIT_LOCKED,
              "no face": EXIT_NO_FACE}
# What verify prints: the decision and the lockout in force, nothing measured on the
# face (a similarity would let an attacker tune a fake face toward the threshold).
DECISION_FIELDS = ("decision", "lockout_seconds", "reenroll_required")


def _frames(args):
    """The image paths given (a list: verify checks them all first), else camera frames."""
    if args.camera is None and args.video is None:
        return args.images
    return _captured_frames(args)


def _captured_frames(args):
    """RGB frames from --camera or --video, read as they are used."""
    capture = cv2.VideoCapture(args.camera if args.video is None else args.video)
    if not capture.isOpened():
        raise ValueError(f"Cannot open {'--camera' if args.video is None else '--video'} "
                         f"{args.camera if args.video is None else args.video}.")
    try:
        for _ in range(args.max_frames):
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def _argument(check):
    """An argparse type from a checker that raises ValueError with its own message."""
    def parse(text):
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def _threshold(text):
    try:
        value = float(text)
    except ValueError:
        value = text
    return check_threshold(value, "--threshold")


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a positive integer")
    return int(text)


def _non_negative(text):
    if not text.isdigit():
        raise ValueError(f"{text!r} is not 0 or a positive integer")
    return int(text)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{text!r} is not a fraction in [0, 1)")
    return value


def _parser():
    parser = argparse.ArgumentParser(prog="python -m keras_dmtl.unlock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export_dir", default=None,
                        help="Folder written by export_model.py (default: the shipped model, "
                             "keras_dmtl/pretrained).")
    parser.add_argument("--store", default=DEFAULT_STORE, help="Template store file.")
    parser.add_argument("--key_file", default=None,
                        help="The store's key file, outside the store's folder, for machines "
                             "without an OS keyring (default: KERAS_DMTL_KEY_FILE, else the "
                             "keyring).")
    parser.add_argument("--format", default="tflite_int8", help="Exported model to run.")
    parser.add_argument("--threshold", type=_argument(_threshold), default=None,
                        help="Override the manifest's calibrated threshold: in (-1, 1]. At "
                             "verify, only a threshold at least as strict as the user's "
                             "enrolled one is taken.")
    parser.add_argument("--detector", default="haar",
                        help="haar, yunet:/path/model.onnx, or none for face crops.")
    parser.add_argument("--max_detect_side", type=_argument(_non_negative),
                        default=MAX_DETECT_SIDE,
                        help="Search faces in a copy of the image shrunk to this longer side "
                             "(pixels; 0: the image as it is). The crop is cut from the full "
                             "image.")
    parser.add_argument("--min_face_fraction", type=_argument(_fraction),
                        default=MIN_FACE_FRACTION,
                        help="Look only for faces of at least this fraction of the image's "
                             "shorter side, in [0, 1) (0: every size; smaller faces cost "
                             "detection time and are faces too far away to unlock).")
    parser.add_argument("--redetect_every", type=_argument(_positive), default=REDETECT_EVERY,
                        help="verify over several frames: look for the face near its last "
                             "place, and in the whole frame at least every this many frames "
                             "(1: every frame).")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="Enroll a user from at least 3 images of "
                                                "one person.")
    enroll.add_argument("--user", required=True, type=_argument(check_user_name),
                        help="1-64 letters, digits, '.', '_', '-'; first a letter or digit.")
    enroll.add_argument("--replace", action="store_true",
                        help="Replace an enrolled user's template (refused while locked out).")
    enroll.add_argument("images", nargs="+")
    for name, help_text in (("verify", "Verify a user: one attempt."),
                            ("tag", "Tag expressions.")):
        command = commands.add_parser(name, help=help_text)
        if name == "verify":
            command.add_argument("--user", required=True, type=_argument(check_user_name))
            command.add_argument("--challenge", default=None,
                                 help="Liveness: the expression to show, e.g. happy.")
            command.add_argument("--unsafe_show_scores", action="store_true",
                                 help="UNSAFE, for an operator calibrating, never on a deployed "
                                      "unlock: print the similarity, threshold and expression "
                                      "with every decision. Whoever sees them can tune a fake "
                                      "face toward the threshold (a score oracle).")
        command.add_argument("images", nargs="*")
        command.add_argument("--camera", type=int, default=None, help="Camera index.")
        command.add_argument("--video", default=None, help="Video file.")
        command.add_argument("--max_frames", type=_argument(_positive), default=100,
                             help="Frames read from --camera or --video (verify compares "
                                  "at most 5 faces of them).")
    return parser


def _unbacked_reason(threshold, calibration):
    """Why the threshold in force does not carry the export's false-accept guarantee."""
    if not calibration:
        return ("the export records no FAR bound for its threshold (exported before "
                "bounds were recorded): export it again.")
    if calibration.get("backed") is True:
        # Only said at verify, when the signed enrollment record says "not backed".
        return (f"the threshold {threshold:.4f} is not known to be backed: it was not when the "
                "user enrolled, and the manifest's claim that it is now cannot be checked (it "
                "may have been edited); re-enroll with enroll --replace to record it.")
    return (f"the threshold {threshold:.4f} is not backed: its "
            f"{calibration.get('impostor_pairs')} impostor pairs only show FAR <= "
            f"{calibration.get('far_upper_bound', float('nan')):.2g} (95 %), not the target; "
            "calibrate the export on more people (--export.calibration_data).")


def _threshold_backed(unlock, args):
    """Whether the threshold in force is known to meet the export's target FAR.

    At verify, from the user's signed enrollment record: the manifest may have been
    edited since (its threshold may only be stricter than the enrolled one).
    """
    if args.command == "verify":
        return unlock.enrolled(args.user)["threshold_backed"]
    return unlock.threshold_backed


def _run(args):
    """Runs the command; returns the exit status."""
    unlock = FaceUnlock(args.export_dir or pretrained.export_dir(), args.store, args.format, args.detector,
                        threshold=args.threshold, key_file=args.key_file,
                        max_detect_side=args.max_detect_side,
                        redetect_every=args.redetect_every,
                        min_face_fraction=args.min_face_fraction)
    # An operator's own --threshold is their choice; the export's must say it holds.
    if args.command != "tag" and args.threshold is None and not _threshold_backed(unlock, args):
        print(f"warning: {_unbacked_reason(unlock.threshold, unlock.calibration)}",
              file=sys.stderr)
    if args.command == "enroll":
        count = unlock.enroll(args.user, args.images, replace=args.replace)
        print(json.dumps({"enrolled": args.user, "images": count}))
        return EXIT_ACCEPT
    if args.command == "tag":
        tagged = 0
        for frame in _frames(args):
            try:
                print(json.dumps(unlock.tag(frame)))
                tagged += 1
            except NoFaceError as error:
                print(json.dumps({"decision": "no face", "reason": str(error)}))
        return EXIT_ACCEPT if tagged else EXIT_NO_FACE
    result = unlock.verify_session(args.user, _frames(args), args.challenge)
    shown = result if args.unsafe_show_scores else {key: result[key] for key in DECISION_FIELDS}
    print(json.dumps(shown))
    return EXIT_CODES[result["decision"]]


def _check_image_count(parser, args):
    """Usage errors for a verify or enroll given the wrong number of images."""
    try:
        if args.command == "verify":
            check_attempt_images(args.images)
        elif args.command == "enroll":
            check_image_count(len(args.images))
    except ValueError as error:
        parser.error(str(error))


def main(argv=None):
    """The command line; returns the exit status (see the module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    sources = bool(args.images) + (args.camera is not None) + (args.video is not None) \
        if args.command != "enroll" else 1
    if sources != 1:
        parser.error(f"{args.command} needs image paths, --camera or --video (exactly one).")
    _check_image_count(parser, args)
    try:
        # SIGTERM unwinds like Ctrl-C, so that an attempt under way is still recorded.
        with sigterm_raises():
            return _run(args)
    except NoFaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_FACE
    except (TemplateStoreError, ManifestError, DataError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
