"""Registering a throwaway plug-in from a temporary module, as a new file would."""

import importlib.util


def import_source(tmp_path, module_name, source):
    """Writes `source` to `tmp_path/<module_name>.py` and imports it.

    Its `@register` decorators run as those of a new module in a registry's
    package would; the caller unregisters what it added.

    Args:
        tmp_path: a temporary folder (pytest's `tmp_path`).
        module_name: the module's name, also its file's.
        source: the module's Python source.
    """
    path = tmp_path / f"{module_name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
