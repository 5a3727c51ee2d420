"""Identity heads of the face branch, one module each, chosen by name.

A head is an `IdentityHead` subclass in its own module in this package,
decorated with `@register("name")`; every module here is imported on first use,
so adding a head is adding one file. Heads are training-only: they turn the
embedding into identity logits for the identity loss, and the exported models
carry the embedding, never the head.
"""

from keras_dmtl.models.identity_heads.base import IdentityHead
from keras_dmtl.registry import Registry

HEADS = Registry(__name__, "identity head", "--config.identity_head.name", skip=("base",))


def register(name):
    """Class decorator: makes an `IdentityHead` subclass available as `name`
    (and serializable in `.keras` files)."""

    return HEADS.keras_class(name, "head_name")


def available():
    """The sorted names of the registered identity heads."""
    return HEADS.names()


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
    cls = HEADS.lookup(head)
    try:
        return cls(num_identities, **kwargs)
    except TypeError as error:
        raise ValueError(f"--config.identity_head.kwargs for {head!r}: {error}.") from None


__all__ = ["IdentityHead", "available", "get", "register"]
