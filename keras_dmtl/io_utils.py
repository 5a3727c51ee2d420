"""Atomic, durable file writes: a killed run or a power loss never leaves a half-written
or empty file behind (TF-free)."""

import contextlib
import hashlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, renamed onto `path` on success.

    The temporary file (or every file of a temporary folder) is fsynced before the
    rename and the parent folder after it: without that, a power loss shortly after
    the rename can leave `path` empty, since the file system may commit the rename
    before the data.

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
        _fsync_tree(temporary)
        os.replace(temporary, path)
        _fsync_path(directory)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _fsync_path(path):
    """Flushes one file's or folder's data and metadata to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(path):
    """fsyncs a file, or a folder with everything in it (a SavedModel is a folder)."""
    if os.path.isdir(path):
        for root, folders, files in os.walk(path, topdown=False):
            for name in files:
                _fsync_path(os.path.join(root, name))
            _fsync_path(root)
    else:
        _fsync_path(path)


def write_json(path, data):
    """Writes `data` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")


def read_json(path):
    with open(path) as stream:
        return json.load(stream)


def sha256_digest(path):
    """The sha256 hex digest of a file, or of a folder's files in path order
    (their contents concatenated, e.g. a SavedModel), read in 1 MiB blocks."""
    if os.path.isdir(path):
        files = sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                       for name in names)
    else:
        files = [path]
    digest = hashlib.sha256()
    for name in files:
        with open(name, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()

