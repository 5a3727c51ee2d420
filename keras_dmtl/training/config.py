"""The settings of a training run, validated, and what may change when a run resumes.

TF-free on purpose: `train.py` validates its flags with these checks before it
imports TensorFlow, and the checks and bounds are written once, here.
"""

import dataclasses
import math
import numbers
from typing import Optional, Tuple

# (lower, upper, lower_inclusive) per numeric setting; None = unbounded. Every
# numeric setting is listed, so a new one without bounds fails the tests.
NUMERIC_BOUNDS = {
    "backbone_width": (0.0, 8.0, False),
    "image_size": (16, 1024, True),
    "embedding_dim": (2, 4096, True),
    "center_loss_alpha": (0.0, None, True),
    "epochs": (1, None, True),
    "batch_size": (1, None, True),
    "learning_rate": (0.0, 10.0, False),
    "weight_lr": (0.0, 10.0, True),
    "seed": (0, 2**31 - 1, True),
    "val_fraction": (0.0, 1.0, False),
    "test_fraction": (0.0, 1.0, False),
    "generated_identities": (3, 100000, True),
    "generated_sequences": (1, 1000, True),
    "verbose": (0, 2, True),
}
INTEGER_SETTINGS = frozenset({"image_size", "embedding_dim", "epochs", "batch_size", "seed",
                              "generated_identities", "generated_sequences", "verbose"})

# Settings a resumed run may change: how long it trains and how it computes or
# reports, never what it learns from or what it is. Every other setting must
# equal the run's config.json.
RESUMABLE_SETTINGS = frozenset({"epochs", "resume", "out_dir", "cache_dir", "jit_compile",
                                "verbose"})


def setting_problem(name, value):
    """What is wrong with `value` for the numeric setting `name`, or None.

    Args:
        name: a key of `NUMERIC_BOUNDS`.
        value: the value to check.

    Returns:
        A short reason ("must be at least 1") or None when the value is valid.
    """
    lower, upper, lower_inclusive = NUMERIC_BOUNDS[name]
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value):
        return "give a finite number"
    if name in INTEGER_SETTINGS and int(value) != value:
        return "give a whole number"
    if lower is not None and (value < lower or (value == lower and not lower_inclusive)):
        return f"must be {'at least' if lower_inclusive else 'more than'} {lower}"
    if upper is not None and value > upper:
        return f"must be at most {upper}"
    return None


def check_setting(name, value):
    """Raises ValueError naming `--name` when `value` is out of its bounds."""
    problem = setting_problem(name, value)
    if problem is not None:
        raise ValueError(f"--{name}={value}: {problem}.")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; `train.py` fills it from its flags (same names).

    Construction validates every setting and raises ValueError with one line
    that names the flag and the accepted range.
    """

    data_dir: Optional[str] = None
    dataset: str = "auto"
    out_dir: str = "runs/default"
    cache_dir: str = "data_cache"
    backbone: str = "tiny"
    backbone_width: float = 1.0
    image_size: int = 64
    channels: int = 1
    embedding_dim: int = 128
    weighting: str = "dynamic"
    static_weights: Tuple[float, float] = (0.5, 0.5)
    center_loss_alpha: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_lr: float = 0.01
    jit_compile: bool = True
    mixed_precision: bool = False
    seed: int = 0
    resume: bool = False
    detector: str = "none"
    skip_bad_images: bool = False
    augment: bool = True
    balance: Optional[str] = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    generated_identities: int = 20
    generated_sequences: int = 2
    verbose: int = 1

    def __post_init__(self):
        # JSON gives lists; the config compares equal to the one it was saved from.
        self.static_weights = tuple(self.static_weights)
        for name in NUMERIC_BOUNDS:
            check_setting(name, getattr(self, name))
        if self.channels not in (1, 3):
            raise ValueError(f"--channels={self.channels}: give 1 (grayscale) or 3 (RGB).")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"--val_fraction={self.val_fraction} plus --test_fraction="
                             f"{self.test_fraction} leave no training subjects: keep their "
                             "sum below 1.")
        weights = self.static_weights
        if (len(weights) != 2 or not all(isinstance(w, numbers.Real) and math.isfinite(w)
                                         and w >= 0 for w in weights) or sum(weights) <= 0):
            raise ValueError(f"--static_weights={','.join(map(str, weights))}: give two "
                             "non-negative numbers that are not both 0, e.g. 0.7,0.3.")

    @classmethod
    def from_json(cls, saved, path="config.json"):
        """The config saved in a run folder's config.json.

        Raises:
            ValueError: naming `path`, when it holds unknown or invalid settings.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise ValueError(f"{path}: unknown settings {unknown}; it was written by another "
                             "version of keras_dmtl, or edited.")
        try:
            return cls(**saved)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None


def resume_conflicts(saved, requested):
    """The settings a resumed run asks to change although they must not change.

    Args:
        saved: the run's `TrainConfig` (from its config.json).
        requested: the `TrainConfig` of the resuming invocation.

    Returns:
        A list of "--name=requested (the run has saved)" strings, empty when the
        invocation may resume the run.
    """
    conflicts = []
    for field in dataclasses.fields(TrainConfig):
        if field.name in RESUMABLE_SETTINGS:
            continue
        before, after = getattr(saved, field.name), getattr(requested, field.name)
        if before != after:
            conflicts.append(f"--{field.name}={after} (the run has {before})")
    return conflicts
