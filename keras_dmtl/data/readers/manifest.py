"""A generic CSV manifest of labelled images:
path,identity,expression[,subject][,action_units]."""

from __future__ import annotations

import csv
import os
from typing import FrozenSet, List, Optional, Tuple

from keras_dmtl.data.labels.action_units import DEFAULT_ACTION_UNITS
from keras_dmtl.data.labels.action_units import action_unit_names
from keras_dmtl.data.labels.action_units import multi_hot
from keras_dmtl.data.labels.action_units import parse_action_unit

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import csv_header
from keras_dmtl.data.readers.base import header
from keras_dmtl.data.readers.base import require_file
from keras_dmtl.data.readers.registry import FILE
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_HEADER = ["path", "identity", "expression"]
_SUBJECT = "subject"
_ACTION_UNITS = "action_units"
# Written in an action_units cell for a sample annotated with no active AU
# (FACS codes a neutral face as AU 0).
_NONE_ACTIVE = ("0", "none")


def _is_manifest(path: str) -> bool:
    # The first three columns decide; wrong further ones are reported by the reader.
    return (csv_header(path) or [])[: len(_HEADER)] == _HEADER


def _optional_columns(found_header: List[str], path: str) -> Tuple[bool, bool]:
    """Checks a manifest header; returns whether it has the subject and the
    action_units column."""
    for has_subject in (False, True):
        for has_units in (False, True):
            if found_header == (_HEADER + [_SUBJECT] * has_subject
                                + [_ACTION_UNITS] * has_units):
                return has_subject, has_units
    raise DataError(
        f"{path} is not a manifest: expected header "
        f"path,identity,expression[,subject][,action_units], "
        f"found {','.join(found_header)[:80]!r}."
    )


def _action_units(cell: str, csv_path: str, line: int) -> Optional[FrozenSet[int]]:
    """The AUs an action_units cell lists: None when blank (not annotated)."""
    if not cell:
        return None
    if cell.lower() in _NONE_ACTIVE:
        return frozenset()
    try:
        return frozenset(parse_action_unit(token) for token in cell.split("+"))
    except ValueError as error:
        raise DataError(
            f"{csv_path} line {line}: the action_units cell {cell!r} is not AUs joined by "
            f"'+' (e.g. 1+2+5 or AU6+AU12, 0 for none active, blank when not annotated): "
            f"{error}"
        ) from None


def _expression(cell: str) -> Optional[str]:
    # A user's own class names ("smirk") are kept; known spellings join the
    # canonical space so that the manifest combines with the other datasets.
    if not cell:
        return None
    return canonical_expression(cell) or cell


def _parse_row(
    cells: List[str], has_subject: bool, has_units: bool, base: str, csv_path: str, line: int
) -> Tuple[str, Optional[str], Optional[str], str, Optional[FrozenSet[int]]]:
    """Returns a row's (image path, identity, expression, subject, action units).

    Raises:
        DataError: the row is unusable; the message names its line.
    """
    width = 3 + has_subject + has_units
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
    units = _action_units(cells[-1], csv_path, line) if has_units else None
    return path, identity or None, _expression(expression), subject, units


@register("manifest", takes=FILE, matches=_is_manifest, specificity=SIGNATURE)
def read_manifest(csv_path: str, skip_bad: bool = False) -> FaceRecords:
    """Reads a generic CSV manifest of labelled images.

    Columns: path,identity,expression, then optionally subject, then optionally
    action_units. Identity and expression are names; a blank cell means the label
    is absent. Relative paths resolve against the CSV's folder. Expression names
    that are a known spelling of a canonical expression are mapped onto it; other
    names are kept as written.

    An action_units cell lists the active facial action units as FACS writes
    them, joined by "+": "1+2+5", "AU6+AU12" (any spelling `parse_action_unit`
    reads; no intensity letters). "0" (or "none") means annotated with none
    active, a blank cell not annotated. The AU labels cover the 17 default AUs
    (`DEFAULT_ACTION_UNITS`) and every AU the column names; an annotated row's AUs
    it does not list are absent (0), an unannotated row's are -1.

    Args:
        csv_path: the manifest CSV.
        skip_bad: skip rows with the wrong number of fields, a blank path, a
            path that does not exist or a malformed action_units cell (a warning
            gives their count) instead of raising DataError.

    Returns:
        FaceRecords; a row's subject defaults to its identity name, or to its image
        path when the identity is blank.
    """
    require_file(csv_path, "the manifest CSV")
    base = os.path.dirname(os.path.abspath(csv_path))
    bad = BadEntries(skip_bad, csv_path, "rows")
    sources, identities, expressions, subjects, units = [], [], [], [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        has_subject, has_units = _optional_columns(header(next(reader, [])), csv_path)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            try:
                path, identity, expression, subject, active = _parse_row(
                    cells, has_subject, has_units, base, csv_path, reader.line_num
                )
            except DataError as error:
                bad.reject(str(error))
                continue
            sources.append(path)
            identities.append(identity)
            expressions.append(expression)
            subjects.append(subject)
            units.append(active)
    bad.warn_if_skipped()
    if not has_units:
        return build_records(sources, identities, expressions, subjects, "manifest", csv_path)
    vocabulary = sorted(set(DEFAULT_ACTION_UNITS).union(*(u for u in units if u is not None)))
    rows = [[MISSING_LABEL] * len(vocabulary) if active is None else multi_hot(active, vocabulary)
            for active in units]
    return build_records(sources, identities, expressions, subjects, "manifest", csv_path,
                         action_units=rows, action_unit_names=action_unit_names(vocabulary))
