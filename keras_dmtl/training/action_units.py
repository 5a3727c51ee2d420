"""The action-unit task of a run: its AU labels and task relatedness, from the config
and the training split (docs/method.md, section 11)."""

import numpy as np

from keras_dmtl.data.action_units import estimate_relatedness
from keras_dmtl.data.action_units import load_relatedness_table
from keras_dmtl.data.action_units import prior_relatedness
from keras_dmtl.data.pipeline import action_unit_labels
from keras_dmtl.data.records import DataError
from keras_dmtl.data.streaming import ShardSplit
from keras_dmtl.data.streaming import read_split_labels

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

    Args:
        config: the run config; `config.action_units.enabled` turns the task on.
        train: the training split (`FaceArrays` or `ShardSplit`): its AU labels
            are the model's, in its order.

    Returns:
        None when AUs are off; else {"names", "relatedness" (E, A) in the
        split's expression and AU order, "matching_weight", "reverse_weight"}.

    Raises:
        DataError: training data without AU labels (naming the flag and the
            data), or a relatedness that does not cover the run's expressions
            and AUs (naming the flag).
    """
    settings = config.action_units
    if not settings.enabled:
        return None
    names = list(train.action_unit_names)
    data = config.data_dir or "generated faces"
    if not names:
        raise DataError(
            f"--config.action_units.enabled=True: the training data ({data}: "
            f"{', '.join(train.source_names)}) has no action-unit labels; give a dataset "
            "with AU labels (CK+ with its FACS folder, a manifest with an action_units "
            "column, generated faces), or turn action_units off.")
    if not isinstance(train, ShardSplit) and not (train.action_units >= 0).any():
        raise DataError(
            f"--config.action_units.enabled=True: no sample of the training split of {data} "
            "has an annotated AU; give a dataset with AU labels, or turn action_units off.")
    table = relatedness_table(settings, train)
    try:
        matrix = table.matrix(list(train.expression_names), names)
    except DataError as error:
        raise DataError(f"{FLAG}={settings.relatedness}: {error}") from None
    return {"names": names, "relatedness": matrix.tolist(),
            "matching_weight": float(settings.matching_weight),
            "reverse_weight": float(settings.reverse_weight)}
