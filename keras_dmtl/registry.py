"""Plug-ins by name: one registry shape for strategies, trunks, heads and readers.

Each pluggable kind lives in a package with one module per plug-in; a module
registers its plug-in with a decorator, and the registry imports every module of
its package on first lookup, so adding a plug-in is adding one file.

TF-free: the dataset readers use it where TensorFlow is not installed.
"""

import importlib
import pkgutil
import sys


class Registry:
    """Named entries of one kind, each registered by a module of one package.

    Args:
        package: the dotted name of the package whose modules register entries.
        kind: what an entry is, for messages, e.g. "weighting strategy".
        setting: the config key that names an entry, for messages, e.g.
            "--config.weighting.name".
        skip: modules of the package that register nothing (e.g. "base").
    """

    def __init__(self, package, kind, setting, skip=()):
        self.package = package
        self.kind = kind
        self.setting = setting
        self.skip = frozenset(skip)
        self._entries = {}

    def add(self, name, entry):
        """Registers `entry` as `name`; returns the entry.

        Raises:
            ValueError: `name` is already registered.
        """
        if name in self._entries:
            raise ValueError(f"A {self.kind} named {name!r} is already registered.")
        self._entries[name] = entry
        return entry

    def named_class(self, name, name_attribute="name"):
        """A class decorator: registers a class as `name` and stores `name` on it
        as `name_attribute`."""

        def decorator(cls):
            setattr(cls, name_attribute, name)
            return self.add(name, cls)

        return decorator

    def __contains__(self, name):
        """Whether `name` is registered now (without importing the package's modules)."""
        return name in self._entries

    def keras_class(self, name, name_attribute):
        """A class decorator: registers a Keras class as `name`, makes it
        serializable in `.keras` files, and stores `name` on it as `name_attribute`."""

        def decorator(cls):
            import keras  # noqa: PLC0415 (the TF-free registries never get here)

            cls = keras.saving.register_keras_serializable(package="keras_dmtl")(cls)
            setattr(cls, name_attribute, name)
            return self.add(name, cls)

        return decorator

    def remove(self, name):
        """Unregisters `name` (a test's throwaway entry); returns its entry."""
        return self._entries.pop(name)

    def _import_modules(self):
        # The package's __path__ is read now, not at import: it may have grown.
        package = sys.modules.get(self.package) or importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in self.skip:
                importlib.import_module(f"{self.package}.{module.name}")

    def entries(self):
        """Every registered entry by name, in name order."""
        self._import_modules()
        return {name: self._entries[name] for name in sorted(self._entries)}

    def names(self):
        """The sorted names of the registered entries."""
        return list(self.entries())

    def lookup(self, name):
        """The entry registered as `name`.

        Raises:
            ValueError: `name` is not registered; the message names the setting
                and lists the choices.
        """
        entries = self.entries()
        if name not in entries:
            raise ValueError(f"Unknown {self.kind} {name!r} ({self.setting}): choose one of "
                             f"{', '.join(entries)}.")
        return entries[name]
