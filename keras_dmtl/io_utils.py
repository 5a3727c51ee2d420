"""Atomic file writes: a killed run never leaves a half-written file behind (TF-free)."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, renamed onto `path` on success.

    Args:
        path: the final file path.

    Yields:
        A temporary file path in the same directory (same suffix), so that the
        final rename is atomic on POSIX file systems.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, data):
    """Writes `data` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")


def read_json(path):
    with open(path) as stream:
        return json.load(stream)
