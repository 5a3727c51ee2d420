"""FER2013 as image folders: `<split>/<expression>/<Usage>_<number>.jpg`.

The common image-folder copy of FER2013 (the CSV's rows written out as 48x48 gray
JPEGs): `train/` holds the 28,709 "Training" rows, `test/` the 7,178 "PublicTest"
and "PrivateTest" rows, each split in folders `angry`, `disgust`, `fear`, `happy`,
`neutral`, `sad`, `surprise`. Pass one split folder, so that the standard test
split stays a test split. Each face is its own subject: FER2013 has no identities.
"""

from __future__ import annotations

import os
import re

from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import expression_folder
from keras_dmtl.data.readers.base import image_files
from keras_dmtl.data.readers.base import natural_key
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import SIGNATURE
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import FaceRecords

_FILE_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_(\d+)\.(jpe?g|png)$", re.IGNORECASE)


def _is_split_folder(root: str) -> bool:
    folders = subdirectories(root)
    if not folders:
        return False
    for folder in folders:
        if not any(_FILE_NAME.match(name) for name in image_files(os.path.join(root, folder))):
            return False
    return True


@register("fer2013_folders", takes=FOLDER, matches=_is_split_folder, specificity=SIGNATURE)
def read_fer2013_folders(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads one split folder of the FER2013 image-folder copy (`train/` or `test/`).

    Args:
        root: the split folder of expression folders.
        skip_bad: skip files not named `<Usage>_<number>.<jpg|png>` (counted in
            one warning) instead of raising DataError. A folder that names no
            expression raises either way.

    Returns:
        FaceRecords with the folder's expression, no identities, and each face its
        own subject, "fer2013_<Usage>_<number>".
    """
    require_directory(root, "FER2013 split (train/ or test/)")
    bad = BadEntries(skip_bad, root, "files")
    sources, expressions, subjects = [], [], []
    for folder in subdirectories(root):
        expression = expression_folder(root, folder, "FER2013 image-folder")
        directory = os.path.join(root, folder)
        for name in sorted(visible_entries(directory), key=natural_key):
            match = _FILE_NAME.match(name)
            if not match:
                bad.reject(f"{os.path.join(directory, name)} is not named like FER2013's "
                           "<Usage>_<number>.jpg: move it out of the split folder.")
                continue
            sources.append(os.path.join(directory, name))
            expressions.append(expression)
            subjects.append(f"fer2013_{match.group(1)}_{match.group(2)}")
    bad.warn_if_skipped()
    return build_records(sources, [None] * len(sources), expressions, subjects,
                         "fer2013_folders", root, ordered_expression_names(expressions))
