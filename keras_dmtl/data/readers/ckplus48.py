"""CK+48: face crops in one folder per expression, subjects in the file names."""

from __future__ import annotations

import os
import re

from keras_dmtl.data.generated import synthetic
from keras_dmtl.data.labels.action_units import action_unit_names
from keras_dmtl.data.readers.base import BadEntries
from keras_dmtl.data.readers.base import build_records
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import expression_folder
from keras_dmtl.data.readers.base import natural_key
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.base import require_directory
from keras_dmtl.data.readers.base import subdirectories
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.readers.registry import FOLDER
from keras_dmtl.data.readers.registry import PATTERN
from keras_dmtl.data.readers.registry import register
from keras_dmtl.data.records import FaceRecords

_FILE_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.(png|jpe?g|bmp)$", re.IGNORECASE)


def _is_ckplus48_root(root: str) -> bool:
    folders = subdirectories(root)
    return bool(folders) and all(canonical_expression(folder) for folder in folders)


@register("ckplus48", takes=FOLDER, matches=_is_ckplus48_root, specificity=PATTERN)
def read_ckplus48(root: str, skip_bad: bool = False) -> FaceRecords:
    """Reads the CK+48 crops: one folder per expression.

    Layout: root/<expression>/S{subject}_{sequence}_{frame}.png, e.g.
    root/happy/S010_004_00000017.png. Folder names may be any common spelling
    ("angry", "Sad", "happiness", ...).

    Args:
        root: the folder of expression folders.
        skip_bad: skip files whose names do not follow the pattern (a warning
            gives their count) instead of raising DataError. A folder that names
            no expression is a layout error and raises either way.

    Returns:
        FaceRecords with identity = subject = "S###"; expression_names are the
        classes of the folders present. A set of generated faces
        (`keras_dmtl.data.generated.synthetic`) also carries the action units each
        expression shows (`synthetic.EXPRESSION_ACTION_UNITS`); CK+48 has none.
    """
    require_directory(root, "CK+48")
    bad = BadEntries(skip_bad, root, "files")
    sources, expressions, subjects, found = [], [], [], []
    for folder in subdirectories(root):
        expression = expression_folder(root, folder, "CK+48")
        found.append(expression)
        directory = os.path.join(root, folder)
        for name in sorted(visible_entries(directory), key=natural_key):
            match = _FILE_NAME.match(name)
            if match is None:
                bad.reject(
                    f"{os.path.join(directory, name)} is not named like a CK+48 image "
                    f"(S010_004_00000017.png): rename or remove it."
                )
                continue
            sources.append(os.path.join(directory, name))
            expressions.append(expression)
            subjects.append(match.group(1).upper())
    bad.warn_if_skipped()
    names = ordered_expression_names(found)
    if not synthetic.is_generated_set(root):
        return build_records(sources, subjects, expressions, subjects, "ckplus48", root, names)
    return build_records(sources, subjects, expressions, subjects, "ckplus48", root, names,
                         action_units=synthetic.expression_action_units(expressions),
                         action_unit_names=action_unit_names(synthetic.GENERATED_ACTION_UNITS))
