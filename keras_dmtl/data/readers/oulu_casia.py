"""Oulu-CASIA: expression sequences in P###/<Expression> folders, nested at any depth."""

from __future__ import annotations

import os
import re
from typing import List, Optional

from keras_dmtl.data.readers.base import APEX_FRAMES
from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import expression_folder
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import PATTERN
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_EXPRESSIONS = ("anger", "disgust", "fear", "happy", "sadness", "surprise")
_SUBJECT_FOLDER = re.compile(r"^P\d+$")

# How deep detection looks for subject folders (e.g. root/OriginalImg/VL/Strong/P001):
# deep enough for the published tree, shallow enough not to walk a whole unrelated
# dataset.
_DETECT_DEPTH = 5


def _subject_dirs(root: str, max_depth: Optional[int] = None) -> List[str]:
    """Finds P### folders under root, at most `max_depth` levels down (None: any)."""
    found = []
    for directory, children, _ in os.walk(root):
        relative = os.path.relpath(directory, root)
        depth = 0 if relative == os.curdir else relative.count(os.sep) + 1
        subject_children = [c for c in children if _SUBJECT_FOLDER.match(c)]
        found.extend(os.path.join(directory, c) for c in subject_children)
        # A subject folder holds expression folders, not further subjects.
        children[:] = sorted(
            c for c in children if not c.startswith(".") and c not in subject_children
        )
        if max_depth is not None and depth + 1 >= max_depth:
            children[:] = []
    return sorted(found)


def _is_oulu_casia_root(root: str) -> bool:
    return bool(_subject_dirs(root, max_depth=_DETECT_DEPTH))


@register("oulu_casia", takes=FOLDER, matches=_is_oulu_casia_root, specificity=PATTERN)
def read_oulu_casia(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads Oulu-CASIA: the last 3 frames of each subject's expression sequence.

    Layout: .../P###/<Expression>/*.jpeg, the P### folders possibly nested under
    lighting and imaging folders (e.g. VL/Strong/). A sequence is the files of one
    P###/<Expression> folder. The same P### under several lighting folders is the
    same person: point root at one image set (original or cropped), not both.

    Args:
        root: a folder holding P### folders at any depth.
        skip_bad: skip sequence folders whose name is not one of the six Oulu-CASIA
            expressions (a warning gives their count) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = "P###".
    """
    require_directory(root, "Oulu-CASIA")
    bad = BadEntries(skip_bad, root, "sequences")
    sources, expressions, subjects = [], [], []
    for subject_dir in _subject_dirs(root):
        subject = os.path.basename(subject_dir)
        for folder in subdirectories(subject_dir):
            try:
                expression = expression_folder(subject_dir, folder, "Oulu-CASIA", _EXPRESSIONS)
            except DataError as error:
                bad.reject(str(error))
                continue
            frame_dir = os.path.join(subject_dir, folder)
            for name in image_files(frame_dir)[-APEX_FRAMES:]:
                sources.append(os.path.join(frame_dir, name))
                expressions.append(expression)
                subjects.append(subject)
    bad.warn_if_skipped()
    return build_records(sources, subjects, expressions, subjects, "oulu_casia", root,
                         list(_EXPRESSIONS))
