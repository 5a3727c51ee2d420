"""Face unlock with expression tags on LiteRT, from the command line (no TensorFlow).

    python -m keras_dmtl.unlock --export_dir=runs/x/export enroll --user=ana a1.png a2.png a3.png
    python -m keras_dmtl.unlock --export_dir=runs/x/export verify --user=ana probe.png
    python -m keras_dmtl.unlock --export_dir=runs/x/export verify --user=ana --challenge=happy --camera=0
    python -m keras_dmtl.unlock --export_dir=runs/x/export tag face1.png face2.png

Exit status (only 0 may open anything: `verify ... && unlock_door`):
    0  verify accepted the face; enroll or tag succeeded
    1  error: unreadable, missing, empty or oversized image, bad export or store,
       user not enrolled or enrolled with another model, refused enrollment
    2  usage error: bad or missing flags or arguments (argparse), bad --user or
       --threshold, verify without an image
    3  verify rejected the face (one failed attempt counted)
    4  locked out (the user or the device; or, after 20 failures, until re-enrolled)
    5  no face found (verify: in any frame, and not counted as an attempt;
       enroll: in an image; tag: in every image)

One `verify` run is one attempt, however many images or camera frames it looks at.
The store's key lives in the OS keyring, or with --key_file (or KERAS_DMTL_KEY_FILE)
in a file outside the store's folder; without either, enroll and verify refuse to run.
"""

import argparse
import json
import os
import sys

import cv2

from keras_dmtl.data.records import DataError
from keras_dmtl.edge.manifest import ManifestError
from keras_dmtl.edge.manifest import check_threshold
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE
from keras_dmtl.edge.runtime import REDETECT_EVERY
from keras_dmtl.edge.runtime import FaceUnlock
from keras_dmtl.edge.runtime import NoFaceError
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


def _frames(args):
    """RGB frames from --camera or --video, else the image paths given."""
    if args.camera is None and args.video is None:
        yield from args.images
        return
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


def _parser():
    parser = argparse.ArgumentParser(prog="python -m keras_dmtl.unlock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export_dir", required=True, help="Folder written by export_model.py.")
    parser.add_argument("--store", default=DEFAULT_STORE, help="Template store file.")
    parser.add_argument("--key_file", default=None,
                        help="The store's key file, outside the store's folder, for machines "
                             "without an OS keyring (default: KERAS_DMTL_KEY_FILE, else the "
                             "keyring).")
    parser.add_argument("--format", default="tflite_int8", help="Exported model to run.")
    parser.add_argument("--threshold", type=_argument(_threshold), default=None,
                        help="Override the manifest's calibrated threshold: in (-1, 1].")
    parser.add_argument("--detector", default="haar",
                        help="haar, yunet:/path/model.onnx, or none for face crops.")
    parser.add_argument("--max_detect_side", type=_argument(_non_negative),
                        default=MAX_DETECT_SIDE,
                        help="Search faces in a copy of the image shrunk to this longer side "
                             "(pixels; 0: the image as it is). The crop is cut from the full "
                             "image.")
    parser.add_argument("--redetect_every", type=_argument(_positive), default=REDETECT_EVERY,
                        help="verify over several frames: look for the face near its last "
                             "place, and in the whole frame at least every this many frames "
                             "(1: every frame).")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="Enroll a user from several images.")
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
        command.add_argument("images", nargs="*")
        command.add_argument("--camera", type=int, default=None, help="Camera index.")
        command.add_argument("--video", default=None, help="Video file.")
        command.add_argument("--max_frames", type=_argument(_positive), default=100)
    return parser


def _unbacked_reason(unlock):
    """Why the export's threshold does not carry its false-accept guarantee."""
    calibration = unlock.calibration
    if not calibration:
        return ("the export records no FAR bound for its threshold (exported before "
                "bounds were recorded): export it again.")
    return (f"the threshold {unlock.threshold:.4f} is not backed: its "
            f"{calibration.get('impostor_pairs')} impostor pairs only show FAR <= "
            f"{calibration.get('far_upper_bound', float('nan')):.2g} (95 %), not the target; "
            "calibrate the export on more people (--export.calibration_data).")


def _run(args):
    """Runs the command; returns the exit status."""
    unlock = FaceUnlock(args.export_dir, args.store, args.format, args.detector,
                        threshold=args.threshold, key_file=args.key_file,
                        max_detect_side=args.max_detect_side,
                        redetect_every=args.redetect_every)
    # An operator's own --threshold is their choice; the export's must say it holds.
    if args.command != "tag" and args.threshold is None and not unlock.threshold_backed:
        print(f"warning: {_unbacked_reason(unlock)}", file=sys.stderr)
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
    print(json.dumps(result))
    return EXIT_CODES[result["decision"]]


def main(argv=None):
    """The command line; returns the exit status (see the module docstring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    sources = bool(args.images) + (args.camera is not None) + (args.video is not None) \
        if args.command != "enroll" else 1
    if sources != 1:
        parser.error(f"{args.command} needs image paths, --camera or --video (exactly one).")
    try:
        return _run(args)
    except NoFaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_FACE
    except (TemplateStoreError, ManifestError, DataError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
