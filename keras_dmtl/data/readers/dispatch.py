"""Choosing a dataset's reader: by the name the user gives, or by its layout."""

from __future__ import annotations

import inspect
import os

from keras_dmtl.data.readers import registry
from keras_dmtl.data.readers.base import visible_entries
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords

AUTO = "auto"


def _require_path(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist: check the dataset path.")
    if os.path.isdir(path) and not visible_entries(path):
        raise DataError(f"{path} is an empty directory: unpack the dataset into it.")


def detect_format(root_or_file: str) -> str:
    """Names the dataset layout of a folder or file.

    Every registered format of the path's kind (folder or file) is asked whether
    it matches; the most specific match wins, so the answer never depends on the
    order formats were registered in.

    Args:
        root_or_file: a dataset root folder, or a dataset file such as a CSV.

    Returns:
        A registered format name (see `registry.available`).

    Raises:
        DataError: no format matches, or two equally specific ones do; the
            message says to set --config.dataset.
    """
    _require_path(root_or_file)
    kind = registry.FOLDER if os.path.isdir(root_or_file) else registry.FILE
    formats = registry.formats()
    matching = [
        dataset_format
        for dataset_format in formats.values()
        if dataset_format.takes == kind and dataset_format.matches(root_or_file)
    ]
    if not matching:
        raise DataError(
            f"{root_or_file} matches no supported dataset layout: supported are "
            f"{', '.join(formats)} (see keras_dmtl.data.readers); set --config.dataset to name "
            f"one, or write a manifest CSV (path,identity,expression)."
        )
    best = max(dataset_format.specificity for dataset_format in matching)
    winners = [f.name for f in matching if f.specificity == best]
    if len(winners) > 1:
        raise DataError(
            f"{root_or_file} matches several dataset layouts equally well "
            f"({', '.join(winners)}): set --config.dataset to name the one it is."
        )
    return winners[0]


OPTION_SEPARATOR = ":"


def parse_format(dataset: str):
    """Splits a format name from the reader options written after it.

    `--config.dataset` may give a reader its options, each as `:key=value`
    after the name: `lfw_expressions:part=imfdb` reads the IMFDB part alone,
    `fer2013:usage=PrivateTest` one usage. Values "true" / "false" are booleans,
    whole numbers ints; anything else a string.

    Args:
        dataset: a format name, optionally with options.

    Returns:
        (name, {option: value}).

    Raises:
        DataError: an option not written as key=value.
    """
    name, *written = str(dataset).split(OPTION_SEPARATOR)
    options = {}
    for option in written:
        key, equals, value = option.partition("=")
        if not equals or not key.strip():
            raise DataError(f"--config.dataset={dataset}: write a reader option as "
                            f"{name}:<option>=<value>, e.g. lfw_expressions:part=imfdb.")
        value = value.strip()
        if value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif value.lstrip("-").isdigit():
            value = int(value)
        options[key.strip()] = value
    return name.strip(), options


def read_dataset(
    path: str, dataset: str = AUTO, skip_bad: bool = False, **options
) -> FaceRecords:
    """Reads a dataset with the reader of its format.

    Args:
        path: the dataset root folder or file.
        dataset: a registered format name (with reader options, see
            `parse_format`), or "auto" to detect it.
        skip_bad: skip the entries the reader cannot label (a badly named file, a
            malformed row or sequence; each reader's docstring says which) with
            one warning, instead of raising DataError.
        **options: the reader's own options (e.g. include_neutral for ckplus,
            usage for fer2013); they may also follow the name (`parse_format`).

    Returns:
        The reader's FaceRecords.

    Raises:
        DataError: an unknown format name, a missing or empty path, an
            unrecognised layout, or bad data; the message names the flag or file.
    """
    dataset, written = parse_format(dataset)
    options = {**written, **options}
    formats = registry.formats()
    if dataset != AUTO and dataset not in formats:
        raise DataError(
            f"--config.dataset={dataset} is not a known format: use {AUTO} or one of "
            f"{', '.join(formats)}."
        )
    _require_path(path)
    if dataset == AUTO:
        dataset = detect_format(path)
    read = formats[dataset].read
    accepted = [name for name in inspect.signature(read).parameters
                if name not in ("skip_bad",)][1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(f"--config.dataset={dataset}: the {dataset} reader has no option "
                        f"{', '.join(unknown)}; its options are: {', '.join(accepted) or 'none'}.")
    return read(path, skip_bad=skip_bad, **options)
