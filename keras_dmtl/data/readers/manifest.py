"""A generic CSV manifest of labelled images: path,identity,expression[,subject]."""

from __future__ import annotations

import csv
import os
from typing import List, Optional, Tuple

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import csv_header
from keras_dmtl.data.readers.base import header
from keras_dmtl.data.readers.base import require_file
from keras_dmtl.data.readers.registry import FILE
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_HEADER = ["path", "identity", "expression"]
_OPTIONAL_COLUMN = "subject"


def _is_manifest(path: str) -> bool:
    # The first three columns decide; a wrong fourth is reported by the reader.
    return (csv_header(path) or [])[: len(_HEADER)] == _HEADER


def _has_subject_column(found_header: List[str], path: str) -> bool:
    """Checks a manifest header; returns whether it has the subject column."""
    if found_header == _HEADER:
        return False
    if found_header == _HEADER + [_OPTIONAL_COLUMN]:
        return True
    raise DataError(
        f"{path} is not a manifest: expected header path,identity,expression[,subject], "
        f"found {','.join(found_header)[:80]!r}."
    )


def _expression(cell: str) -> Optional[str]:
    # A user's own class names ("smirk") are kept; known spellings join the
    # canonical space so that the manifest combines with the other datasets.
    if not cell:
        return None
    return canonical_expression(cell) or cell


def _parse_row(
    cells: List[str], has_subject: bool, base: str, csv_path: str, line: int
) -> Tuple[str, Optional[str], Optional[str], str]:
    """Returns a row's (image path, identity, expression, subject).

    Raises:
        DataError: the row is unusable; the message names its line.
    """
    width = 4 if has_subject else 3
    if len(cells) != width:
        raise DataError(
            f"{csv_path} line {line}: expected {width} fields, found {len(cells)}; fix "
            f"that line (quote paths that contain commas)."
        )
    path, identity, expression = cells[:3]
    if not path:
        raise DataError(
            f"{csv_path} line {line}: the path is blank; fill it in or delete that line."
        )
    path = os.path.normpath(os.path.join(base, path))
    if not os.path.isfile(path):
        raise DataError(
            f"{csv_path} line {line} names {path}, which does not exist: fix the path "
            f"(relative paths start at the CSV's folder)."
        )
    subject = cells[3] if has_subject and cells[3] else (identity or path)
    return path, identity or None, _expression(expression), subject


@register("manifest", takes=FILE, matches=_is_manifest, specificity=SIGNATURE)
def read_manifest(csv_path: str, skip_bad: bool = False) -> FaceRecords:
    """Reads a generic CSV manifest of labelled images.

    Columns: path,identity,expression and optionally subject. Identity and
    expression are names; a blank cell means the label is absent. Relative paths
    resolve against the CSV's folder. Expression names that are a known spelling of
    a canonical expression are mapped onto it; other names are kept as written.

    Args:
        csv_path: the manifest CSV.
        skip_bad: skip rows with the wrong number of fields, a blank path or a
            path that does not exist (a warning gives their count) instead of
            raising DataError.

    Returns:
        FaceRecords; a row's subject defaults to its identity name, or to its image
        path when the identity is blank.
    """
    require_file(csv_path, "the manifest CSV")
    base = os.path.dirname(os.path.abspath(csv_path))
    bad = BadEntries(skip_bad, csv_path, "rows")
    sources, identities, expressions, subjects = [], [], [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        has_subject = _has_subject_column(header(next(reader, [])), csv_path)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            try:
                path, identity, expression, subject = _parse_row(
                    cells, has_subject, base, csv_path, reader.line_num
                )
            except DataError as error:
                bad.reject(str(error))
                continue
            sources.append(path)
            identities.append(identity)
            expressions.append(expression)
            subjects.append(subject)
    bad.warn_if_skipped()
    return build_records(sources, identities, expressions, subjects, "manifest", csv_path)
