"""Fine-tune the model that comes with keras_dmtl on faces of your own.

    python train.py --config=configs/finetune_pretrained.py --config.data_dir=/path/to/faces

Starts from keras_dmtl/pretrained/model.keras with its trunk, input and embedding
(read from the file); the expression classifier carries over when your
expression names are the shipped ones, the identity head is new (your people).
A smaller learning rate than from scratch keeps what the trunk knows; the run
exports and calibrates on your held-out people as any run does.
"""

import os

from keras_dmtl import pretrained
from keras_dmtl.training.config import default_config


def get_config():
    config = default_config()
    shipped = pretrained.architecture()
    config.backbone = shipped["backbone"]
    config.backbone_width = shipped["backbone_width"]
    config.image_size = shipped["image_size"]
    config.channels = shipped["channels"]
    config.embedding_dim = shipped["embedding_dim"]
    config.identity_head.name = shipped["identity_head"]
    config.init_from = os.path.join(pretrained.export_dir(), pretrained.KERAS_MODEL)
    config.detector = "haar"  # the crops it was trained on, and the unlock's default
    config.learning_rate = 1e-4
    config.epochs = 10
    config.out_dir = "runs/finetuned"
    return config
