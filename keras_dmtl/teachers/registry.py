"""The embedding teachers by name; each module of this package registers its own
(`@register(name)` on an `EmbeddingTeacher` subclass)."""

from keras_dmtl.registry import Registry

TEACHERS = Registry(__package__, "embedding teacher", "--teacher",
                    skip=("base", "registry", "cache", "embed"))
register = TEACHERS.named_class
available = TEACHERS.names
lookup = TEACHERS.lookup
