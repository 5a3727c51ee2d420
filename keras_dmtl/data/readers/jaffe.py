"""JAFFE: one flat folder of portraits, subject and expression in each file name."""

from __future__ import annotations

import os
import re

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import is_image
from keras_dmtl.data.readers.base import natural_key
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import PATTERN
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import FaceRecords

# JAFFE's expression codes, as its file names spell them, in words that
# `canonical_expression` knows.
_CODES = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
# KA.AN1.39.tiff: subject KA, expression AN, its 1st take, image 39 of the set.
# Any image extension: copies converted to PNG or JPEG keep the names.
_STEM = re.compile(r"^([A-Z]{2})\.(%s)(\d+)\.(\d+)$" % "|".join(_CODES), re.IGNORECASE)
_EXAMPLE = "KA.AN1.39.tiff"


def _jaffe_subject_and_code(name: str):
    """(subject, expression code) of a JAFFE image file name, or None."""
    if not is_image(name):
        return None
    match = _STEM.match(os.path.splitext(name)[0])
    if match is None:
        return None
    return match.group(1).upper(), match.group(2).upper()


def _is_jaffe_root(root: str) -> bool:
    # One JAFFE-named image is the signature; a stray badly named file beside the
    # others is the reader's to report, not a reason to miss the layout.
    return any(
        _jaffe_subject_and_code(name) and os.path.isfile(os.path.join(root, name))
        for name in visible_entries(root)
    )


@register("jaffe", takes=FOLDER, matches=_is_jaffe_root, specificity=PATTERN)
def read_jaffe(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads JAFFE (Lyons et al. 1998): 213 portraits of 10 women, 7 expressions.

    Layout: one flat folder of root/<subject>.<code><take>.<number>.tiff, e.g.
    root/KA.AN1.39.tiff; codes AN, DI, FE, HA, NE, SA, SU (neutral is a class).
    Other image extensions are read too. Files that are not images (a README)
    are ignored.

    Args:
        root: the folder of images.
        skip_bad: skip images whose names do not follow the pattern, and
            subfolders, (a warning gives their count) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = the two-letter code ("KA");
        expression_names are JAFFE's seven classes in canonical order.
    """
    require_directory(root, "JAFFE")
    bad = BadEntries(skip_bad, root, "entries")
    sources, expressions, subjects = [], [], []
    for name in sorted(visible_entries(root), key=natural_key):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            bad.reject(f"{path} is a folder: the JAFFE layout is one flat folder of "
                       f"images; move its images up or move it out.")
            continue
        if not is_image(name):
            continue
        labels = _jaffe_subject_and_code(name)
        if labels is None:
            bad.reject(
                f"{path} is not named like a JAFFE image ({_EXAMPLE}: subject, expression "
                f"code {'/'.join(_CODES)} with its take, image number): rename or remove it."
            )
            continue
        subject, code = labels
        sources.append(path)
        expressions.append(canonical_expression(_CODES[code]))
        subjects.append(subject)
    bad.warn_if_skipped()
    classes = ordered_expression_names(canonical_expression(word) for word in _CODES.values())
    return build_records(sources, subjects, expressions, subjects, "jaffe", root, classes)
