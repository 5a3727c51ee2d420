"""The learning rate of each epoch: a step schedule.

Face-recognition training (ArcFace, CosFace, insightface's recipes) keeps one
rate most of the run and divides it by ten at set points near the end: the
loss plateaus at the high rate and drops sharply after each step down. Here the
points are epochs (`config.learning_rate_drops`), so that the rate of an epoch
follows from the config alone and a resumed run trains each epoch at the rate an
uninterrupted run would.
"""

import keras


def learning_rate_at(epoch, base, drops, factor):
    """The rate of `epoch` (0-based): `base`, times `factor` once per drop passed.

    Args:
        epoch: the epoch, counted from 0.
        base: the first rate (`config.learning_rate`).
        drops: the epochs from which each lower rate holds, e.g. (18, 22).
        factor: what each drop multiplies the rate by (`config.learning_rate_drop_factor`).

    Returns:
        The learning rate, a float.
    """
    return float(base) * float(factor) ** sum(1 for drop in drops if epoch >= drop)


def drops_problem(drops, epochs):
    """What is wrong with `drops` for a run of `epochs` epochs, or None.

    Args:
        drops: `config.learning_rate_drops`.
        epochs: `config.epochs`.

    Returns:
        A short reason, or None when the drops are valid.
    """
    if not isinstance(drops, (tuple, list)):
        return 'give a tuple of epochs, e.g. "(18, 22)", or () for one rate throughout'
    if any(isinstance(d, bool) or not isinstance(d, int) for d in drops):
        return "give whole epoch numbers"
    if list(drops) != sorted(set(drops)):
        return "give the epochs in increasing order, each once"
    if drops and (drops[0] < 1 or drops[-1] >= epochs):
        return (f"each drop must fall inside the run's {epochs} epochs (1 to {epochs - 1}); "
                "a drop at or after the last epoch never happens")
    return None


def first_changed_epoch(saved, requested, epochs):
    """The first of `epochs` epochs whose rate differs between two configs, or None.

    Args:
        saved: the run's config (its config.json).
        requested: the config of the invocation that resumes it.
        epochs: how many epochs to compare (those the checkpoint holds).
    """
    for epoch in range(epochs):
        before = learning_rate_at(epoch, saved.learning_rate, saved.learning_rate_drops,
                                  saved.learning_rate_drop_factor)
        after = learning_rate_at(epoch, requested.learning_rate, requested.learning_rate_drops,
                                 requested.learning_rate_drop_factor)
        if before != after:
            return epoch
    return None


class StepLearningRate(keras.callbacks.Callback):
    """Sets the model's optimizer to each epoch's rate as the epoch begins.

    Only `model.optimizer` (trunk and branches) follows the schedule; the
    dynamic-weight-unit's optimizer keeps `config.weight_lr`.

    Args:
        base: the first rate.
        drops: the epochs from which each lower rate holds.
        factor: what each drop multiplies the rate by.

    Example:

    ```python
    model.fit(data, epochs=24, callbacks=[StepLearningRate(1e-3, (18, 22), 0.1)])
    ```
    """

    def __init__(self, base, drops, factor):
        super().__init__()
        self.base = float(base)
        self.drops = tuple(int(drop) for drop in drops)
        self.factor = float(factor)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = learning_rate_at(
            epoch, self.base, self.drops, self.factor)
