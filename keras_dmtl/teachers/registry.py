"""The embedding teachers by name; each module of this package registers its own."""

from keras_dmtl.registry import Registry

TEACHERS = Registry(__package__, "embedding teacher", "--teacher",
                    skip=("base", "registry", "cache", "embed"))


def register(name):
    """Class decorator: registers an `EmbeddingTeacher` subclass as `name`."""

    def decorator(cls):
        cls.name = name
        return TEACHERS.add(name, cls)

    return decorator


def available():
    """The sorted names of the registered teachers."""
    return TEACHERS.names()


def lookup(name):
    """The teacher class registered as `name` (an error lists the others)."""
    return TEACHERS.lookup(name)
