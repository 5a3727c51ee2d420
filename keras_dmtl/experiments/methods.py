"""The methods the comparison runs: every registered weighting strategy.

Each strategy contributes its `comparison_variants()` (static: the paper's sweep
of fixed weights, whose ends are the single-task networks; the others: themselves
with their defaults), so a new strategy file is compared with no edit here.
"""

import collections

from keras_dmtl import weighting
from keras_dmtl.weighting.static import StaticWeighting

Method = collections.namedtuple("Method", ["label", "strategy", "kwargs"])

SINGLE_FACE = StaticWeighting.sweep_label(1.0)
SINGLE_EXPRESSION = StaticWeighting.sweep_label(0.0)


def all_methods():
    """Every method of every registered strategy, in registry (name) order."""
    return [Method(label, name, kwargs)
            for name in weighting.available()
            for label, kwargs in weighting.strategy_class(name).comparison_variants()]


def select(labels):
    """The methods named in `labels` (all when empty), in the canonical order.

    Raises:
        ValueError: an unknown label (the message names the setting and the choices).
    """
    methods = all_methods()
    if not labels:
        return methods
    known = {m.label: m for m in methods}
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ValueError(f"--config.experiment.methods: unknown {unknown}; choose from "
                         f"{', '.join(known)}.")
    return [m for m in methods if m.label in set(labels)]
