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
import struct

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


# --- MXNet RecordIO, written with struct as dmlc-core's RecordIOWriter does ---------

RECORDIO_MAGIC = struct.pack("<I", 0xCED7230A)


def pack_image_record(labels, payload, record_id=0, record_id2=0):
    """An MXNet image record: header "IfQQ" (flag, label, id, id2), labels, payload.

    One label goes in the header (flag 0); several follow it as float32 (flag = count),
    as `mxnet.recordio.pack` writes them.
    """
    labels = [float(v) for v in np.atleast_1d(labels)]
    if len(labels) == 1:
        return struct.pack("<IfQQ", 0, labels[0], record_id, record_id2) + payload
    return (struct.pack("<IfQQ", len(labels), 0.0, record_id, record_id2)
            + np.asarray(labels, "<f4").tobytes() + payload)


def _frame(flag, data):
    padding = b"\0" * (-len(data) % 4)
    return RECORDIO_MAGIC + struct.pack("<I", (flag << 29) | len(data)) + data + padding


def frame_record(data):
    """One record's bytes in a .rec file: split where the magic sits at a 4-aligned
    position of the data (the magic itself dropped), flags 1 / 2 / 3 on the parts."""
    cuts = [i for i in range(0, len(data) - len(data) % 4, 4)
            if data[i:i + 4] == RECORDIO_MAGIC]
    if not cuts:
        return _frame(0, data)
    starts = [0] + [cut + 4 for cut in cuts]
    ends = cuts + [len(data)]
    flags = [1] + [2] * (len(cuts) - 1) + [3]
    return b"".join(_frame(flag, data[start:end])
                    for flag, start, end in zip(flags, starts, ends))


def write_recordio(rec_path, idx_path, records):
    """Writes (key, record bytes) pairs as a .rec file and its .idx ("key\\toffset")."""
    os.makedirs(os.path.dirname(rec_path), exist_ok=True)
    offset, lines, chunks = 0, [], []
    for key, data in records:
        framed = frame_record(data)
        lines.append(f"{key}\t{offset}\n")
        chunks.append(framed)
        offset += len(framed)
    with open(rec_path, "wb") as handle:
        handle.write(b"".join(chunks))
    write_text(idx_path, "".join(lines))
    return str(rec_path), str(idx_path)


def jpeg_bytes(value, size=8):
    """A flat gray JPEG of the given pixel value."""
    ok, encoded = cv2.imencode(".jpg", np.full((size, size, 3), value, np.uint8))
    assert ok
    return encoded.tobytes()
