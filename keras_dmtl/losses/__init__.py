"""Losses: masked task losses (missing labels), soft macro-F1 and the center loss."""

from keras_dmtl.losses.center_loss import CenterLoss
from keras_dmtl.losses.masked import cross_replica_sum
from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_mean
from keras_dmtl.losses.masked import masked_sparse_cross_entropy
from keras_dmtl.losses.soft_f1 import masked_soft_macro_f1_loss

__all__ = [
    "CenterLoss",
    "cross_replica_sum",
    "label_mask",
    "masked_mean",
    "masked_soft_macro_f1_loss",
    "masked_sparse_cross_entropy",
]
