"""The methods the comparison runs: the paper's table plus the usual MTL baselines."""

import collections

Method = collections.namedtuple("Method", ["label", "strategy", "kwargs"])

SINGLE_FACE = "static_w1=1.0"
SINGLE_EXPRESSION = "static_w1=0.0"


def static_sweep(step=0.1):
    """The paper's Figure 2: w1 = 0, step, ..., 1 with w2 = 1 - w1."""
    count = int(round(1.0 / step))
    return [Method(f"static_w1={i * step:.1f}", "static",
                   {"weights": (round(i * step, 6), round(1 - i * step, 6))})
            for i in range(count + 1)]


DYNAMIC_METHODS = [
    Method("naive_dynamic", "naive_dynamic", {}),
    Method("dynamic", "dynamic", {}),
    Method("dynamic_normalized", "dynamic_normalized", {}),
    Method("uncertainty", "uncertainty", {}),
    Method("dwa", "dwa", {}),
    Method("rlw", "rlw", {}),
    Method("gradnorm", "gradnorm", {}),
    Method("famo", "famo", {}),
]


def all_methods():
    """Every method, static sweep first (w1 = 0 and 1 are the single-task models)."""
    return static_sweep() + DYNAMIC_METHODS


def select(labels):
    """The methods named in `labels` (all when empty), in the canonical order.

    Raises:
        ValueError: an unknown label (the message names --methods and the choices).
    """
    methods = all_methods()
    if not labels:
        return methods
    known = {m.label: m for m in methods}
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; choose from {', '.join(known)}.")
    return [m for m in methods if m.label in set(labels)]
