"""Generated faces: a procedural renderer and a CK+48-style folder writer.

Each identity has its own geometry (face oval, eye spacing and size, nose, mouth,
brows), skin tone and hair; each expression moves the mouth, brows and eyes as the
Facial Action Coding System describes it, at an intensity that grows over a
sequence like CK+'s onset-to-apex frames, and `EXPRESSION_ACTION_UNITS` codes
what it draws as action units. Pose, lighting, blur and noise jitter make both
tasks learnable but not trivial. numpy + OpenCV only.
"""

import json
import os
import shutil
import tempfile

import cv2
import numpy as np

from keras_dmtl.data.labels.action_units import DEFAULT_ACTION_UNITS
from keras_dmtl.data.labels.action_units import multi_hot
from keras_dmtl.data.records import EMOTION_EXPRESSIONS

# CK+48's classes: its crops are apex frames, so there is no neutral class.
DEFAULT_EXPRESSIONS = EMOTION_EXPRESSIONS
_FORMAT_VERSION = 3
_STAMP = "generated_faces.json"
_SUPERSAMPLE = 4

# Per expression: mouth curve (+ smile, - frown), mouth opening, mouth width factor,
# one-sided corner lift (contempt), brow raise, brow tilt (+ inner ends down),
# eye openness factor, nose wrinkle.
_EXPRESSION_SHAPES = {
    "neutral": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "anger": (-0.3, 0.0, 0.9, 0.0, -0.5, 0.9, 0.8, 0.2),
    "contempt": (0.1, 0.0, 1.0, 0.8, 0.0, 0.0, 0.9, 0.0),
    "disgust": (-0.4, 0.15, 0.9, 0.0, -0.3, 0.4, 0.6, 1.0),
    "fear": (-0.2, 0.45, 1.2, 0.0, 0.5, -0.5, 1.35, 0.0),
    "happy": (0.9, 0.25, 1.15, 0.0, 0.1, 0.0, 0.75, 0.0),
    "sadness": (-0.8, 0.0, 0.9, 0.0, 0.1, -0.9, 0.8, 0.0),
    "surprise": (0.0, 1.0, 0.7, 0.0, 0.9, 0.0, 1.45, 0.0),
}

# What each expression's drawing shows, coded as FACS action units, as it shows at
# every generated frame (intensity 0.456 and up: the writer's 3-frame sequences
# and the streams). The renderer draws no other facial action, so every other AU
# is absent. Left uncoded, as too slight or not drawn at the lower intensities:
# anger's slight mouth downturn, sadness's slightly narrowed eyes, contempt's
# slightly narrowed eyes, happy's and disgust's parted lips (dark only near the
# apex, or never).
EXPRESSION_ACTION_UNITS = {
    "neutral": (),
    # Brows lowered with their inner ends pulled down (4), eyes narrowed (7),
    # mouth narrowed and closed (24, lip pressor).
    "anger": (4, 7, 24),
    # One lip corner lifted: unilateral 12 with 14, EMFACS's contempt.
    "contempt": (12, 14),
    # Brows lowered (4), eyes narrowed (7), nose wrinkles (9), lip corners down (15).
    "disgust": (4, 7, 9, 15),
    # Brows raised, inner ends most (1, 2), eyes widened (5), mouth stretched
    # sideways (20) and open (25).
    "fear": (1, 2, 5, 20, 25),
    # Lip corners up (12), eyes narrowed from below by the cheeks (6).
    "happy": (6, 12),
    # Inner brow ends raised (1), lip corners pulled down (15).
    "sadness": (1, 15),
    # Brows raised (1, 2), eyes widened (5), jaw dropped, mouth open (25, 26).
    "surprise": (1, 2, 5, 25, 26),
}
# The AU labels of generated faces: the default AUs and those the faces show.
GENERATED_ACTION_UNITS = tuple(sorted(set(DEFAULT_ACTION_UNITS).union(
    *EXPRESSION_ACTION_UNITS.values())))


def expression_action_units(expressions, vocabulary=GENERATED_ACTION_UNITS):
    """The AU labels of generated faces showing `expressions`.

    Args:
        expressions: one expression name per face (keys of the renderer's table).
        vocabulary: the FACS numbers of the labels' columns.

    Returns:
        int8 (len(expressions), len(vocabulary)) of 1 (shown) and 0 (not shown).

    Raises:
        ValueError: an expression the renderer does not draw.
    """
    unknown = sorted(set(expressions) - set(EXPRESSION_ACTION_UNITS))
    if unknown:
        raise ValueError(f"No generated expression {unknown}: choose from "
                         f"{sorted(EXPRESSION_ACTION_UNITS)}.")
    return np.array([multi_hot(EXPRESSION_ACTION_UNITS[name], vocabulary) for name in expressions],
                    np.int8).reshape(len(expressions), len(vocabulary))


def is_generated_set(root):
    """Whether `root` is a face set this module's current renderer wrote."""
    try:
        with open(os.path.join(root, _STAMP)) as stream:
            return json.load(stream).get("version") == _FORMAT_VERSION
    except (OSError, ValueError, AttributeError):
        return False


def random_identity(rng):
    """Draws the fixed appearance of one person.

    Returns:
        dict of geometry (fractions of the image side), tones and style choices.
    """
    return {
        "face_w": rng.uniform(0.28, 0.36),
        "face_h": rng.uniform(0.38, 0.46),
        "eye_dx": rng.uniform(0.12, 0.18),
        "eye_y": rng.uniform(-0.08, -0.02),
        "eye_size": rng.uniform(0.025, 0.045),
        "nose_len": rng.uniform(0.07, 0.13),
        "mouth_y": rng.uniform(0.17, 0.23),
        "mouth_w": rng.uniform(0.09, 0.15),
        "brow_gap": rng.uniform(0.04, 0.07),
        "brow_thickness": rng.uniform(0.008, 0.02),
        "skin": rng.uniform(110, 215),
        "hair_tone": rng.uniform(15, 100),
        "hair_style": int(rng.integers(0, 3)),
        "background": rng.uniform(40, 230),
        "glasses": bool(rng.random() < 0.2),
        "beard": bool(rng.random() < 0.2),
    }


def _point(cx, cy, dx, dy, scale):
    return int(round((cx + dx) * scale)), int(round((cy + dy) * scale))


def _mouth_curve(person, shape, intensity):
    curve, opening, width, lift = shape[0], shape[1], shape[2], shape[3]
    half = person["mouth_w"] * (1 + (width - 1) * intensity) / 2
    xs = np.linspace(-half, half, 21)
    bend = -curve * intensity * 0.09 * (xs / half) ** 2
    bend += lift * intensity * 0.06 * np.clip(xs / half, 0, 1)  # one corner up
    upper = person["mouth_y"] + bend + 0.03 * curve * intensity * 0.5
    lower = upper + opening * intensity * 0.12 * np.cos(np.pi * xs / (2 * half))
    return xs, upper, lower


def render_face(person, expression, intensity, rng, size=64, channels=1):
    """Renders one face image and its 5 landmarks.

    Args:
        person: from `random_identity`.
        expression: a key of the expression table (e.g. "happy").
        intensity: 0 (neutral) to 1 (apex).
        rng: numpy Generator for the per-image jitter.
        size: output side in pixels.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        (uint8 image (size, size) or (size, size, 3), float (5, 2) landmarks:
        eyes, nose tip, mouth corners, in output pixels).
    """
    shape = _EXPRESSION_SHAPES[expression]
    big = size * _SUPERSAMPLE
    canvas = np.full((big, big), person["background"], np.float32)
    cx, cy = 0.5, 0.5
    s = big
    skin, hair = person["skin"], person["hair_tone"]
    # Hair behind the head, then the face oval and the ears.
    if person["hair_style"] > 0:
        cv2.ellipse(canvas, _point(cx, cy, 0, -0.04, s),
                    (int(person["face_w"] * 1.15 * s), int(person["face_h"] * 1.1 * s)),
                    0, 0, 360, hair, -1)
    for side in (-1, 1):
        cv2.ellipse(canvas, _point(cx, cy, side * person["face_w"], 0.0, s),
                    (int(0.03 * s), int(0.06 * s)), 0, 0, 360, skin * 0.93, -1)
    cv2.ellipse(canvas, (int(cx * s), int(cy * s)),
                (int(person["face_w"] * s), int(person["face_h"] * s)), 0, 0, 360, skin, -1)
    # Hairline on top of the forehead.
    cv2.ellipse(canvas, _point(cx, cy, 0, -person["face_h"] * 0.78, s),
                (int(person["face_w"] * 1.02 * s), int(person["face_h"] * (0.25 + 0.1 * person["hair_style"]) * s)),
                0, 180, 360, hair, -1)
    if person["beard"]:
        cv2.ellipse(canvas, _point(cx, cy, 0, person["face_h"] * 0.72, s),
                    (int(person["face_w"] * 0.6 * s), int(person["face_h"] * 0.28 * s)),
                    0, 0, 180, skin * 0.75, -1)

    eye_open = shape[6] ** intensity
    eye_y = person["eye_y"]
    landmarks = []
    for side in (-1, 1):
        ex = side * person["eye_dx"]
        radius_x = person["eye_size"] * s
        radius_y = max(person["eye_size"] * 0.55 * eye_open * s, 2)
        cv2.ellipse(canvas, _point(cx, cy, ex, eye_y, s), (int(radius_x), int(radius_y)),
                    0, 0, 360, 235, -1)
        cv2.circle(canvas, _point(cx, cy, ex, eye_y, s), int(min(radius_x, radius_y) * 0.7), 30, -1)
        landmarks.append((cx + ex, cy + eye_y))
        # Brows: raised/lowered, inner end tilted (anger down, sadness up).
        raise_ = shape[4] * intensity * 0.06
        tilt = shape[5] * intensity * 0.05
        inner = _point(cx, cy, ex - side * person["eye_size"] * 1.3,
                       eye_y - person["brow_gap"] - raise_ + tilt, s)
        outer = _point(cx, cy, ex + side * person["eye_size"] * 1.4,
                       eye_y - person["brow_gap"] - raise_ - tilt * 0.3, s)
        cv2.line(canvas, inner, outer, hair * 0.6, max(int(person["brow_thickness"] * 1.5 * s), 3))
        if person["glasses"]:
            cv2.circle(canvas, _point(cx, cy, ex, eye_y, s), int(person["eye_size"] * 1.9 * s),
                       20, max(int(0.008 * s), 2))
    # Nose, with wrinkles for disgust.
    nose_tip = (cx, cy + eye_y + person["nose_len"] + 0.05)
    cv2.line(canvas, _point(cx, cy, 0, eye_y + 0.03, s), _point(*nose_tip, 0, 0, s),
             skin * 0.7, max(int(0.01 * s), 2))
    cv2.ellipse(canvas, _point(*nose_tip, 0, 0, s), (int(0.03 * s), int(0.015 * s)),
                0, 0, 180, skin * 0.6, max(int(0.008 * s), 2))
    landmarks.append(nose_tip)
    if shape[7] * intensity > 0.3:
        for side in (-1, 1):
            cv2.line(canvas, _point(cx, cy, side * 0.03, eye_y + 0.04, s),
                     _point(cx, cy, side * 0.05, eye_y + 0.07, s), skin * 0.6, max(int(0.006 * s), 2))
    # Mouth: lips as a filled polygon between the upper and lower curves.
    xs, upper, lower = _mouth_curve(person, shape, intensity)
    top = np.stack([cx + xs, cy + upper], axis=1)
    bottom = np.stack([cx + xs, cy + lower + 0.018], axis=1)[::-1]
    polygon = (np.concatenate([top, bottom]) * s).astype(np.int32)
    cv2.fillPoly(canvas, [polygon], 40 if shape[1] * intensity > 0.2 else skin * 0.4)
    landmarks.extend([(cx + xs[0], cy + upper[0]), (cx + xs[-1], cy + upper[-1])])

    # Jitter: pose (rotation, scale, shift), lighting gradient, blur, noise.
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    angle = rng.uniform(-7, 7)
    scale = rng.uniform(0.93, 1.07)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-0.04, 0.04, 2) * size
    image = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    light = np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None]
    image = image * rng.uniform(0.75, 1.2) + light * rng.uniform(0, 30) + rng.uniform(-20, 20)
    sigma = rng.uniform(0.0, 0.9)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0, rng.uniform(2, 7), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    # Shapes are drawn at canvas pixel centres; after the area resize, canvas pixel
    # centre i sits at (i + 0.5) / _SUPERSAMPLE - 0.5 in output pixels.
    points = np.array(landmarks) * size + (0.5 / _SUPERSAMPLE - 0.5)
    points = points @ matrix[:, :2].T + matrix[:, 2]
    if channels == 3:
        tint = np.array([1.0, rng.uniform(0.85, 0.95), rng.uniform(0.7, 0.85)])
        image = np.clip(image[:, :, None] * tint, 0, 255).astype(np.uint8)
    return image, points


def _stamp(num_identities, expressions, sequences_per_pair, frames_per_sequence, image_size, seed):
    return {
        "version": _FORMAT_VERSION,
        "num_identities": num_identities,
        "expressions": list(expressions),
        "sequences_per_pair": sequences_per_pair,
        "frames_per_sequence": frames_per_sequence,
        "image_size": image_size,
        "seed": seed,
    }


def write_synthetic_dataset(out_dir, num_identities=10, expressions=DEFAULT_EXPRESSIONS,
                            sequences_per_pair=1, frames_per_sequence=3, image_size=64, seed=0):
    """Writes a generated face set in the CK+48 layout.

    `<out_dir>/<expression>/S{subject:03d}_{sequence:03d}_{frame:08d}.png`, one
    sequence per (subject, expression, repeat) whose frames approach the apex like
    CK+'s last frames. The folder is built beside `out_dir` and renamed into place;
    a folder that already holds the same set is kept as it is.

    Args:
        out_dir: the dataset folder to create.
        num_identities: number of people.
        expressions: expression names (keys of the renderer's table).
        sequences_per_pair: sequences per person and expression.
        frames_per_sequence: frames per sequence.
        image_size: side of the images.
        seed: makes the set reproducible.

    Returns:
        `out_dir`.
    """
    stamp = _stamp(num_identities, expressions, sequences_per_pair, frames_per_sequence,
                   image_size, seed)
    stamp_path = os.path.join(out_dir, _STAMP)
    if os.path.exists(stamp_path):
        with open(stamp_path) as stream:
            if json.load(stream) == stamp:
                return out_dir
    unknown = sorted(set(expressions) - set(_EXPRESSION_SHAPES))
    if unknown:
        raise ValueError(f"No generated expression {unknown}: choose from {sorted(_EXPRESSION_SHAPES)}.")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    building = tempfile.mkdtemp(dir=parent, prefix=".generating-")
    try:
        rng = np.random.default_rng(seed)
        people = [random_identity(rng) for _ in range(num_identities)]
        for expression in expressions:
            os.makedirs(os.path.join(building, expression))
        for subject, person in enumerate(people, start=1):
            for e_index, expression in enumerate(expressions):
                for repeat in range(sequences_per_pair):
                    sequence = e_index * sequences_per_pair + repeat + 1
                    peak = rng.uniform(0.6, 1.0)
                    for frame in range(frames_per_sequence):
                        intensity = peak * (1.0 - 0.12 * (frames_per_sequence - 1 - frame))
                        image, _ = render_face(person, expression, intensity, rng, image_size)
                        name = f"S{subject:03d}_{sequence:03d}_{frame + 1:08d}.png"
                        cv2.imwrite(os.path.join(building, expression, name), image)
        with open(os.path.join(building, _STAMP), "w") as stream:
            json.dump(stamp, stream)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(building, out_dir)
    finally:
        if os.path.exists(building):
            shutil.rmtree(building)
    return out_dir


def stream_labels(positions, num_identities, expressions=DEFAULT_EXPRESSIONS):
    """The identity and expression indices of images of a generated stream.

    Image `p` of the stream shows identity `p % num_identities`; expressions cycle
    once per round of identities, so every person shows every expression.

    Args:
        positions: int array of image positions.
        num_identities: people in the stream.
        expressions: the expression names.

    Returns:
        (identity, expression): int64 arrays like `positions`.
    """
    positions = np.asarray(positions, np.int64)
    return positions % num_identities, (positions // num_identities) % len(expressions)


def render_stream_image(position, num_identities, seed, size=64, channels=1,
                        expressions=DEFAULT_EXPRESSIONS):
    """Image `position` of a generated stream, rendered on its own.

    Each person's appearance is drawn from (seed, identity) and each image's
    jitter from (seed, position), so any image renders alone, in any process,
    in any order: a writer can spread millions of them over worker processes
    without holding them.

    Args:
        position: the image's position in the stream.
        num_identities: people in the stream.
        seed: the stream's seed.
        size: output side in pixels.
        channels: 1 (grayscale) or 3 (RGB).
        expressions: the expression names.

    Returns:
        uint8 image (size, size) or (size, size, 3).
    """
    identity, expression = (int(v) for v in stream_labels(position, num_identities, expressions))
    person = random_identity(np.random.default_rng((seed, 0, identity)))
    rng = np.random.default_rng((seed, 1, position))
    image, _ = render_face(person, expressions[expression], rng.uniform(0.6, 1.0), rng, size,
                           channels)
    return image
