"""JAFFE (213 256x256 grayscale portraits, 10 women, 7 expressions incl. neutral).

    python train.py --config=configs/jaffe.py --config.data_dir=/tmp/faces/jaffe
    python -m keras_dmtl.experiments.compare --config=configs/jaffe.py \
        --config.data_dir=/tmp/faces/jaffe --config.experiment.seeds="(0, 1, 2)"

The portraits are not face crops: head, hair and shoulders on a plain wall, the
face about 160 of the 256 pixels wide. The Haar cascade finds the face in all 213
(it needs only OpenCV); crops are cached under cache_dir.

Ten people are few for subject-disjoint splits. The default 15 % / 15 % would
leave one test person, and verification needs two held-out people, so the
fractions are 20 % / 20 %: 6 people train, 2 validate, 2 test. The comparison
uses 5 subject folds (2 test people each) and 2 of the other 8 for validation.
The epoch count is CK+48's, not tuned on JAFFE.
"""

from keras_dmtl.training.config import default_config
from keras_dmtl.training.config import use_strategy


def get_config(strategy=None):
    """Args: strategy: a weighting strategy whose arguments go in weighting.kwargs."""
    config = default_config()
    config.dataset = "jaffe"
    config.detector = "haar"
    config.val_fraction = 0.2
    config.test_fraction = 0.2
    config.epochs = 30
    config.experiment.out_dir = "experiments/jaffe"
    config.experiment.folds = 5
    config.experiment.validation_fraction = 0.25
    if strategy:
        use_strategy(config, strategy)
    return config
