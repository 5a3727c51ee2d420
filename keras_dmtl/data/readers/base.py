"""What every dataset reader shares: label names, folder walking, record building.

Expression labels are mapped onto `CANONICAL_EXPRESSIONS` through one alias table,
so that records from several datasets share one label space. Bad entries (a file,
a row or a sequence a reader cannot label) go through `BadEntries`, so that
`skip_bad` means the same thing in every reader.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from keras_dmtl.data.records import CANONICAL_EXPRESSIONS
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_LOG = logging.getLogger(__name__)

# Every extension OpenCV decodes and Pillow can size from the header (see
# keras_dmtl.data.faces.loading.decode_image): JAFFE ships TIFF, the ORL faces PGM.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm")

# Frames kept from the end of each expression sequence (the apex), as the CK+ and
# Oulu-CASIA protocols do.
APEX_FRAMES = 3

# Every spelling of an expression that a dataset folder, CSV or flag may use, in
# lower case. The one place where label names are mapped: all readers go through
# `canonical_expression`.
_EXPRESSION_ALIASES = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "anger": "anger",
    "angry": "anger",
    "contempt": "contempt",
    "contemptuous": "contempt",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
}


def canonical_expression(name: str) -> Optional[str]:
    """Maps an expression name, in any common spelling, onto its canonical name.

    Args:
        name: a label as a dataset or user writes it, e.g. "Happiness", " angry".

    Returns:
        The entry of `CANONICAL_EXPRESSIONS` it means, or None when it means none.
    """
    return _EXPRESSION_ALIASES.get(name.strip().lower())


def ordered_expression_names(names: Iterable[str]) -> List[str]:
    """Orders expression class names: canonical ones in canonical order, then others.

    Args:
        names: class names, possibly repeated.

    Returns:
        The distinct names, those in `CANONICAL_EXPRESSIONS` first in its order,
        then the rest sorted.
    """
    distinct = set(names)
    canonical = [name for name in CANONICAL_EXPRESSIONS if name in distinct]
    others = sorted(distinct.difference(CANONICAL_EXPRESSIONS))
    return canonical + others


def expression_folder(
    directory: str, folder: str, layout: str, classes: Sequence[str] = CANONICAL_EXPRESSIONS
) -> str:
    """Reads the expression a folder's name gives its images.

    Args:
        directory: the folder holding `folder`, named in the error.
        folder: the folder name, in any spelling `canonical_expression` knows.
        layout: the dataset's display name, e.g. "CK+48".
        classes: the canonical expressions the dataset has.

    Returns:
        The canonical expression.

    Raises:
        DataError: the name means no expression in `classes`; the message lists
            the accepted spellings.
    """
    expression = canonical_expression(folder)
    if expression not in classes:
        accepted = ", ".join(sorted(a for a, e in _EXPRESSION_ALIASES.items() if e in classes))
        raise DataError(
            f"{os.path.join(directory, folder)} is not an expression folder of the "
            f"{layout} layout: rename it to one of {accepted}, or move it out."
        )
    return expression


def natural_key(name: str) -> Tuple:
    """Sort key under which "10.png" follows "9.png" (frame numbers are not always padded)."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if part.isdigit() else part for part in parts)


def is_image(name: str) -> bool:
    """Whether a file name has one of `IMAGE_EXTENSIONS`, in any case."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def visible_entries(directory: str) -> List[str]:
    """The sorted names in a folder, hidden ones left out.

    Hidden files (.DS_Store, ._* from macOS archives) are never data.
    """
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def subdirectories(directory: str) -> List[str]:
    """The sorted names of a folder's visible subfolders."""
    return [
        name
        for name in visible_entries(directory)
        if os.path.isdir(os.path.join(directory, name))
    ]


def image_files(directory: str) -> List[str]:
    """The names of a folder's visible image files, in `natural_key` order."""
    names = [
        name
        for name in visible_entries(directory)
        if is_image(name) and os.path.isfile(os.path.join(directory, name))
    ]
    return sorted(names, key=natural_key)


def require_directory(root: str, layout: str) -> None:
    """Raises DataError unless `root` is a folder; `layout` is the dataset's display name."""
    if not os.path.isdir(root):
        raise DataError(f"{root} is not a directory: pass the root folder of the {layout} dataset.")


def require_file(path: str, what: str) -> None:
    """Raises DataError unless `path` is a file; `what` names the file expected."""
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory: pass the path of {what}.")
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist: pass the path of {what}.")


def header(row: Sequence[str]) -> List[str]:
    """A CSV header row with the spaces around its cells removed."""
    return [cell.strip() for cell in row]


def csv_header(path: str) -> Optional[List[str]]:
    """The header of a `.csv` file, for recognising a layout.

    Args:
        path: any file.

    Returns:
        The stripped header cells, or None when the file is not named .csv or is
        not UTF-8 text (so that detection never fails on unrelated files).
    """
    if not path.lower().endswith(".csv"):
        return None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return header(next(csv.reader(handle), []))
    except UnicodeDecodeError:
        return None


class BadEntries:
    """Where a reader reports an entry it cannot label: raised, or skipped and counted.

    An entry is the unit a reader labels: a file, a CSV row, an expression sequence.
    Problems with the layout itself (a missing folder, a wrong CSV header) are not
    entries: readers raise those whatever `skip`.

    Args:
        skip: skip bad entries (one warning at `warn_if_skipped`) instead of raising.
        location: the dataset file or folder, named in the warning.
        unit: what an entry is, plural, for the warning (e.g. "rows").
    """

    def __init__(self, skip: bool, location: str, unit: str):
        self._skip = skip
        self._location = location
        self._unit = unit
        self._count = 0
        self._first: Optional[str] = None

    def reject(self, message: str) -> None:
        """Raises DataError(message), or counts the entry as skipped.

        Args:
            message: names the entry and what to do about it.

        Raises:
            DataError: unless skipping; the message then says how to skip instead.
        """
        if not self._skip:
            # `from None`: callers often reject inside an `except DataError`, and the
            # user needs this one message, not the chain.
            raise DataError(
                f"{message} To skip such entries instead, set --config.skip_bad_images=True "
                f"(skip_bad=True)."
            ) from None
        self._count += 1
        if self._first is None:
            self._first = message

    def warn_if_skipped(self) -> None:
        """Logs one warning with the count and the first problem, if any was skipped."""
        if self._count:
            _LOG.warning(
                "Skipped %d bad %s in %s (the first: %s)",
                self._count,
                self._unit,
                self._location,
                self._first,
            )


def build_records(
    sources: List,
    identity_labels: Sequence[Optional[str]],
    expression_labels: Sequence[Optional[str]],
    subjects: Sequence[str],
    dataset: str,
    location: str,
    expression_names: Optional[List[str]] = None,
    action_units: Optional[Sequence[Sequence[int]]] = None,
    action_unit_names: Sequence[str] = (),
) -> FaceRecords:
    """Turns per-sample label names into a `FaceRecords` with index labels.

    Args:
        sources: one path or image per sample.
        identity_labels: identity name per sample, None where absent.
        expression_labels: expression name per sample, None where absent.
        subjects: subject key per sample.
        dataset: the format name stored in the records.
        location: the file or folder read, named when nothing was found.
        expression_names: the dataset's fixed class list; None derives it from the
            labels found.
        action_units: per sample, its AU labels over `action_unit_names` (1, 0,
            -1 = not annotated); None when the dataset has none.
        action_unit_names: the AU labels' names ("AU12").

    Returns:
        The records; identity names are sorted.

    Raises:
        DataError: no samples were found.
    """
    if not sources:
        raise DataError(
            f"{location} holds no usable {dataset} samples: check that it follows the "
            f"{dataset} layout."
        )
    identity_names = sorted({name for name in identity_labels if name is not None})
    if expression_names is None:
        expression_names = ordered_expression_names(
            name for name in expression_labels if name is not None
        )
    identity_index = {name: i for i, name in enumerate(identity_names)}
    expression_index = {name: i for i, name in enumerate(expression_names)}
    return FaceRecords(
        sources=list(sources),
        identity=[MISSING_LABEL if n is None else identity_index[n] for n in identity_labels],
        expression=[
            MISSING_LABEL if n is None else expression_index[n] for n in expression_labels
        ],
        subject=list(subjects),
        identity_names=identity_names,
        expression_names=list(expression_names),
        dataset=dataset,
        action_units=None if action_units is None else np.asarray(action_units, np.int8).reshape(
            len(sources), len(action_unit_names)),
        action_unit_names=list(action_unit_names),
    )
