"""Several labelled sources in one run: which datasets, how each is read, how they mix.

`--config.data_dir` names one dataset, or several separated by commas (e.g. an
identity set and an expression set). `--config.dataset` and `--config.detector`
give one value for all of them or one per source, in the same order;
`--config.source_mix` gives the share of each training batch drawn from each
source (default: in proportion to their sizes).

TF-free: the config is checked with it before TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

SEPARATOR = ","


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One dataset of a run.

    Attributes:
        path: its folder or file (a shard folder only when it is the run's only source).
        dataset: its format name (with reader options, `name:key=value`), or "auto".
        detector: how faces are found in it ("none" for crops, "mtcnn", ...).
    """

    path: str
    dataset: str
    detector: str


def _per_source(value: str, flag: str, count: int) -> List[str]:
    values = [part.strip() for part in str(value).split(SEPARATOR)]
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise ValueError(f"--config.{flag}={value}: give one value for every source, or "
                         f"{count} comma-separated values, one per --config.data_dir source.")
    return values


def parse_sources(data_dir: Optional[str], dataset: str = "auto",
                  detector: str = "none") -> List[SourceSpec]:
    """The sources of `--config.data_dir`, with their formats and detectors.

    Args:
        data_dir: one path, or several separated by commas; None or "": none.
        dataset: one format name (or "auto") for all, or one per source.
        detector: one detector for all, or one per source.

    Returns:
        The sources in the order given; empty without `data_dir`.

    Raises:
        ValueError: an empty entry, a source named twice, or a count of
            datasets or detectors that fits neither one nor every source.
    """
    if not data_dir:
        return []
    paths = [path.strip() for path in data_dir.split(SEPARATOR)]
    if not all(paths):
        raise ValueError(f"--config.data_dir={data_dir}: an empty entry; separate the sources "
                         "with single commas.")
    datasets = _per_source(dataset, "dataset", len(paths))
    # One folder may be two sources when its reader reads two parts of it
    # (lfw_expressions:part=lfw and :part=imfdb).
    if len(set(zip(paths, datasets))) != len(paths):
        raise ValueError(f"--config.data_dir={data_dir} names a source twice: give each once "
                         "(--config.source_mix draws one more often).")
    detectors = _per_source(detector, "detector", len(paths))
    return [SourceSpec(*fields) for fields in zip(paths, datasets, detectors)]


def check_mix(mix: Sequence[float], count: int) -> Optional[np.ndarray]:
    """The sampling mix as probabilities, or None for "in proportion to size".

    Args:
        mix: `--config.source_mix`: () or one non-negative weight per source.
        count: the number of sources.

    Returns:
        float64 (count,) summing to 1, or None.

    Raises:
        ValueError: a weight count other than `count`, a negative or
            non-finite weight, or weights that are all zero.
    """
    if not mix:
        return None
    weights = np.asarray([float(w) for w in mix], dtype=np.float64)
    if len(weights) != count:
        raise ValueError(f"--config.source_mix={tuple(mix)}: give {count} weight(s), one per "
                         "--config.data_dir source, or () to mix in proportion to their sizes.")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"--config.source_mix={tuple(mix)}: weights must be finite, "
                         "non-negative and not all zero.")
    return weights / weights.sum()
