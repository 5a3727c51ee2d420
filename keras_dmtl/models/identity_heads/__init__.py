"""Identity heads of the face branch, one module each, chosen by name.

A head is an `IdentityHead` subclass in its own module in this package,
decorated with `@register("name")`; every module here is imported on first use,
so adding a head is adding one file. Heads are training-only: they turn the
embedding into identity logits for the identity loss, and the exported models
carry the embedding, never the head.
"""

import importlib
import pkgutil

import keras

from keras_dmtl.models.identity_heads.base import IdentityHead

_HEADS = {}


def register(name):
    """Class decorator: makes an `IdentityHead` subclass available as `name`
    (and serializable in `.keras` files)."""

    def decorator(cls):
        if name in _HEADS:
            raise ValueError(f"An identity head named {name!r} is already registered.")
        cls = keras.saving.register_keras_serializable(package="keras_dmtl")(cls)
        cls.head_name = name
        _HEADS[name] = cls
        return cls

    return decorator


def _import_head_modules():
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


def available():
    """The sorted names of the registered identity heads."""
    _import_head_modules()
    return sorted(_HEADS)


def get(head, num_identities, /, **kwargs):
    """A new head of the registered kind `head` for `num_identities` classes.

    Args:
        head: a registered name ("softmax", "cosface", "arcface", ...).
        num_identities: identity classes.
        **kwargs: the head's arguments and Keras layer arguments (e.g. name).

    Raises:
        ValueError: an unknown name (the message lists the names) or arguments
            the head does not take.
    """
    _import_head_modules()
    if head not in _HEADS:
        raise ValueError(f"Unknown identity head {head!r} (--config.identity_head.name): "
                         f"choose one of {', '.join(available())}.")
    try:
        return _HEADS[head](num_identities, **kwargs)
    except TypeError as error:
        raise ValueError(f"--config.identity_head.kwargs for {head!r}: {error}.") from None


__all__ = ["IdentityHead", "available", "get", "register"]
