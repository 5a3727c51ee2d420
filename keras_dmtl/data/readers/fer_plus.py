"""FER+: FER2013's faces relabelled by 10 crowd annotators each (Barsoum et al. 2016).

Layout: one folder per split (`FER2013Train`, `FER2013Valid`, `FER2013Test`), each
with the 48x48 PNGs and a `label.csv` without header, one row per image:
`fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0`: the votes for neutral,
happiness, surprise, sadness, anger, disgust, fear, contempt, unknown and
not-a-face.

The label is the FER+ paper's majority rule (its `ferplus.py`, mode
"majority"): a class with a single vote is an outlier and dropped; the image
takes the class holding more than half of the remaining votes, and is left out
when none does or when that class is "unknown" or "not a face". The votes of
the eight emotions, as a distribution, ride with each image under
`EXPRESSION_VOTES` (Deng & Chen's soft labels, here from people instead of a teacher).
"""

from __future__ import annotations

import csv
import os
from typing import List, Optional

import numpy as np

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import CANONICAL_EXPRESSIONS
from keras_dmtl.data.records import EXPRESSION_VOTES
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

LABEL_FILE = "label.csv"
# The vote columns in the order of label.csv.
VOTE_CLASSES = ("neutral", "happy", "surprise", "sadness", "anger", "disgust", "fear",
                "contempt", "unknown", "not_a_face")
EMOTIONS = VOTE_CLASSES[:8]


def majority_label(votes) -> Optional[str]:
    """The FER+ paper's majority label of one image's ten vote counts.

    Args:
        votes: 10 non-negative counts in `VOTE_CLASSES` order.

    Returns:
        The emotion, or None: no class holds more than half of the votes left
        after single votes are dropped, or it is unknown / not a face.
    """
    votes = np.where(np.asarray(votes, np.float64) <= 1.0, 0.0, votes)
    total = votes.sum()
    if total <= 0 or votes.max() <= 0.5 * total:
        return None
    label = VOTE_CLASSES[int(np.argmax(votes))]
    return label if label in EMOTIONS else None


def _is_ferplus_split(root: str) -> bool:
    path = os.path.join(root, LABEL_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            row = next(csv.reader(stream), [])
    except (OSError, UnicodeDecodeError):
        return False
    return len(row) == 12 and row[0].lower().endswith(".png")


def _votes(row: List[str], path: str, line: int) -> np.ndarray:
    try:
        votes = np.asarray([int(cell) for cell in row[2:]], np.int64)
    except ValueError:
        raise DataError(f"{path} line {line}: the ten vote counts must be integers; fix or "
                        "delete that line.") from None
    if (votes < 0).any():
        raise DataError(f"{path} line {line}: a negative vote count; fix or delete that line.")
    return votes


@register("fer_plus", takes=FOLDER, matches=_is_ferplus_split, specificity=SIGNATURE)
def read_fer_plus(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads one FER+ split folder (FER2013Train, FER2013Valid or FER2013Test).

    Images whose majority label is unknown, not a face or undecided are left out
    (the paper's protocol); so are rows of label.csv whose image is absent, which
    the FER+ release lists for faces FER2013 holds but FER+ dropped.

    Args:
        root: the split folder holding label.csv and the PNGs.
        skip_bad: skip malformed rows of label.csv (counted in one warning)
            instead of raising DataError.

    Returns:
        FaceRecords with the majority expression, no identities, each image its
        own subject ("<split>/<file>"), and `extras[EXPRESSION_VOTES]`: float32 (N, 8)
        vote shares over `expression_names` (single votes kept: the crowd's
        view, not the label rule's).
    """
    require_directory(root, "FER+ split (FER2013Train, FER2013Valid, FER2013Test)")
    label_path = os.path.join(root, LABEL_FILE)
    if not os.path.isfile(label_path):
        raise DataError(f"{root} has no {LABEL_FILE}: pass a FER+ split folder such as "
                        ".../data/FER2013Train.")
    present = set(visible_entries(root))
    split = os.path.basename(os.path.normpath(root))
    names = [name for name in CANONICAL_EXPRESSIONS if name in EMOTIONS]
    columns = [EMOTIONS.index(name) for name in names]
    bad = BadEntries(skip_bad, label_path, "rows")
    sources, expressions, subjects, shares = [], [], [], []
    with open(label_path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        for row in reader:
            if not row:
                continue
            if len(row) != 12:
                bad.reject(f"{label_path} line {reader.line_num}: expected 12 fields "
                           f"(file, box, ten vote counts), found {len(row)}; fix or delete "
                           "that line.")
                continue
            try:
                votes = _votes(row, label_path, reader.line_num)
            except DataError as error:
                bad.reject(str(error))
                continue
            name = row[0].strip()
            label = majority_label(votes)
            if label is None or name not in present:
                continue
            emotion_votes = votes[:8].astype(np.float32)
            sources.append(os.path.join(root, name))
            expressions.append(label)
            subjects.append(f"{split}/{name}")
            shares.append(emotion_votes[columns] / emotion_votes.sum())
    bad.warn_if_skipped()
    records = build_records(sources, [None] * len(sources), expressions, subjects, "fer_plus",
                            root, names)
    records.extras[EXPRESSION_VOTES] = np.asarray(shares, np.float32).reshape(
        len(sources), len(names))
    return records
