"""The house reads top-down: a package imports only the layers below it.

    io_utils, startup, registry       (no keras_dmtl imports)
    data, losses, weighting           data: TF-free readers/, faces/ (alignment), generated/;
                                      its shard-writing command line also uses startup
    models                            losses, weighting
    evaluation                        data
    training                          data, evaluation, models, weighting
    edge                              data (TF-free: the on-device runtime)
    teachers                          data (TF-free: external embedding teachers)
    export, experiments, benchmarks   anything below
    pretrained                        the shipped model: its __init__ TF-free (the
                                      unlock reads it), build/export use export
    unlock (CLI)                      edge, data, pretrained
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_dmtl"
BASE = {"io_utils", "registry"}
ALLOWED = {
    "io_utils": set(),
    "startup": set(),
    "registry": set(),
    "data": {"startup"} | BASE,
    "losses": BASE,
    "weighting": BASE,
    "models": {"losses", "weighting"} | BASE,
    "evaluation": {"data"} | BASE,
    "training": {"data", "evaluation", "models", "weighting", "losses", "teachers"} | BASE,
    "edge": {"data"} | BASE,
    "teachers": {"data"} | BASE,
    "export": {"data", "edge", "evaluation", "models", "training", "startup"} | BASE,
    "experiments": {"data", "evaluation", "models", "training", "weighting", "startup"} | BASE,
    "benchmarks": {"data", "edge", "evaluation", "models", "training", "weighting", "startup",
                   "export"} | BASE,
    "pretrained": {"data", "edge", "export", "models", "startup"} | BASE,
    "unlock": {"edge", "data", "pretrained"} | BASE,
}


def _layer(path):
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_layers(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_dmtl" and len(parts) > 1 and parts[1] != "__version__":
                yield parts[1]


def test_each_module_imports_only_the_layers_below_it():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        layer = _layer(path)
        if layer not in ALLOWED:
            violations.append(f"{layer}: a new top-level module; give it a place in ALLOWED")
            continue
        upward = sorted({imported for imported in _imported_layers(path)
                         if imported != layer and imported not in ALLOWED[layer]})
        if upward:
            violations.append(f"{path.relative_to(PACKAGE)} imports {upward} from above")
    assert not violations, "\n".join(violations)
