"""Combining several datasets into one training set and one label space.

`combine` merges readers' records (before decoding: the shard writer uses it);
`combine_arrays` merges decoded face sets, each aligned with its own detector
(a training run with several sources in `--config.data_dir`). Both apply the
same rules, in `_merged_labels`.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import numpy as np

from keras_dmtl.data.labels.action_units import action_unit_name
from keras_dmtl.data.labels.action_units import ordered_action_unit_names
from keras_dmtl.data.labels.action_units import parse_action_unit
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.records import EXPRESSION_VOTES
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import FaceRecords


def source_tags(names: Sequence[str]) -> List[str]:
    """One distinct name per source: its dataset name, numbered where two sources
    share a format (two manifests become "manifest1", "manifest2")."""
    names = list(names)
    return [name if names.count(name) == 1 else f"{name}{names[: i + 1].count(name)}"
            for i, name in enumerate(names)]


def _remap(labels: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    present = labels != MISSING_LABEL
    remapped = np.full(labels.shape, MISSING_LABEL, dtype=np.int64)
    remapped[present] = mapping[labels[present]]
    return remapped


def _widened(action_units: np.ndarray, names: List[str], all_names: List[str]) -> np.ndarray:
    """A part's AU labels in the columns of `all_names`; -1 where it has no such AU."""
    widened = np.full((len(action_units), len(all_names)), MISSING_LABEL, np.int8)
    columns = [all_names.index(action_unit_name(parse_action_unit(name))) for name in names]
    widened[:, columns] = action_units
    return widened


@dataclasses.dataclass
class _MergedLabels:
    identity: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    source: np.ndarray
    identity_names: List[str]
    expression_names: List[str]
    action_units: np.ndarray
    action_unit_names: List[str]
    extras: Dict[str, np.ndarray]


def _merged_extras(parts, expression_names: List[str]) -> Dict[str, np.ndarray]:
    """The parts' extras stacked, zero rows where a part lacks a key; the columns
    of `EXPRESSION_VOTES` follow `expression_names`."""
    keys = sorted({key for part in parts for key in part.extras})
    merged = {}
    for key in keys:
        shapes = {part.extras[key].shape[1:] for part in parts if key in part.extras}
        if key != EXPRESSION_VOTES and len(shapes) > 1:
            raise DataError(f"The sources' per-sample {key!r} have different shapes ({shapes}): "
                            "they cannot be combined.")
        width = (len(expression_names),) if key == EXPRESSION_VOTES else shapes.pop()
        blocks = []
        for part in parts:
            block = np.zeros((len(part.identity),) + width, np.float32)
            if key in part.extras and key == EXPRESSION_VOTES:
                columns = [expression_names.index(name) for name in part.expression_names]
                block[:, columns] = part.extras[key]
            elif key in part.extras:
                block = part.extras[key]
            blocks.append(block)
        merged[key] = np.concatenate(blocks)
    return merged


def _merged_labels(parts, tags) -> _MergedLabels:
    """The labels of `parts` (records or arrays) in one space: identities offset per
    source, expressions and action units unified by name, subjects prefixed with
    their source."""
    name_counts: Dict[str, int] = {}
    for part in parts:
        for name in set(part.identity_names):
            name_counts[name] = name_counts.get(name, 0) + 1
    expression_names = ordered_expression_names(
        name for part in parts for name in part.expression_names)
    expression_index = {name: i for i, name in enumerate(expression_names)}
    identity_names: List[str] = []
    identity, expression, subject, source = [], [], [], []
    for number, (tag, part) in enumerate(zip(tags, parts)):
        offset = len(identity_names)
        identity_names.extend(
            f"{tag}/{name}" if name_counts[name] > 1 else name for name in part.identity_names)
        identity_map = np.arange(len(part.identity_names), dtype=np.int64) + offset
        expression_map = np.array(
            [expression_index[name] for name in part.expression_names], dtype=np.int64)
        identity.append(_remap(part.identity, identity_map))
        expression.append(_remap(part.expression, expression_map))
        subject.append(np.char.add(f"{tag}/", np.asarray(part.subject).astype(str)))
        source.append(np.full(len(part.identity), number, np.int64))
    action_unit_names = ordered_action_unit_names(
        name for part in parts for name in part.action_unit_names)
    action_units = np.concatenate([
        _widened(part.action_units, part.action_unit_names, action_unit_names) for part in parts])
    return _MergedLabels(np.concatenate(identity), np.concatenate(expression),
                         np.concatenate(subject), np.concatenate(source), identity_names,
                         expression_names, action_units, action_unit_names,
                         _merged_extras(parts, expression_names))


def combine(records_list: Sequence[FaceRecords]) -> FaceRecords:
    """Combines several datasets' records into one training set.

    Identity spaces are concatenated: people are never merged across sources, and
    an identity name found in two sources is written "<dataset>/<name>" in both.
    Expression classes and action units are unified by name. Subject keys become
    "<dataset>/<subject>", so splits never merge subjects of two sources. A label
    a source lacks stays -1 (an action unit a source does not annotate included).

    Args:
        records_list: the records to combine, at least one.

    Returns:
        One FaceRecords whose dataset is the sources' names joined by "+".
    """
    if not records_list:
        raise DataError("combine() was given no records: pass at least one dataset.")
    tags = source_tags([records.dataset for records in records_list])
    merged = _merged_labels(records_list, tags)
    return FaceRecords(
        sources=[source for records in records_list for source in records.sources],
        identity=merged.identity,
        expression=merged.expression,
        subject=merged.subject,
        identity_names=merged.identity_names,
        expression_names=merged.expression_names,
        dataset="+".join(tags),
        action_units=merged.action_units,
        action_unit_names=merged.action_unit_names,
        extras=merged.extras,
    )


def combine_arrays(arrays_list: Sequence[FaceArrays], names: Sequence[str]) -> FaceArrays:
    """Combines decoded face sets of several sources into one, as `combine` does
    records, and records each sample's source.

    Args:
        arrays_list: one `FaceArrays` per source (each of one source), with crops
            of one size and channel count.
        names: the sources' dataset names, made distinct with `source_tags`.

    Returns:
        `FaceArrays` whose `source` indexes `source_names` (the tags).

    Raises:
        DataError: no sources, or crops of different shapes.
    """
    if not arrays_list:
        raise DataError("combine_arrays() was given no face sets: pass at least one.")
    tags = source_tags(names)
    shapes = {tag: arrays.images.shape[1:] for tag, arrays in zip(tags, arrays_list)}
    if len(set(shapes.values())) > 1:
        raise DataError(f"The sources give crops of different shapes ({shapes}): align them "
                        "with the same --config.image_size and --config.channels.")
    merged = _merged_labels(arrays_list, tags)
    return FaceArrays(
        images=np.concatenate([arrays.images for arrays in arrays_list]),
        identity=merged.identity,
        expression=merged.expression,
        subject=merged.subject,
        identity_names=merged.identity_names,
        expression_names=merged.expression_names,
        source=merged.source,
        source_names=tags,
        action_units=merged.action_units,
        action_unit_names=merged.action_unit_names,
        extras=merged.extras,
    )
