"""CelebA: celebrity photos with an identity number each, listed in `identity_CelebA.txt`.

Layout: the identity file (`000001.jpg 2880` per line, optionally under a header
line `image identity`) beside one folder of the photos (`img_celeba/`,
`img_align_celeba/`, or any single folder of images). Photos the file lists but
the folder lacks are left out, so a subset of CelebA reads as it is. CelebA has
no expression labels (its 40 attributes include "Smiling", which is not one of
the expressions).
"""

from __future__ import annotations

import os

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

IDENTITY_FILE = "identity_CelebA.txt"


def _image_folder(root: str) -> str:
    folders = [name for name in subdirectories(root) if image_files(os.path.join(root, name))]
    if len(folders) != 1:
        raise DataError(f"{root}: expected one folder of photos beside {IDENTITY_FILE}, found "
                        f"{len(folders)} ({', '.join(folders) or 'none'}); move the others out.")
    return os.path.join(root, folders[0])


def _is_layout(root: str) -> bool:
    return os.path.isfile(os.path.join(root, IDENTITY_FILE))


@register("celeba", takes=FOLDER, matches=_is_layout, specificity=SIGNATURE)
def read_celeba(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads CelebA (or a subset of it) by its identity file.

    Args:
        root: the folder holding identity_CelebA.txt and the photo folder.
        skip_bad: skip malformed lines of the identity file (counted in one
            warning) instead of raising DataError.

    Returns:
        FaceRecords with identity = subject = "celeba_<number>" and no
        expressions, in the identity file's order.
    """
    require_directory(root, "CelebA")
    path = os.path.join(root, IDENTITY_FILE)
    if not os.path.isfile(path):
        raise DataError(f"{root} has no {IDENTITY_FILE}: pass the folder that holds it and "
                        "the photos.")
    folder = _image_folder(root)
    present = set(image_files(folder))
    bad = BadEntries(skip_bad, path, "lines")
    sources, identities = [], []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            fields = line.split()
            if not fields or (number == 1 and fields == ["image", "identity"]):
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                bad.reject(f"{path} line {number}: expected '<image> <identity number>', "
                           f"found {line.strip()[:80]!r}; fix or delete that line.")
                continue
            if fields[0] in present:
                sources.append(os.path.join(folder, fields[0]))
                identities.append(f"celeba_{int(fields[1])}")
    bad.warn_if_skipped()
    return build_records(sources, identities, [None] * len(sources), identities, "celeba",
                         root, [])
