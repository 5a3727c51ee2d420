"""The peers by name; each module of this package registers its own."""

from keras_dmtl.registry import Registry

PEERS = Registry(__package__, "peer", "--peers",
                 skip=("base", "registry", "compare", "__main__"))


def register(name):
    """Class decorator: registers a `Peer` subclass as `name`."""

    def decorator(cls):
        cls.name = name
        return PEERS.add(name, cls)

    return decorator


def available():
    """The sorted names of the registered peers."""
    return PEERS.names()


def lookup(name):
    """The peer class registered as `name` (an error lists the others)."""
    return PEERS.lookup(name)
