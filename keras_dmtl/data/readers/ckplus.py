"""The original CK+ release: labelled sequences, the apex frames of each, with the
sequences' FACS codes as action-unit labels."""

from __future__ import annotations

import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from keras_dmtl.data.labels.action_units import DEFAULT_ACTION_UNITS
from keras_dmtl.data.labels.action_units import FACS_ACTION_UNITS
from keras_dmtl.data.labels.action_units import action_unit_names
from keras_dmtl.data.labels.action_units import multi_hot

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
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_IMAGE_FOLDER = "cohn-kanade-images"
_EMOTION_FOLDER = "Emotion"
_FACS_FOLDER = "FACS"

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


def read_facs_codes(path: str) -> List[int]:
    """The action units of a CK+ FACS file.

    A file (FACS/S005/001/S005_001_00000011_facs.txt, coding the sequence's last,
    peak frame) holds one line per active AU, "AU number  intensity" as floats,
    e.g. "   1.0000000e+00   0.0000000e+00"; intensity 0 means that it was not
    scored, not that the AU is absent.

    Args:
        path: the FACS file.

    Returns:
        The AU numbers listed, in file order.

    Raises:
        DataError: a line that is not two numbers, an AU code that is not a
            positive whole number, a negative intensity, or no AU at all; the
            message names the file and line.
    """
    codes = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                code, intensity = (float(field) for field in fields)
            except ValueError:
                code = intensity = math.nan
            valid = code >= 1 and code.is_integer() and 0 <= intensity < math.inf
            if not valid:
                raise DataError(
                    f"{path} line {number} is not an AU line (AU number and intensity, e.g. "
                    f"'1.0 0.0'): found {line.strip()[:40]!r}; restore it from the CK+ FACS "
                    f"archive.")
            codes.append(int(code))
    if not codes:
        raise DataError(f"{path} lists no action unit; restore it from the CK+ FACS archive.")
    return codes


def _sequence_action_units(root: str, subject: str, sequence: str,
                           vocabulary: Sequence[int]) -> Optional[np.ndarray]:
    """The sequence's AU labels over `vocabulary`, or None when it has no FACS file.

    Raises:
        DataError: several FACS files, or a malformed one.
    """
    facs_dir = os.path.join(root, _FACS_FOLDER, subject, sequence)
    names = ([n for n in visible_entries(facs_dir) if n.endswith("_facs.txt")]
             if os.path.isdir(facs_dir) else [])
    if not names:
        return None
    if len(names) > 1:
        raise DataError(f"{facs_dir} holds {len(names)} FACS files; a CK+ sequence has one: "
                        f"remove the extra files.")
    return multi_hot(read_facs_codes(os.path.join(facs_dir, names[0])), vocabulary)


def _labelled_frames(
    root: str, subject: str, sequence: str, include_neutral: bool, vocabulary: Sequence[int]
) -> List[Tuple[str, str, np.ndarray]]:
    """The (image path, expression, AU labels) of the frames one sequence contributes.

    Returns:
        The apex frames (and the first frame as "neutral" with `include_neutral`);
        none for a sequence without an emotion file, or labelled neutral without
        `include_neutral`. The apex frames carry the sequence's FACS codes and the
        neutral first frame no active AU; both are -1 (not annotated) when the
        sequence has no FACS file.

    Raises:
        DataError: the sequence's emotion file, FACS file or frames are broken.
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
    coded = _sequence_action_units(root, subject, sequence, vocabulary)
    unknown = np.full(len(vocabulary), MISSING_LABEL, np.int8)
    peak = unknown if coded is None else coded
    apex = frames[-APEX_FRAMES:]
    labelled = [(name, expression, peak) for name in apex]
    if include_neutral and frames[0] not in apex:
        neutral = unknown if coded is None else np.zeros(len(vocabulary), np.int8)
        labelled.insert(0, (frames[0], "neutral", neutral))
    return [(os.path.join(frame_dir, name), label, units) for name, label, units in labelled]


@register("ckplus", takes=FOLDER, matches=_is_ckplus_root, specificity=SIGNATURE)
def read_ckplus(root: str, include_neutral: bool = False, skip_bad: bool = False,
                action_unit_vocabulary: Sequence[int] = DEFAULT_ACTION_UNITS) -> FaceRecords:
    """Reads the original CK+ release: labelled sequences, last 3 frames each.

    Layout: root/cohn-kanade-images/S###/###/*.png with labels in
    root/Emotion/S###/###/*_emotion.txt (CK+ codes 0=neutral .. 7=surprise), and,
    when the release's FACS folder is there, the sequence's action units in
    root/FACS/S###/###/*_facs.txt (see `read_facs_codes`). Sequences with no
    emotion file are skipped (FACS-coded sequences without an emotion label too).

    The FACS codes label the apex frames: the file codes the last frame, and the
    two before it are within a frame or two of that peak. AUs the file lists that
    are not in `action_unit_vocabulary` (e.g. AU14, or head and eye positions
    51-64) are left out; every AU of the vocabulary it does not list is absent (0),
    as CK+'s coders listed every active AU.

    Args:
        root: the folder holding cohn-kanade-images/ and Emotion/ (and FACS/).
        include_neutral: also take each labelled sequence's first frame as
            "neutral", and keep sequences labelled neutral. Without it the neutral
            class does not exist.
        skip_bad: skip sequences whose emotion or FACS file is malformed or whose
            frames are missing (a warning gives their count) instead of raising
            DataError.
        action_unit_vocabulary: the FACS numbers of the AU labels.

    Returns:
        FaceRecords with identity = subject = "S###", and AU labels over the
        vocabulary (-1 for sequences without a FACS file).

    Raises:
        DataError: a broken layout or entry (see `skip_bad`).
        ValueError: a vocabulary entry that is not a FACS action unit.
    """
    unknown = sorted(set(action_unit_vocabulary) - set(FACS_ACTION_UNITS))
    if unknown:
        raise ValueError(f"action_unit_vocabulary={list(action_unit_vocabulary)}: {unknown} are "
                         f"not FACS action units; choose from {sorted(FACS_ACTION_UNITS)}.")
    require_directory(root, "CK+")
    for required in (_IMAGE_FOLDER, _EMOTION_FOLDER):
        if not os.path.isdir(os.path.join(root, required)):
            raise DataError(
                f"{os.path.join(root, required)} is missing: a CK+ root holds "
                f"{_IMAGE_FOLDER}/ and {_EMOTION_FOLDER}/ (unpack both CK+ archives into "
                f"{root})."
            )
    bad = BadEntries(skip_bad, root, "sequences")
    sources, expressions, subjects, units = [], [], [], []
    emotion_root = os.path.join(root, _EMOTION_FOLDER)
    for subject in subdirectories(emotion_root):
        for sequence in subdirectories(os.path.join(emotion_root, subject)):
            try:
                labelled = _labelled_frames(root, subject, sequence, include_neutral,
                                            action_unit_vocabulary)
            except DataError as error:
                bad.reject(str(error))
                continue
            for path, label, action_units in labelled:
                sources.append(path)
                expressions.append(label)
                subjects.append(subject)
                units.append(action_units)
    bad.warn_if_skipped()
    names = [n for n in CANONICAL_EXPRESSIONS if include_neutral or n != "neutral"]
    return build_records(sources, subjects, expressions, subjects, "ckplus", root, names,
                         action_units=units,
                         action_unit_names=action_unit_names(action_unit_vocabulary))
