"""Identity sets with one folder of images per person; and LFW's pairs files.

The one layout of LFW (Ann_Lee/Ann_Lee_0001.jpg), CASIA-WebFace (0000045/001.jpg),
VGGFace2 (n000002/0001_01.jpg) and any "one folder per person" set: the folder
name is the identity, file names carry nothing. Registered as "lfw", the name it
had before it was generalised, so that saved configs keep working.
"""

from __future__ import annotations

import os
import re
from typing import List, Tuple

import numpy as np

from keras_dmtl.data.readers.base import IMAGE_EXTENSIONS
from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import is_image
from keras_dmtl.data.readers.base import natural_key
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FALLBACK
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

_PAIR_INDEX = re.compile(r"^[1-9]\d*$")


def _is_lfw_root(root: str) -> bool:
    folders = subdirectories(root)
    # A folder named like an expression means an expression layout with a stray
    # folder (CK+48 with "smug/", say): read as people it would silently train on
    # the wrong labels, so it is left unrecognised and the user is asked.
    if any(canonical_expression(folder) for folder in folders):
        return False
    return any(image_files(os.path.join(root, folder)) for folder in folders)


@register("lfw", takes=FOLDER, matches=_is_lfw_root, specificity=FALLBACK)
def read_lfw(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads an identity set with one folder of images per person.

    Layout: root/<person>/<any name>.jpg, e.g. LFW's root/Ann_Lee/Ann_Lee_0001.jpg,
    CASIA-WebFace's root/0000045/001.jpg or VGGFace2's root/n000002/0001_01.jpg.
    Files directly under root (pairs.txt, lfw-names.txt, train_list.txt) are
    ignored. Expressions are absent.

    Args:
        root: the folder of person folders.
        skip_bad: skip entries of person folders that are not images (a warning
            gives their count) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = the folder name and expression -1.
    """
    require_directory(root, "folder-per-identity (LFW, CASIA-WebFace, VGGFace2)")
    bad = BadEntries(skip_bad, root, "entries")
    sources, identities = [], []
    for person in subdirectories(root):
        person_dir = os.path.join(root, person)
        for name in sorted(visible_entries(person_dir), key=natural_key):
            path = os.path.join(person_dir, name)
            if os.path.isdir(path) or not is_image(name):
                bad.reject(
                    f"{path} is not an image: a folder-per-identity root (LFW, "
                    f"CASIA-WebFace, VGGFace2) holds one folder of "
                    f"{'/'.join(IMAGE_EXTENSIONS)} images per person; move it out or "
                    f"point at the right folder."
                )
                continue
            sources.append(path)
            identities.append(person)
    bad.warn_if_skipped()
    return build_records(sources, identities, [None] * len(sources), identities, "lfw", root, [])


def _pair_count(first_line: List[str], path: str) -> int:
    """Returns how many pair lines follow the pairs.txt header line."""
    if 1 <= len(first_line) <= 2 and all(_PAIR_INDEX.match(f) for f in first_line):
        counts = [int(f) for f in first_line]
        # "10 300": 10 folds of 300 matched and 300 mismatched pairs; "1100": 1100
        # matched then 1100 mismatched (pairsDevTrain.txt).
        return 2 * int(np.prod(counts))
    raise DataError(
        f"{path} line 1: expected the pair counts ('10<TAB>300' or '1100'), found "
        f"{' '.join(first_line)[:80]!r}; is this an LFW pairs file?"
    )


def read_lfw_pairs(pairs_path: str, root: str) -> List[Tuple[str, str, bool]]:
    """Reads an LFW pairs file (pairs.txt, pairsDevTest.txt, ...).

    Lines are "name i j" (same person) or "name1 i name2 j" (different people);
    image i of name is root/name/name_{i:04d}.jpg. Pairs keep the file's order, so
    with the header "10 300" fold f is pairs[600 * f : 600 * (f + 1)]. A broken
    line always raises: skipping it would shift every later fold.

    Args:
        pairs_path: the pairs file.
        root: the LFW image root.

    Returns:
        A list of (path_a, path_b, is_same).
    """
    if not os.path.isfile(pairs_path):
        raise DataError(f"{pairs_path} does not exist: pass the path of LFW's pairs.txt.")
    with open(pairs_path, encoding="utf-8") as handle:
        lines = [line.split() for line in handle]
    if not lines:
        raise DataError(f"{pairs_path} is empty: pass the path of LFW's pairs.txt.")
    expected = _pair_count(lines[0], pairs_path)

    def image_path(name: str, index: str, line: int) -> str:
        if not _PAIR_INDEX.match(index):
            raise DataError(
                f"{pairs_path} line {line}: image number {index!r} is not a positive "
                f"integer; fix that line."
            )
        path = os.path.join(root, name, f"{name}_{int(index):04d}.jpg")
        if not os.path.isfile(path):
            raise DataError(
                f"{pairs_path} line {line} names {path}, which does not exist: check "
                f"the LFW root."
            )
        return path

    pairs = []
    for line_number, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue
        if len(fields) == 3:
            name, i, j = fields
            pairs.append((image_path(name, i, line_number), image_path(name, j, line_number), True))
        elif len(fields) == 4:
            name_a, i, name_b, j = fields
            pairs.append(
                (image_path(name_a, i, line_number), image_path(name_b, j, line_number), False)
            )
        else:
            raise DataError(
                f"{pairs_path} line {line_number}: expected 'name i j' or "
                f"'name1 i name2 j', found {' '.join(fields)[:80]!r}; fix that line."
            )
    if len(pairs) != expected:
        raise DataError(
            f"{pairs_path}: its first line announces {expected} pairs but it lists "
            f"{len(pairs)}; restore the file."
        )
    return pairs
