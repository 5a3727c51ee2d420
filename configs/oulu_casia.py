"""Oulu-CASIA VIS (80 subjects, 6 expressions, raw frames: faces are detected).

    python train.py --config=configs/oulu_casia.py --config.data_dir=/data/Oulu-CASIA/VL
    python -m keras_dmtl.experiments.compare --config=configs/oulu_casia.py \
        --config.data_dir=/data/Oulu-CASIA/VL --config.experiment.seeds="(0, 1, 2)"

MTCNN finds and aligns each face once (cached under cache_dir); the last three
frames of each sequence are kept, as the protocol does.
"""

from keras_dmtl.training.config import default_config
from keras_dmtl.training.config import use_strategy


def get_config(strategy=None):
    """Args: strategy: a weighting strategy whose arguments go in weighting.kwargs."""
    config = default_config()
    config.dataset = "oulu_casia"
    config.detector = "mtcnn"
    config.backbone = "mobile"
    config.image_size = 112
    config.channels = 3
    config.epochs = 30
    config.experiment.out_dir = "experiments/oulu_casia"
    if strategy:
        use_strategy(config, strategy)
    return config
