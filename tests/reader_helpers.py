"""File writers and the per-format layout lookup shared by the reader tests.

Every registered dataset format has a test module, tests/test_reader_<name>.py,
that defines `write_layout(directory, bad_entry=False) -> (path, sample_count)`:
it writes a tiny dataset of that layout under `directory` (at least three
subjects) and returns the path to read and how many samples it holds. With
`bad_entry`, it also writes one entry the reader cannot label (not counted).
tests/test_readers.py runs the shared reader contract on each of them.
"""

import importlib
import os

import cv2
import numpy as np
import pytest


def write_image(path):
    """Writes a flat 8x8 grayscale PNG (folders included); returns the path as str."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8), 128, np.uint8))
    return str(path)


def write_text(path, content):
    """Writes a text file (folders included); returns the path as str."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)
    return str(path)


def label_names(names, indices):
    """Index labels as names, None where absent (-1)."""
    return [names[i] if i >= 0 else None for i in indices]


def layout_writer(name):
    """The `write_layout` of tests/test_reader_<name>.py.

    Fails the test, saying what to add, when the format has no such module.
    """
    module_name = f"tests.test_reader_{name}"
    try:
        writer = getattr(importlib.import_module(module_name), "write_layout", None)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        writer = None
    if writer is None:
        pytest.fail(f"Dataset format {name!r} is registered but {module_name} does not "
                    f"define write_layout(directory, bad_entry=False): add its test.")
    return writer
