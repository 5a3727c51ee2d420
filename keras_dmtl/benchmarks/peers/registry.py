"""The peers by name; each module of this package registers its own
(`@register(name)` on a `Peer` subclass)."""

from keras_dmtl.registry import Registry

PEERS = Registry(__package__, "peer", "--peers",
                 skip=("base", "registry", "compare", "__main__"))
register = PEERS.named_class
available = PEERS.names
lookup = PEERS.lookup
