"""Losses: masked task losses (missing labels), teacher soft labels, soft macro-F1 and
the center loss."""

from keras_dmtl.losses.center_loss import CenterLoss
from keras_dmtl.losses.distillation import embedding_distillation_loss
from keras_dmtl.losses.distillation import soft_label_divergence
from keras_dmtl.losses.distillation import soft_label_expression_loss
from keras_dmtl.losses.masked import cross_replica_sum
from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_mean
from keras_dmtl.losses.masked import masked_sparse_cross_entropy
from keras_dmtl.losses.masked import sparse_cross_entropy
from keras_dmtl.losses.soft_f1 import masked_soft_macro_f1_loss

__all__ = [
    "CenterLoss",
    "cross_replica_sum",
    "embedding_distillation_loss",
    "label_mask",
    "masked_mean",
    "masked_soft_macro_f1_loss",
    "masked_sparse_cross_entropy",
    "soft_label_divergence",
    "soft_label_expression_loss",
    "sparse_cross_entropy",
]
