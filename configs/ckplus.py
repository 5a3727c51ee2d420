"""CK+48 (981 aligned 48x48 grayscale crops, 118 subjects, 7 expressions).

    python train.py --config=configs/ckplus.py --config.data_dir=/tmp/CK+48
    python train.py --config=configs/ckplus.py:uncertainty --config.data_dir=/tmp/CK+48
    python -m keras_dmtl.experiments.compare --config=configs/ckplus.py \
        --config.data_dir=/tmp/CK+48 --config.experiment.seeds="(0, 1, 2)"

The crops are already aligned (no detector); the tiny trunk at 64 px trains on a
CPU in minutes. Subject-disjoint splits; the comparison uses the CK+ protocol's
10 subject folds.
"""

from keras_dmtl.training.config import default_config
from keras_dmtl.training.config import use_strategy


def get_config(strategy=None):
    """Args: strategy: a weighting strategy whose arguments go in weighting.kwargs."""
    config = default_config()
    config.dataset = "ckplus48"
    config.epochs = 30
    config.experiment.out_dir = "experiments/ckplus48"
    if strategy:
        use_strategy(config, strategy)
    return config
