"""Write an export folder beside the old one, then swap it in whole.

A runtime reads the manifest's thresholds and checksums together with the model
files; writing new models in place before the new manifest would leave, after a
crash, thresholds of one model beside the file of another. The new export is
built in a staging folder next to `out_dir` and only a complete one replaces it.
"""

import contextlib
import os
import shutil
import tempfile

from keras_dmtl.data.records import DataError

MANIFEST_NAME = "manifest.json"


def _is_replaceable(directory):
    """An export folder of ours (it has a manifest) or an empty folder."""
    return not os.listdir(directory) or os.path.exists(os.path.join(directory, MANIFEST_NAME))


@contextlib.contextmanager
def staged_directory(out_dir):
    """Yields an empty staging folder that replaces `out_dir` when the block succeeds.

    On an exception the staging folder is removed and `out_dir` is untouched.
    The swap is two renames (the old folder aside, the new one in, then the old
    one removed): a reader in between finds no manifest and fails closed; a crash
    in between leaves `<out_dir>.previous-*` beside it, which the next export
    removes.

    Args:
        out_dir: the export folder to (re)write.

    Raises:
        DataError: `out_dir` exists and is neither empty nor an export folder, so
            replacing it could delete files that are not ours.
    """
    out_dir = os.path.abspath(out_dir)
    parent, name = os.path.split(out_dir)
    if os.path.isdir(out_dir) and not _is_replaceable(out_dir):
        raise DataError(f"--out_dir {out_dir} holds files but no {MANIFEST_NAME}: it is not an "
                        "export folder, and exporting replaces the whole folder. Choose an "
                        "empty or new --out_dir.")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"--out_dir {out_dir} is a file: choose a folder.")
    os.makedirs(parent, exist_ok=True)
    for leftover in os.listdir(parent):
        if leftover.startswith(f".{name}.previous-"):
            shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}.staging-")
    try:
        yield staging
        previous = None
        if os.path.exists(out_dir):
            previous = tempfile.mkdtemp(dir=parent, prefix=f".{name}.previous-")
            os.rmdir(previous)
            os.replace(out_dir, previous)
        os.replace(staging, out_dir)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
