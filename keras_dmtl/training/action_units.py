"""The action-unit task of a run: its AU labels and task relatedness, from the config
and the training split (docs/method.md, section 11)."""

import dataclasses

import numpy as np

from keras_dmtl.data.labels.action_units import action_unit_names
from keras_dmtl.data.labels.action_units import estimate_relatedness
from keras_dmtl.data.labels.action_units import load_relatedness_table
from keras_dmtl.data.labels.action_units import prior_relatedness
from keras_dmtl.data.pipeline import action_unit_labels
from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards.streaming import ShardSplit
from keras_dmtl.data.shards.streaming import read_split_labels
from keras_dmtl.evaluation.action_units import align_action_units

FLAG = "--config.action_units.relatedness"


def _training_labels(train):
    """(expression (N,), AU labels (N, A)) of the training split; a streamed split is
    read once without decoding its crops."""
    if isinstance(train, ShardSplit):
        return read_split_labels(train)
    action_unit_labels(train)  # refuses data without AU columns, naming the data
    return train.expression, train.action_units


def relatedness_table(settings, train):
    """The `RelatednessTable` `settings.relatedness` names.

    Args:
        settings: `config.action_units`.
        train: the training split (`FaceArrays` or `ShardSplit`); "estimated"
            counts its samples that carry both labels.

    Raises:
        DataError: no training sample with both labels for "estimated"; a CSV
            that cannot be read (named).
    """
    source = settings.relatedness
    if source == "prior":
        return prior_relatedness()
    if source != "estimated":
        try:
            return load_relatedness_table(source)
        except DataError as error:
            raise DataError(f"{FLAG}={source}: {error}") from None
    expression, units = _training_labels(train)
    both = (np.asarray(expression) >= 0) & (np.asarray(units) >= 0).any(axis=1)
    if not both.any():
        raise DataError(f"{FLAG}=estimated: no training sample carries both an expression and "
                        "AU labels to count; set it to prior or to a relatedness table .csv.")
    return estimate_relatedness(np.where(both, expression, -1), units,
                                list(train.expression_names), list(train.action_unit_names),
                                smoothing=settings.smoothing)


def action_unit_settings(config, train):
    """The `action_units` argument of `DynamicMultiTaskModel` for a run, or None.

    The AU head learns the training data's AUs. Data without any AU label is
    fine when the relatedness table does not come from labels ("prior" or a
    CSV): the head then learns the table's AUs from the distribution matching
    alone, the AUs the expression head implies (put the data's splits through
    `with_action_unit_columns`).

    Args:
        config: the run config; `config.action_units.enabled` turns the task on.
        train: the training split (`FaceArrays` or `ShardSplit`): its AU labels
            are the model's, in its order.

    Returns:
        None when AUs are off; else {"names", "relatedness" (E, A) in the
        split's expression and AU order, "matching_weight", "reverse_weight"}.

    Raises:
        DataError: training data without AU labels with relatedness "estimated"
            or streamed (naming the flag and the data), or a relatedness that
            does not cover the run's expressions and AUs (naming the flag).
    """
    settings = config.action_units
    if not settings.enabled:
        return None
    names = list(train.action_unit_names)
    data = config.data_dir or "generated faces"
    estimated = settings.relatedness == "estimated"
    if not names and (estimated or isinstance(train, ShardSplit)):
        remedy = ("set --config.streaming=false to load the shards into memory"
                  if not estimated else
                  f"set {FLAG} to prior or to a relatedness table .csv (the head then "
                  "learns the table's AUs from the expression head alone)")
        raise DataError(
            f"--config.action_units.enabled=True: the training data ({data}: "
            f"{', '.join(train.source_names)}) has no action-unit labels; give a dataset "
            "with AU labels (CK+ with its FACS folder, a manifest with an action_units "
            f"column, generated faces), {remedy}, or turn action_units off.")
    if estimated and not isinstance(train, ShardSplit) and not (train.action_units >= 0).any():
        raise DataError(
            f"--config.action_units.enabled=True: no sample of the training split of {data} "
            f"has an annotated AU to estimate the relatedness from; give a dataset with AU "
            f"labels, set {FLAG} to prior or to a relatedness table .csv, or turn "
            "action_units off.")
    table = relatedness_table(settings, train)
    if not names:
        names = action_unit_names(table.action_units)
    try:
        matrix = table.matrix(list(train.expression_names), names)
    except DataError as error:
        raise DataError(f"{FLAG}={settings.relatedness}: {error}") from None
    return {"names": names, "relatedness": matrix.tolist(),
            "matching_weight": float(settings.matching_weight),
            "reverse_weight": float(settings.reverse_weight)}


def with_action_unit_columns(part, names):
    """A split's AU labels laid out over the model's AUs `names`, -1 where the data
    has no label of that AU (all of them, for data without AU labels).

    Args:
        part: a split, `FaceArrays` or `ShardSplit` (returned as it is: its
            labels come from the shards).
        names: the AU head's names (`action_unit_settings(...)["names"]`).

    Returns:
        The split, with `action_unit_names` == `names`.
    """
    if isinstance(part, ShardSplit) or list(part.action_unit_names) == list(names):
        return part
    return dataclasses.replace(
        part, action_units=align_action_units(part.action_units, part.action_unit_names, names),
        action_unit_names=list(names))


def keep_labelled_subjects(train, fraction, seed):
    """The training split with the AU labels of all but `fraction` of its subjects
    masked (-1), the kept subjects drawn with `seed`.

    Args:
        train: the training split (`FaceArrays`).
        fraction: in [0, 1], the share of subjects (rounded) that keep their AU labels.
        seed: draws the subjects.

    Returns:
        `train` itself for 1 or data without AU labels, else a copy with the
        masked labels.

    Raises:
        DataError: a streamed split (its labels are read from the shards as
            they stream).
    """
    if fraction >= 1.0:
        return train
    if isinstance(train, ShardSplit):
        raise DataError(f"--config.action_units.labelled_subjects={fraction}: masks labels "
                        "held in memory; set --config.streaming=false to load the shards "
                        "into memory.")
    if not train.action_unit_names:
        return train  # nothing to mask: the AU head learns from the matching alone
    subjects = np.unique(train.subject)
    rng = np.random.default_rng([seed, 0xA0])
    kept = rng.choice(subjects, int(round(fraction * len(subjects))), replace=False)
    labels = np.array(action_unit_labels(train), np.int8)
    labels[~np.isin(train.subject, kept)] = -1
    return dataclasses.replace(train, action_units=labels)
