"""The methods the comparison runs: every registered weighting strategy.

Each strategy contributes its `comparison_variants()` (static: the paper's sweep
of fixed weights, whose ends are the single-task networks; the others: themselves
with their defaults), so a new strategy file is compared with no edit here. With
the action-unit task on (a "matching" label use) or an embedding teacher's task,
every method weighs three (or four) tasks: the sweep's (w1, 1 - w1) gain a fixed
AU weight and, for the teacher's task, w1.
"""

import collections

from keras_dmtl import weighting
from keras_dmtl.models.multitask import ACTION_UNIT_TASK
from keras_dmtl.models.multitask import DISTILLATION_TASK
from keras_dmtl.models.multitask import TASK_NAMES
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


def make_weighting(method, task_names=TASK_NAMES, action_unit_weight=0.0):
    """The `Weighting` of `method` for a model with `task_names`.

    Args:
        method: a `Method`.
        task_names: the model's tasks (`keras_dmtl.training.run.task_names`):
            face and expression, then optionally action units and distillation.
        action_unit_weight: the AU task's fixed weight beside a static method's
            (w1, 1 - w1) (`--config.experiment.action_unit_weight`). A static
            method gives the embedding teacher's task the face weight w1: the
            face branch learns from its teacher as much as from its labels, and
            the single-task expression network (w1 = 0) learns no embedding. The
            other strategies weigh the extra tasks their own way.
    """
    kwargs = dict(method.kwargs)
    if method.strategy == "static":
        face_weight = kwargs["weights"][0]
        extra = {ACTION_UNIT_TASK: float(action_unit_weight), DISTILLATION_TASK: face_weight}
        kwargs["weights"] = (*kwargs["weights"], *(extra[name] for name in task_names[2:]))
    return weighting.get(method.strategy, num_tasks=len(task_names), **kwargs)
