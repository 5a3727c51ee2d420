"""How a comparison cell uses knowledge for the labels a sample lacks: its row kind.

Each weighting method of the comparison runner is trained once per label use:

- "masks": a missing label's loss is masked out (the paper's model; the default,
  whose rows and cell files keep the method's own label).
- "soft_labels": teacher soft labels fill the missing labels (Deng, Chen & Shi
  2020; `keras_dmtl.training.teacher`). The teacher of a (method, fold, seed)
  cell is that cell's "masks" model: trained on the fold's training subjects
  only, so the student never learns from a model that saw its test subjects.
- "matching": a third task, facial action units, coupled to the expression
  task by distribution matching (FaceBehaviorNet; docs/method.md, section 11),
  which carries the expression head's knowledge to the AU head and back.
- "soft_labels+matching": both.

The runner checks `--config.experiment.label_uses` with `select` before it
loads any data, as it checks the methods.
"""

import dataclasses

FLAG = "--config.experiment.label_uses"
MASKS = "masks"


@dataclasses.dataclass(frozen=True)
class LabelUse:
    """One row kind of the comparison.

    Attributes:
        name: the name in `--config.experiment.label_uses` and in the row labels.
        soft_labels: the cell trains on its fold's masks model's soft labels.
        matching: the cell trains the AU task with distribution matching.
    """

    name: str
    soft_labels: bool
    matching: bool

    def row_label(self, method_label):
        """The row (and cell file) label of `method_label` trained with this use:
        the method's own label for masks, `<method>+<use>` otherwise."""
        return method_label if self.name == MASKS else f"{method_label}+{self.name}"


_LABEL_USES = {use.name: use for use in (
    LabelUse(MASKS, soft_labels=False, matching=False),
    LabelUse("soft_labels", soft_labels=True, matching=False),
    LabelUse("matching", soft_labels=False, matching=True),
    LabelUse("soft_labels+matching", soft_labels=True, matching=True),
)}


def available():
    """The label-use names, in the order their rows appear."""
    return list(_LABEL_USES)


def get(name):
    """The `LabelUse` called `name`.

    Raises:
        ValueError: an unknown name (the message names the flag and the choices).
    """
    if name not in _LABEL_USES:
        raise ValueError(f"{FLAG}: unknown label use {name!r}; choose from "
                         f"{', '.join(_LABEL_USES)}.")
    return _LABEL_USES[name]


def select(names):
    """The label uses named in `names`, each once, in the canonical order.

    Raises:
        ValueError: `names` is not a non-empty tuple of known names (the message
            names the flag and the choices).
    """
    if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
        raise ValueError(f"{FLAG}={names!r}: give a tuple of label uses, e.g. "
                         f"\"('masks', 'soft_labels')\"; choose from {', '.join(_LABEL_USES)}.")
    wanted = {get(name).name for name in names}
    return [use for name, use in _LABEL_USES.items() if name in wanted]
