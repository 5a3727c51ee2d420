"""Combining several datasets' records into one training set and one label space."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceRecords


def _source_tags(records_list: Sequence[FaceRecords]) -> List[str]:
    # Two sources of one format (two manifests, say) still need distinct prefixes.
    names = [records.dataset for records in records_list]
    tags = []
    for i, name in enumerate(names):
        tags.append(name if names.count(name) == 1 else f"{name}{names[: i + 1].count(name)}")
    return tags


def _remap(labels: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    present = labels != MISSING_LABEL
    remapped = np.full(labels.shape, MISSING_LABEL, dtype=np.int64)
    remapped[present] = mapping[labels[present]]
    return remapped


def combine(records_list: Sequence[FaceRecords]) -> FaceRecords:
    """Combines several datasets' records into one training set.

    Identity spaces are concatenated: people are never merged across sources, and
    an identity name found in two sources is written "<dataset>/<name>" in both.
    Expression classes are unified by name. Subject keys become
    "<dataset>/<subject>", so splits never merge subjects of two sources. A label
    a source lacks stays -1.

    Args:
        records_list: the records to combine, at least one.

    Returns:
        One FaceRecords whose dataset is the sources' names joined by "+".
    """
    if not records_list:
        raise DataError("combine() was given no records: pass at least one dataset.")
    tags = _source_tags(records_list)
    name_counts: Dict[str, int] = {}
    for records in records_list:
        for name in set(records.identity_names):
            name_counts[name] = name_counts.get(name, 0) + 1
    expression_names = ordered_expression_names(
        name for records in records_list for name in records.expression_names
    )
    expression_index = {name: i for i, name in enumerate(expression_names)}
    identity_names: List[str] = []
    sources, identity, expression, subject = [], [], [], []
    for tag, records in zip(tags, records_list):
        offset = len(identity_names)
        identity_names.extend(
            f"{tag}/{name}" if name_counts[name] > 1 else name for name in records.identity_names
        )
        identity_map = np.arange(len(records.identity_names), dtype=np.int64) + offset
        expression_map = np.array(
            [expression_index[name] for name in records.expression_names], dtype=np.int64
        )
        sources.extend(records.sources)
        identity.append(_remap(records.identity, identity_map))
        expression.append(_remap(records.expression, expression_map))
        subject.append(np.char.add(f"{tag}/", records.subject.astype(str)))
    return FaceRecords(
        sources=sources,
        identity=np.concatenate(identity),
        expression=np.concatenate(expression),
        subject=np.concatenate(subject),
        identity_names=identity_names,
        expression_names=expression_names,
        dataset="+".join(tags),
    )
