"""Task-weighting strategies, one module each, chosen by name.

A strategy is a `Weighting` subclass in its own module in this package, decorated
with `@register("name")`. Every module here is imported on first use, so adding a
strategy is adding one file.
"""

import inspect

import keras

from keras_dmtl.registry import Registry
from keras_dmtl.weighting.base import Weighting
from keras_dmtl.weighting.base import WeightedLoss

STRATEGIES = Registry(__name__, "weighting strategy", "--config.weighting.name",
                      skip=("base",))


def register(name):
    """Class decorator: makes a `Weighting` subclass available as `name`.

    It also registers the class for `.keras` serialization.
    """

    return STRATEGIES.keras_class(name, "strategy_name")


def available():
    """Returns the sorted names of the registered strategies."""
    return STRATEGIES.names()


def strategy_class(name):
    """The registered class of `name`.

    Raises:
        ValueError: the name is not registered (the message lists the names).
    """
    return STRATEGIES.lookup(name)


def default_kwargs(name):
    """The constructor arguments of strategy `name` with their defaults.

    What `configs/default.py:<name>` puts in `config.weighting.kwargs`, so that
    each can be changed from the command line.
    """
    parameters = list(inspect.signature(strategy_class(name).__init__).parameters.values())
    return {p.name: p.default for p in parameters[1:]
            if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty}


def get(identifier, **kwargs):
    """Returns a strategy from a name, a serialized config, or an instance.

    Args:
        identifier: a registered name (e.g. "dynamic"), a dict from
            `keras.saving.serialize_keras_object`, or a `Weighting` instance.
        **kwargs: constructor arguments when `identifier` is a name.

    Returns:
        A `Weighting` instance.

    Raises:
        ValueError: the name is not registered (the message lists the names).
    """
    if isinstance(identifier, Weighting):
        return identifier
    if isinstance(identifier, dict):
        STRATEGIES.entries()  # every strategy class known to Keras
        return keras.saving.deserialize_keras_object(identifier)
    cls = strategy_class(identifier)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"--config.weighting.kwargs for {identifier!r}: {error}; it takes "
                         f"{', '.join(default_kwargs(identifier)) or 'no arguments'}.") from None


__all__ = ["Weighting", "WeightedLoss", "available", "default_kwargs", "get", "register",
           "strategy_class"]
