"""Face unlock with expression tags on LiteRT, from the command line (no TensorFlow).

    python -m keras_dmtl.unlock --export_dir=runs/x/export enroll --user=ana a1.png a2.png a3.png
    python -m keras_dmtl.unlock --export_dir=runs/x/export verify --user=ana probe.png
    python -m keras_dmtl.unlock --export_dir=runs/x/export verify --user=ana --challenge=happy --camera=0
    python -m keras_dmtl.unlock --export_dir=runs/x/export tag face1.png face2.png
"""

import argparse
import json
import os
import sys

import cv2

from keras_dmtl.edge.runtime import FaceUnlock
from keras_dmtl.edge.runtime import NoFaceError
from keras_dmtl.edge.templates import TemplateStoreError

DEFAULT_STORE = os.path.join(os.path.expanduser("~"), ".keras_dmtl", "templates.json")


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


def _parser():
    parser = argparse.ArgumentParser(prog="python -m keras_dmtl.unlock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export_dir", required=True, help="Folder written by export_model.py.")
    parser.add_argument("--store", default=DEFAULT_STORE, help="Template store file.")
    parser.add_argument("--format", default="tflite_int8", help="Exported model to run.")
    parser.add_argument("--threshold", type=float, default=None,
                        help="Override the manifest's calibrated threshold.")
    parser.add_argument("--detector", default="haar",
                        help="haar, yunet:/path/model.onnx, or none for face crops.")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="Enroll a user from several images.")
    enroll.add_argument("--user", required=True)
    enroll.add_argument("images", nargs="+")
    for name, help_text in (("verify", "Verify a user."), ("tag", "Tag expressions.")):
        command = commands.add_parser(name, help=help_text)
        if name == "verify":
            command.add_argument("--user", required=True)
            command.add_argument("--challenge", default=None,
                                 help="Liveness: the expression to show, e.g. happy.")
        command.add_argument("images", nargs="*")
        command.add_argument("--camera", type=int, default=None, help="Camera index.")
        command.add_argument("--video", default=None, help="Video file.")
        command.add_argument("--max_frames", type=int, default=100)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        unlock = FaceUnlock(args.export_dir, args.store, args.format, args.detector,
                            threshold=args.threshold)
        if args.command == "enroll":
            count = unlock.enroll(args.user, args.images)
            print(json.dumps({"enrolled": args.user, "images": count}))
        elif args.command == "tag":
            for frame in _frames(args):
                try:
                    print(json.dumps(unlock.tag(frame)))
                except NoFaceError as error:
                    print(json.dumps({"decision": "no face", "reason": str(error)}))
        else:
            for frame in _frames(args):
                result = unlock.verify(args.user, frame, args.challenge)
                print(json.dumps(result))
                if result["decision"] in ("accept", "locked"):
                    break
    except (NoFaceError, TemplateStoreError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
