"""The phone model: the `mobile` trunk at 112x112 RGB, exported to int8 TFLite.

    python train.py --config=configs/phone.py --config.data_dir=/data/faces \
        --config.detector=mtcnn

Photos are detected and aligned with MTCNN by default (set detector to "none"
for aligned crops). The export writes every format; the unlock runtime runs
tflite_int8 (about 1.3 MB).
"""

from keras_dmtl.training.config import default_config
from keras_dmtl.training.config import use_strategy


def get_config(strategy=None):
    """Args: strategy: a weighting strategy whose arguments go in weighting.kwargs."""
    config = default_config()
    config.backbone = "mobile"
    config.image_size = 112
    config.channels = 3
    config.detector = "mtcnn"
    config.epochs = 40
    config.batch_size = 64
    config.out_dir = "runs/phone"
    if strategy:
        use_strategy(config, strategy)
    return config
