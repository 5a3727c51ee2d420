"""The methods the comparison runs: every registered weighting strategy.

Each strategy contributes its `comparison_variants()` (static: the paper's sweep
of fixed weights, whose ends are the single-task networks; the others: themselves
with their defaults), so a new strategy file is compared with no edit here. With
the action-unit task on (a "matching" label use), every method weighs three
tasks: the sweep's (w1, 1 - w1) gain a fixed AU weight.
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


def make_weighting(method, num_tasks=2, action_unit_weight=0.0):
    """The `Weighting` of `method` for a model of `num_tasks` tasks.

    Args:
        method: a `Method`.
        num_tasks: 2 (face, expression) or 3 (with action units).
        action_unit_weight: with three tasks, the AU task's fixed weight beside a
            static method's (w1, 1 - w1) (`--config.experiment.action_unit_weight`);
            the other strategies weigh the third task their own way.
    """
    kwargs = dict(method.kwargs)
    if num_tasks == 3 and method.strategy == "static":
        kwargs["weights"] = (*kwargs["weights"], float(action_unit_weight))
    return weighting.get(method.strategy, num_tasks=num_tasks, **kwargs)
