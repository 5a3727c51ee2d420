"""The shipped config files load, validate and name real plug-ins."""

import importlib.util
import pathlib

import pytest

from keras_dmtl import weighting
from keras_dmtl.models import backbones
from keras_dmtl.training import config as config_lib

CONFIG_FILES = sorted((pathlib.Path(__file__).resolve().parent.parent / "configs").glob("*.py"))


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_each_config_file_validates_and_names_registered_plug_ins(path):
    config = _load(path).get_config()
    if config.dataset != "auto" and config.data_dir is None:
        config.data_dir = "/path/to/dataset"  # the user names the dataset's folder
    elif config.data_dir is not None:
        # A recipe of several public sets names them, one format per source.
        assert len(config.data_dir.split(",")) == len(config.dataset.split(","))
    config_lib.validate(config)
    assert config.backbone in backbones.available()
    assert config.weighting.name in weighting.available()


def test_a_strategy_argument_fills_its_kwargs():
    config = _load(pathlib.Path(config_lib.DEFAULT_CONFIG_FILE)).get_config("famo")
    assert config.weighting.name == "famo"
    assert dict(config.weighting.kwargs) == weighting.default_kwargs("famo")
    assert weighting.get(config.weighting.name, **config.weighting.kwargs).learning_rate > 0
