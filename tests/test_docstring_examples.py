"""The `Example:` sections of the public layers' docstrings run and print what they show."""

import doctest
import importlib

import numpy as np
import pytest

MODULES = [
    "keras_dmtl.losses.center_loss",
    "keras_dmtl.losses.distribution_matching",
    "keras_dmtl.losses.soft_f1",
    "keras_dmtl.models.backbones.blocks",
    "keras_dmtl.models.heads",
    "keras_dmtl.models.multitask",
    "keras_dmtl.models.weight_unit",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_hold(module_name):
    # Examples use `np` without importing it, as Keras' own docstrings do.
    failed, attempted = doctest.testmod(
        importlib.import_module(module_name), extraglobs={"np": np},
        optionflags=doctest.NORMALIZE_WHITESPACE,
    )
    assert attempted > 0, f"{module_name} has no docstring example"
    assert failed == 0, "see the captured stdout for the failing example"
