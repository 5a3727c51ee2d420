"""The original CK+ release: labelled sequences, the apex frames of each."""

from __future__ import annotations

import os
from typing import List, Tuple

from keras_dmtl.data.readers.base import APEX_FRAMES
from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import CANONICAL_EXPRESSIONS
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_IMAGE_FOLDER = "cohn-kanade-images"
_EMOTION_FOLDER = "Emotion"

# CK+ codes 0..7 are the canonical order itself.
_CKPLUS_CODES = CANONICAL_EXPRESSIONS


def _is_ckplus_root(root: str) -> bool:
    return {_IMAGE_FOLDER, _EMOTION_FOLDER} <= set(subdirectories(root))


def _read_ckplus_code(path: str) -> int:
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read().strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path} is not a CK+ emotion file: expected one number 0..7, found "
            f"{text[:40]!r}; restore it from the CK+ Emotion archive."
        ) from None
    if not value.is_integer() or not 0 <= value < len(_CKPLUS_CODES):
        raise DataError(
            f"{path} holds emotion code {text!r}, outside the CK+ codes 0..7; "
            f"restore it from the CK+ Emotion archive."
        )
    return int(value)


def _labelled_frames(
    root: str, subject: str, sequence: str, include_neutral: bool
) -> List[Tuple[str, str]]:
    """The (image path, expression) pairs one sequence contributes.

    Returns:
        The apex frames (and the first frame as "neutral" with `include_neutral`);
        none for a sequence without an emotion file, or labelled neutral without
        `include_neutral`.

    Raises:
        DataError: the sequence's emotion file or frames are broken.
    """
    label_dir = os.path.join(root, _EMOTION_FOLDER, subject, sequence)
    label_files = [n for n in visible_entries(label_dir) if n.endswith("_emotion.txt")]
    if not label_files:
        return []
    if len(label_files) > 1:
        raise DataError(
            f"{label_dir} holds {len(label_files)} emotion files; a CK+ sequence "
            f"has one: remove the extra files."
        )
    label_path = os.path.join(label_dir, label_files[0])
    expression = _CKPLUS_CODES[_read_ckplus_code(label_path)]
    if expression == "neutral" and not include_neutral:
        return []
    frame_dir = os.path.join(root, _IMAGE_FOLDER, subject, sequence)
    frames = image_files(frame_dir) if os.path.isdir(frame_dir) else []
    if not frames:
        raise DataError(
            f"{label_path} labels a sequence with no images in {frame_dir}: "
            f"restore that folder from the CK+ image archive."
        )
    apex = frames[-APEX_FRAMES:]
    labelled = [(name, expression) for name in apex]
    if include_neutral and frames[0] not in apex:
        labelled.insert(0, (frames[0], "neutral"))
    return [(os.path.join(frame_dir, name), label) for name, label in labelled]


@register("ckplus", takes=FOLDER, matches=_is_ckplus_root, specificity=SIGNATURE)
def read_ckplus(root: str, include_neutral: bool = False, skip_bad: bool = False) -> FaceRecords:
    """Reads the original CK+ release: labelled sequences, last 3 frames each.

    Layout: root/cohn-kanade-images/S###/###/*.png with labels in
    root/Emotion/S###/###/*_emotion.txt (CK+ codes 0=neutral .. 7=surprise).
    Sequences with no emotion file are skipped.

    Args:
        root: the folder holding cohn-kanade-images/ and Emotion/.
        include_neutral: also take each labelled sequence's first frame as
            "neutral", and keep sequences labelled neutral. Without it the neutral
            class does not exist.
        skip_bad: skip sequences whose emotion file is malformed or whose frames
            are missing (a warning gives their count) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = "S###".
    """
    require_directory(root, "CK+")
    for required in (_IMAGE_FOLDER, _EMOTION_FOLDER):
        if not os.path.isdir(os.path.join(root, required)):
            raise DataError(
                f"{os.path.join(root, required)} is missing: a CK+ root holds "
                f"{_IMAGE_FOLDER}/ and {_EMOTION_FOLDER}/ (unpack both CK+ archives into "
                f"{root})."
            )
    bad = BadEntries(skip_bad, root, "sequences")
    sources, expressions, subjects = [], [], []
    emotion_root = os.path.join(root, _EMOTION_FOLDER)
    for subject in subdirectories(emotion_root):
        for sequence in subdirectories(os.path.join(emotion_root, subject)):
            try:
                labelled = _labelled_frames(root, subject, sequence, include_neutral)
            except DataError as error:
                bad.reject(str(error))
                continue
            for path, label in labelled:
                sources.append(path)
                expressions.append(label)
                subjects.append(subject)
    bad.warn_if_skipped()
    names = [n for n in CANONICAL_EXPRESSIONS if include_neutral or n != "neutral"]
    return build_records(sources, subjects, expressions, subjects, "ckplus", root, names)
