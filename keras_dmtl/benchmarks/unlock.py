"""Per-frame latency of face unlock on 640x480 camera frames (prints a table; not a test).

    python -m keras_dmtl.benchmarks.unlock --faces_dir=/data/jaffe \\
        --export_dir=runs/gradnorm_tiny_seed0/export --export_dir=runs/phone/export \\
        --detectors=haar,yunet:/models/face_detection_yunet_2023mar.onnx

Face photos from --faces_dir are pasted onto generated 640x480 backgrounds at a
phone-like size and JPEG-encoded; each photo gives one unlock session of
--frames_per_session frames in which the face drifts a few pixels a frame, as
before a front camera. Every frame runs the runtime's own code, stage by stage:
decode (the JPEG bytes to RGB), detect (the largest face), crop (align or box crop,
then preprocess), model (embedding and expression: one interpreter call) and
decision (cosine against a template, threshold). Faces are found as
`FaceUnlock.verify_session` finds them on a camera (--max_detect_side,
--redetect_every: the tracker follows the face within a session). One thread
everywhere (OpenCV and the interpreter), as on a phone's core; the median and 95th
percentile of each stage and of the whole frame over the frames with a face, and of
the sessions' first frames (the time to the first decision: a whole-frame search).
Target (issue 14): <= 50 ms a frame for the phone model, detection included.
"""

import glob
import os
import platform
import time

from absl import app
from absl import flags
import cv2
import numpy as np

from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.data.faces.detection import largest_face
from keras_dmtl.data.faces.loading import crop_detection
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.edge.decision import accepts
from keras_dmtl.edge.litert_model import LiteRTFaceModel
from keras_dmtl.edge.manifest import load_manifest
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION
from keras_dmtl.edge.runtime import REDETECT_EVERY
from keras_dmtl.edge.runtime import frame_detectors
from keras_dmtl.edge.runtime import read_outputs

FLAGS = flags.FLAGS
flags.DEFINE_string("faces_dir", None, "Folder of face photos (searched recursively), one "
                    "face each, the face filling most of the photo (e.g. JAFFE portraits).")
flags.DEFINE_multi_string("export_dir", None, "Export folder(s) (manifest.json); repeat the "
                          "flag for several models.")
flags.DEFINE_list("formats", ["tflite_int8", "tflite_float32"], "Exported models to run.")
flags.DEFINE_list("detectors", ["haar"], "haar, mtcnn and/or yunet:/path/model.onnx.")
flags.DEFINE_integer("max_detect_side", MAX_DETECT_SIDE, "Longer side of the searched "
                     "copy of the frame (0: the full frame), as `unlock --max_detect_side`.")
flags.DEFINE_integer("redetect_every", REDETECT_EVERY, "Whole-frame search at least every "
                     "this many frames, the face followed in between (1: every frame), as "
                     "`unlock --redetect_every`.")
flags.DEFINE_float("min_face_fraction", MIN_FACE_FRACTION, "Smallest face looked for, as a "
                   "fraction of the frame's shorter side, as `unlock --min_face_fraction` (0: "
                   "every size).", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_integer("sessions", 20, "Unlock sessions, one face photo each.")
flags.DEFINE_integer("frames_per_session", 15, "Camera frames per session.")
flags.DEFINE_integer("warmup_frames", 5, "Untimed frames before each configuration.")
flags.DEFINE_integer("min_photo_side", 240, "Smallest side a photo is scaled to in the frame "
                     "(JAFFE: the face is ~0.62 of the photo, so 240-400 gives 150-250 px faces).")
flags.DEFINE_integer("max_photo_side", 400, "Largest side a photo is scaled to in the frame.")
flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the frames.")
flags.DEFINE_integer("seed", 0, "Seed of the frames.")
flags.DEFINE_enum("clock", "wall", ["wall", "cpu"], "wall: time.perf_counter; cpu: "
                  "time.process_time, this process's CPU time, less disturbed by other "
                  "programs on a busy machine (one thread: the two agree on an idle one).")
flags.mark_flags_as_required(["faces_dir", "export_dir"])

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
STAGES = ("decode", "detect", "crop", "model", "decision")
COLUMNS = ("model", "detector", *STAGES, "total", "1st frame", "no face", "face px")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm")


def face_photos(folder):
    """The image files under `folder`, sorted.

    Raises:
        ValueError: naming the folder when it holds no image.
    """
    paths = sorted(path for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                   if path.lower().endswith(_IMAGE_SUFFIXES))
    if not paths:
        raise ValueError(f"--faces_dir={folder}: no images ({', '.join(_IMAGE_SUFFIXES)}) "
                         "found; give a folder of face photos.")
    return paths


def background(rng):
    """A 640x480 RGB room-like background: soft colour gradients, edges of objects, noise."""
    coarse = rng.uniform(40, 220, (4, 5, 3)).astype(np.float32)
    image = cv2.resize(coarse, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):  # furniture, doors, shelves: straight edges a detector must reject
        x0, y0 = rng.integers(0, FRAME_WIDTH), rng.integers(0, FRAME_HEIGHT)
        x1, y1 = x0 + rng.integers(20, 300), y0 + rng.integers(20, 300)
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)),
                      rng.uniform(20, 235, 3).tolist(), -1)
    image = cv2.GaussianBlur(image, (0, 0), 2.0)
    return np.clip(image, 0, 255).astype(np.uint8)


def session_frames(photo, rng, count, min_side, max_side, quality):
    """JPEG bytes of `count` frames with `photo` drifting over one background.

    Args:
        photo: RGB uint8 face photo.
        rng: numpy Generator.
        count: frames.
        min_side, max_side: range of the photo's longer side in the frame (pixels,
            at most the frame's height).
        quality: JPEG quality.
    """
    scene = background(rng)
    side = float(rng.uniform(min_side, max_side))
    # Starts away from the far edges, with room to drift.
    x = float(rng.uniform(0, max(0.0, FRAME_WIDTH - side * 1.1)))
    y = float(rng.uniform(0, max(0.0, FRAME_HEIGHT - side * 1.1)))
    velocity = rng.normal(0, 2.0, 2)
    frames = []
    for _ in range(count):
        # A hand-held phone: slow drift, small jitter, the face a little nearer or farther.
        velocity = 0.8 * velocity + rng.normal(0, 1.5, 2)
        side = float(np.clip(side * rng.uniform(0.99, 1.01), min_side, max_side))
        x = float(np.clip(x + velocity[0], 0, FRAME_WIDTH - side))
        y = float(np.clip(y + velocity[1], 0, FRAME_HEIGHT - side))
        scale = side / max(photo.shape[:2])
        size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
        scaled = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        frame = scene.copy()
        top = min(round(y), FRAME_HEIGHT - size[1])
        left = min(round(x), FRAME_WIDTH - size[0])
        frame[top:top + size[1], left:left + size[0]] = scaled
        noisy = np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG frame.")
        frames.append(encoded.tobytes())
    return frames


def make_sessions(paths, sessions, frames_per_session, min_side, max_side, quality, seed):
    """(photo, JPEG frames) per session; photos are taken in turn from `paths`.

    Raises:
        ValueError: a photo that cannot be read, naming it.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(paths))
    result = []
    for index in range(sessions):
        path = paths[chosen[index % len(paths)]]
        photo = decode_image(path)
        if photo is None:
            raise ValueError(f"{path}: not a readable image; remove it from --faces_dir.")
        if photo.ndim == 2:
            photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB)
        result.append((photo, session_frames(photo, rng, frames_per_session, min_side,
                                             max_side, quality)))
    return result


class FramePath:
    """The runtime's per-frame path for one model and detector, stage by stage.

    Args:
        export_dir: export folder.
        model_format: e.g. "tflite_int8".
        detector: a detector flag value ("haar", "yunet:/path.onnx").
        max_detect_side, redetect_every, min_face_fraction: as
            `keras_dmtl.edge.runtime.FaceUnlock`'s.
        clock: the time source (seconds).
    """

    def __init__(self, export_dir, model_format, detector, max_detect_side, redetect_every,
                 min_face_fraction=MIN_FACE_FRACTION, clock=time.perf_counter):
        manifest = load_manifest(export_dir, model_format)
        self.model = LiteRTFaceModel(manifest["file"], num_threads=1)
        self.threshold = manifest["threshold"]
        self.labels = manifest["expression_labels"]
        self.image_size = manifest["height"]
        self.channels = manifest["channels"]
        self.margin = manifest["face_margin"]
        # What `FaceUnlock.verify_session` runs on a camera: the tracker, if any.
        single, self.tracker = frame_detectors(detector, max_detect_side, redetect_every,
                                               min_face_fraction)
        self.detector = single if self.tracker is None else self.tracker
        self.clock = clock

    def template(self, photo):
        """An enrolled template: the normalised embedding of the whole photo."""
        crop = preprocess_crop(photo, self.image_size, self.channels)
        return read_outputs(self.model(crop[None]), self.labels)["embedding"]

    def start_session(self):
        """Called before each session's first frame: the tracker forgets the face."""
        if self.tracker is not None:
            self.tracker.reset()

    def run(self, jpeg, template):
        """Runs one frame; returns (seconds per stage or None without a face, face width)."""
        times = [self.clock()]
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        times.append(self.clock())
        face = largest_face(self.detector.detect(image))
        times.append(self.clock())
        if face is None:
            return None, 0.0
        crop = crop_detection(image, face, self.image_size, self.channels, self.margin)
        times.append(self.clock())
        outputs = self.model(crop[None])
        times.append(self.clock())
        analysis = read_outputs(outputs, self.labels)
        accepts(template, analysis["embedding"], analysis["expression"], self.threshold)
        times.append(self.clock())
        return np.diff(times), face.box[2]


def measure(path, sessions, warmup):
    """Times every frame of every session.

    Returns:
        (stage seconds: (frames with a face, len(STAGES)), whether each of those
        is its session's first frame, frames without a face, median face width
        in pixels).
    """
    template = path.template(sessions[0][0])
    path.start_session()
    for jpeg in sessions[0][1][:warmup]:
        path.run(jpeg, template)
    rows, first, missed, widths = [], [], 0, []
    for photo, frames in sessions:
        template = path.template(photo)
        path.start_session()
        for index, jpeg in enumerate(frames):
            stages, width = path.run(jpeg, template)
            if stages is None:
                missed += 1
            else:
                rows.append(stages)
                first.append(index == 0)
                widths.append(width)
    return (np.array(rows).reshape(-1, len(STAGES)), np.array(first, bool), missed,
            float(np.median(widths or [0.0])))


def summary(stage_seconds, first):
    """{stage, "total" or "1st frame": (median ms, p95 ms)}.

    "1st frame" is the total of sessions' first frames: the time to the first
    decision, always with a whole-frame search (the tracker knows nothing yet).
    """
    columns = dict(zip(STAGES, stage_seconds.T))
    columns["total"] = stage_seconds.sum(axis=1)
    columns["1st frame"] = columns["total"][first] if first.any() else columns["total"]
    return {name: (1000 * float(np.median(values)), 1000 * float(np.percentile(values, 95)))
            for name, values in columns.items()}


def table_header():
    """The results table's Markdown header: timings are "median / p95" in ms."""
    return ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]


def table_row(model, detector, timings, missed, width):
    """One configuration's row of the results table (Markdown).

    Markdown rather than fixed-width columns: a cell may be as long as it needs
    (a run folder's name, a 1,000 ms stage) and never runs into the next one.

    Args:
        model: the model's label, e.g. "phone tflite_int8".
        detector: the detector's name ("haar", "mtcnn", "yunet").
        timings: `summary()` of the frames with a face, or None when no frame had one.
        missed: how many frames had no face found.
        width: the median face width in pixels.

    Returns:
        The row, a string.
    """
    if timings is None:
        cells = ["no face found"] + ["-"] * (len(STAGES) + 1) + [str(missed), "-"]
    else:
        cells = [f"{median:.2f} / {p95:.1f}" for median, p95 in timings.values()]
        cells += [str(missed), f"{width:.0f}"]
    return "| " + " | ".join([model, detector, *cells]) + " |"


def main(argv):
    del argv
    if not 0 < FLAGS.min_photo_side <= FLAGS.max_photo_side <= FRAME_HEIGHT:
        raise app.UsageError(f"--min_photo_side={FLAGS.min_photo_side} and --max_photo_side="
                             f"{FLAGS.max_photo_side}: need 0 < min <= max <= {FRAME_HEIGHT}.")
    cv2.setNumThreads(1)
    clock = time.perf_counter if FLAGS.clock == "wall" else time.process_time
    sessions = make_sessions(face_photos(FLAGS.faces_dir), FLAGS.sessions,
                             FLAGS.frames_per_session, FLAGS.min_photo_side,
                             FLAGS.max_photo_side, FLAGS.jpeg_quality, FLAGS.seed)
    frames = sum(len(s[1]) for s in sessions)
    print(f"{frames} frames {FRAME_WIDTH}x{FRAME_HEIGHT} JPEG q{FLAGS.jpeg_quality} "
          f"({len(sessions)} sessions), 1 thread, {platform.machine()} with "
          f"{os.cpu_count()} cores; {FLAGS.clock} ms per frame, median / p95 over the "
          "frames with a face")
    print("\n".join(table_header()))
    for export_dir in FLAGS.export_dir:
        name = os.path.basename(os.path.dirname(os.path.abspath(export_dir)))
        for model_format in FLAGS.formats:
            for detector in FLAGS.detectors:
                path = FramePath(export_dir, model_format, detector, FLAGS.max_detect_side,
                                 FLAGS.redetect_every, FLAGS.min_face_fraction, clock)
                stage_seconds, first, missed, width = measure(path, sessions,
                                                              FLAGS.warmup_frames)
                timings = summary(stage_seconds, first) if len(stage_seconds) else None
                print(table_row(f"{name} {model_format}", detector.split(":")[0], timings,
                                missed, width), flush=True)


if __name__ == "__main__":
    app.run(main)
