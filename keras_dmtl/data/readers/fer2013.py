"""FER2013: one CSV of 48x48 grayscale faces with an expression each, no identities."""

from __future__ import annotations

import csv
from typing import List, Optional, Tuple

import numpy as np

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import csv_header
from keras_dmtl.data.readers.base import header
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.base import require_file
from keras_dmtl.data.readers.registry import FILE
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

# FER2013's own label codes, as published.
_CODES = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")
_HEADER = ["emotion", "pixels", "Usage"]
_USAGES = ("Training", "PublicTest", "PrivateTest")
_SIDE = 48


def _is_fer2013_csv(path: str) -> bool:
    return csv_header(path) == _HEADER


def _parse_row(row: List[str], path: str, line: int) -> Tuple[np.ndarray, int]:
    """Returns a row's (uint8 48x48 image, FER code); DataError naming the line if broken."""
    if len(row) != 3:
        raise DataError(
            f"{path} line {line}: expected 3 fields (emotion,pixels,Usage), found "
            f"{len(row)}; fix or delete that line."
        )
    try:
        code = int(row[0])
        pixels = np.array(row[1].split(), dtype=np.int64)
    except ValueError:
        raise DataError(
            f"{path} line {line}: emotion and pixels must be integers; fix or delete "
            f"that line."
        ) from None
    if not 0 <= code < len(_CODES):
        raise DataError(
            f"{path} line {line}: emotion code {code} is outside the FER2013 codes "
            f"0..6; fix or delete that line."
        )
    if pixels.size != _SIDE * _SIDE:
        raise DataError(
            f"{path} line {line}: expected {_SIDE * _SIDE} pixel values, found "
            f"{pixels.size}; fix or delete that line."
        )
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(
            f"{path} line {line}: pixel values must lie in 0..255, found "
            f"{pixels.min()}..{pixels.max()}; fix or delete that line."
        )
    return pixels.astype(np.uint8).reshape(_SIDE, _SIDE), code


@register("fer2013", takes=FILE, matches=_is_fer2013_csv, specificity=SIGNATURE)
def read_fer2013(
    csv_path: str, usage: Optional[str] = None, skip_bad: bool = False
) -> FaceRecords:
    """Reads the FER2013 CSV: 48x48 grayscale faces with an expression each.

    The CSV has the header emotion,pixels,Usage; FER codes 0=Angry, 1=Disgust,
    2=Fear, 3=Happy, 4=Sad, 5=Surprise, 6=Neutral map onto canonical names.
    FER2013 has no identities and no subject information, so every row is its own
    subject, "fer2013_<row>" with <row> counted from 0 over the whole file (the
    key does not change with `usage` or `skip_bad`).

    Args:
        csv_path: path of fer2013.csv.
        usage: keep only rows of this Usage: "Training", "PublicTest" or
            "PrivateTest"; None keeps all.
        skip_bad: skip malformed rows (a warning gives their count) instead of
            raising DataError.

    Returns:
        FaceRecords whose sources are uint8 (48, 48) arrays and identities are -1.
    """
    if usage is not None and usage not in _USAGES:
        raise DataError(
            f"usage={usage!r} is not a FER2013 Usage: use one of "
            f"{', '.join(_USAGES)} (or None for all rows)."
        )
    require_file(csv_path, "fer2013.csv")
    bad = BadEntries(skip_bad, csv_path, "rows")
    sources, expressions, subjects = [], [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        found_header = header(next(reader, []))
        if found_header != _HEADER:
            raise DataError(
                f"{csv_path} is not a FER2013 CSV: expected header emotion,pixels,Usage, "
                f"found {','.join(found_header)[:80]!r}."
            )
        for row_index, row in enumerate(reader):
            if not row:
                continue
            if usage is not None and len(row) == 3 and row[2].strip() != usage:
                continue
            try:
                image, code = _parse_row(row, csv_path, reader.line_num)
            except DataError as error:
                bad.reject(str(error))
                continue
            sources.append(image)
            expressions.append(_CODES[code])
            subjects.append(f"fer2013_{row_index}")
    bad.warn_if_skipped()
    location = csv_path if usage is None else f"{csv_path} (Usage={usage})"
    return build_records(sources, [None] * len(sources), expressions, subjects, "fer2013",
                         location, ordered_expression_names(_CODES))
