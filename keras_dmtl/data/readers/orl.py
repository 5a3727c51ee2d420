"""The ORL (AT&T) faces: one folder s<N> of numbered images per person, no expressions."""

from __future__ import annotations

import os
import re

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import is_image
from keras_dmtl.data.readers.base import natural_key
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import PATTERN
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import FaceRecords

_SUBJECT_FOLDER = re.compile(r"^s[1-9]\d*$")
_IMAGE_STEM = re.compile(r"^[1-9]\d*$")


def _is_orl_root(root: str) -> bool:
    # Every folder an s<N>: an identity set whose people happen to include an "s3"
    # stays LFW-style.
    folders = subdirectories(root)
    return bool(folders) and all(_SUBJECT_FOLDER.match(folder) for folder in folders)


@register("orl", takes=FOLDER, matches=_is_orl_root, specificity=PATTERN)
def read_orl(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads the ORL / AT&T faces (Samaria & Harter 1994): 40 people, 10 images each.

    Layout: root/s<N>/<n>.pgm, e.g. root/s1/1.pgm, 92x112 grayscale; other image
    extensions are read too. Files directly under root (the README) are ignored.
    The images vary pose, lighting and expression, but carry no expression
    labels.

    Args:
        root: the folder of s<N> folders.
        skip_bad: skip folders not named s<N> and entries of the s<N> folders that
            are not numbered images (a warning gives their count) instead of
            raising DataError.

    Returns:
        FaceRecords with identity = subject = the folder name ("s1") and
        expression -1.
    """
    require_directory(root, "ORL")
    bad = BadEntries(skip_bad, root, "entries")
    sources, people = [], []
    for person in sorted(subdirectories(root), key=natural_key):
        person_dir = os.path.join(root, person)
        if not _SUBJECT_FOLDER.match(person):
            bad.reject(f"{person_dir} is not an ORL person folder (s1 ... s40): rename it "
                       f"or move it out.")
            continue
        for name in sorted(visible_entries(person_dir), key=natural_key):
            path = os.path.join(person_dir, name)
            stem = os.path.splitext(name)[0]
            if os.path.isdir(path) or not is_image(name) or not _IMAGE_STEM.match(stem):
                bad.reject(f"{path} is not a numbered ORL image (s1/1.pgm): rename it or "
                           f"move it out.")
                continue
            sources.append(path)
            people.append(person)
    bad.warn_if_skipped()
    return build_records(sources, people, [None] * len(sources), people, "orl", root, [])
