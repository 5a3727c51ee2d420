"""LFW photos with an expression label each: one `images/` folder and `data/legend.csv`.

The layout of the public "facial_expressions" collection: 13,718 photos, most of
them LFW's (`images/Aaron_Eckhart_0001.jpg`, 350x350 gray), about 900 of eight
Indian film actors from IMFDB (`images/HrithikRoshan_101.jpg`), and a legend
`user.id,image,emotion` giving each photo one of eight expressions, in any case
("happiness", "HAPPINESS"). The person is in the file name: the name before its
trailing `_<number>`. A photo whose name carries no person
(`facial-expressions_2868588k.jpg`) keeps its expression, without identity.

`part` reads one population alone: "lfw" (the `First_Last_0001` names) or
"imfdb" (the `FirstLast_101` names), so that each can be scored on its own.
"""

from __future__ import annotations

import collections
import csv
import os
import re
from typing import Dict, Optional

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import header
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

LEGEND = os.path.join("data", "legend.csv")
IMAGES = "images"
_LEGEND_HEADER = ["user.id", "image", "emotion"]
_LFW_NAME = re.compile(r"^(.+)_\d{4}\.[A-Za-z]+$")
_IMFDB_NAME = re.compile(r"^([A-Za-z]+)_\d+\.[A-Za-z]+$")
PARTS = ("lfw", "imfdb")


def person_of(name: str) -> Optional[tuple]:
    """(part, person) a file name names, or None: "Ann_Lee_0001.jpg" is LFW's
    Ann_Lee, "HrithikRoshan_12.jpg" IMFDB's HrithikRoshan."""
    match = _LFW_NAME.match(name)
    if match:
        return "lfw", match.group(1)
    match = _IMFDB_NAME.match(name)
    if match and not name.lower().startswith("facial-expressions"):
        return "imfdb", match.group(1)
    return None


def _is_layout(root: str) -> bool:
    path = os.path.join(root, LEGEND)
    if not (os.path.isdir(os.path.join(root, IMAGES)) and os.path.isfile(path)):
        return False
    with open(path, newline="", encoding="utf-8-sig") as stream:
        return header(next(csv.reader(stream), [])) == _LEGEND_HEADER


def _legend(root: str, bad: BadEntries) -> Dict[str, str]:
    """Expression per file name; a file labelled twice keeps its most frequent label
    (the first of a tie)."""
    path = os.path.join(root, LEGEND)
    votes = collections.defaultdict(collections.Counter)
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        found = header(next(reader, []))
        if found != _LEGEND_HEADER:
            raise DataError(f"{path}: expected the header {','.join(_LEGEND_HEADER)}, found "
                            f"{','.join(found)[:80]!r}.")
        for row in reader:
            if not row:
                continue
            expression = canonical_expression(row[2]) if len(row) == 3 else None
            if expression is None:
                bad.reject(f"{path} line {reader.line_num}: expected user.id,image,emotion "
                           f"with a known expression, found {','.join(row)[:80]!r}; fix or "
                           "delete that line.")
                continue
            votes[row[1].strip()][expression] += 1
    return {name: counts.most_common(1)[0][0] for name, counts in votes.items()}


@register("lfw_expressions", takes=FOLDER, matches=_is_layout, specificity=SIGNATURE)
def read_lfw_expressions(root: str, skip_bad: bool = False,
                         part: Optional[str] = None) -> FaceRecords:
    """Reads the LFW-with-expressions layout (`images/` + `data/legend.csv`).

    Args:
        root: the folder holding `images/` and `data/`.
        skip_bad: skip legend rows without a known expression (counted in one
            warning) instead of raising DataError.
        part: None for every photo, "lfw" or "imfdb" for one population.

    Returns:
        FaceRecords: identity = subject = the person in the file name (a photo
        that names none is its own subject, without identity); expression from
        the legend, -1 for a photo it does not list.
    """
    require_directory(root, "LFW with expressions (images/ + data/legend.csv)")
    if part not in (None,) + PARTS:
        raise DataError(f"part={part!r}: choose one of {', '.join(PARTS)}, or None for all.")
    if not _is_layout(root):
        raise DataError(f"{root} lacks {IMAGES}/ or {LEGEND}: pass the folder that holds both.")
    bad = BadEntries(skip_bad, os.path.join(root, LEGEND), "rows")
    legend = _legend(root, bad)
    bad.warn_if_skipped()
    sources, identities, expressions, subjects = [], [], [], []
    for name in image_files(os.path.join(root, IMAGES)):
        person = person_of(name)
        if part is not None and (person is None or person[0] != part):
            continue
        sources.append(os.path.join(root, IMAGES, name))
        identities.append(None if person is None else person[1])
        expressions.append(legend.get(name))
        subjects.append(name if person is None else person[1])
    expression_names = ordered_expression_names(e for e in expressions if e is not None)
    return build_records(sources, identities, expressions, subjects, "lfw_expressions", root,
                         expression_names)
