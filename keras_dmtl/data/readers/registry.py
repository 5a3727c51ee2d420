"""The dataset formats the readers know, each registered by its own module.

A format is a module in this package whose read function is decorated with
`@register(name, takes=..., matches=..., specificity=...)`. Every module of the
package is imported on first use of the registry, so a new module is picked up
with no other edit.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List

from keras_dmtl.data.records import FaceRecords
from keras_dmtl.registry import Registry

# What a format reads (`DatasetFormat.takes`).
FOLDER = "folder"
FILE = "file"

# How narrowly a format's `matches` pins its layout down (`DatasetFormat.specificity`).
# Named so that a new format is ranked by what its signature is, not by where it
# sorts among the modules.
SIGNATURE = 2  # fixed names: e.g. two named folders, an exact CSV header.
PATTERN = 1  # a naming pattern: e.g. every folder an expression name, P### folders.
FALLBACK = 0  # fits many layouts: e.g. any folders of images.


@dataclasses.dataclass(frozen=True)
class DatasetFormat:
    """One dataset layout: how to recognise it and how to read it.

    Attributes:
        name: the value of `config.dataset` and of `FaceRecords.dataset`.
        read: `read(path, skip_bad=False, **options) -> FaceRecords`. With
            `skip_bad`, entries it cannot label (a file, a row, a sequence) are
            skipped with one warning instead of raising `DataError`.
        takes: `FOLDER` (a dataset root) or `FILE` (e.g. a CSV).
        matches: `matches(path) -> bool`: whether a path of the kind `takes` names
            looks like this layout. Cheap, and False, never an error, on unrelated
            data.
        specificity: `SIGNATURE`, `PATTERN` or `FALLBACK`. When several formats
            match a path, detection takes the most specific; a tie is reported as
            ambiguous.
    """

    name: str
    read: Callable[..., FaceRecords]
    takes: str
    matches: Callable[[str], bool]
    specificity: int


FORMATS = Registry(__package__, "dataset format", "--config.dataset",
                   skip=("base", "registry", "dispatch", "combining", "recordio"))


def register(
    name: str, *, takes: str, matches: Callable[[str], bool], specificity: int
) -> Callable:
    """Function decorator: makes a read function the reader of format `name`.

    Args:
        name: the format's name (see `DatasetFormat` for this and the others).
        takes: `FOLDER` or `FILE`.
        matches: recognises the layout.
        specificity: `SIGNATURE`, `PATTERN` or `FALLBACK`.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: `takes` is neither kind, or `name` is already registered.
    """
    if takes not in (FOLDER, FILE):
        raise ValueError(f"takes={takes!r}: a format reads a {FOLDER!r} or a {FILE!r}.")

    def decorator(read):
        FORMATS.add(name, DatasetFormat(name, read, takes, matches, specificity))
        return read

    return decorator


def formats() -> Dict[str, DatasetFormat]:
    """Returns the registered formats by name, in name order."""
    return FORMATS.entries()


def available() -> List[str]:
    """Returns the sorted names of the registered formats."""
    return FORMATS.names()
