"""The generated-face run of `python train.py`: the library's defaults as they are.

    python train.py                                    # this config
    python train.py --config.epochs=5 --config.weighting.name=static
    python train.py --config=configs/default.py:famo   # FAMO, its arguments filled in:
    python train.py --config=configs/default.py:famo --config.weighting.kwargs.learning_rate=0.05

Every key, its default and its meaning: keras_dmtl/training/config.py.
"""

from keras_dmtl.training.config import default_config
from keras_dmtl.training.config import use_strategy


def get_config(strategy=None):
    """Args: strategy: a weighting strategy whose arguments go in weighting.kwargs."""
    config = default_config()
    if strategy:
        use_strategy(config, strategy)
    return config
