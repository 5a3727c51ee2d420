"""Losses: masked task losses (missing labels), teacher soft labels, soft macro-F1, the
center loss, the coupling of expressions and action units (distribution matching,
soft co-annotation) and the action-unit task's loss."""

from keras_dmtl.losses.action_unit_task import action_unit_task_loss
from keras_dmtl.losses.action_unit_task import coupling_mask
from keras_dmtl.losses.center_loss import CenterLoss
from keras_dmtl.losses.distillation import embedding_distillation_loss
from keras_dmtl.losses.distillation import embedding_target_loss
from keras_dmtl.losses.distillation import pairwise_similarity_distillation_loss
from keras_dmtl.losses.distillation import soft_label_divergence
from keras_dmtl.losses.distillation import soft_label_expression_loss
from keras_dmtl.losses.distribution_matching import distribution_matching_loss
from keras_dmtl.losses.distribution_matching import implied_action_unit_probabilities
from keras_dmtl.losses.distribution_matching import implied_expression_log_probabilities
from keras_dmtl.losses.distribution_matching import reverse_distribution_matching_loss
from keras_dmtl.losses.distribution_matching import soft_action_unit_annotation_loss
from keras_dmtl.losses.distribution_matching import soft_expression_annotation_loss
from keras_dmtl.losses.masked import cross_replica_sum
from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_entry_mean
from keras_dmtl.losses.masked import masked_mean
from keras_dmtl.losses.masked import masked_multilabel_cross_entropy
from keras_dmtl.losses.masked import masked_sparse_cross_entropy
from keras_dmtl.losses.masked import sparse_cross_entropy
from keras_dmtl.losses.masked import with_label_distributions
from keras_dmtl.losses.soft_f1 import masked_soft_macro_f1_loss

__all__ = [
    "CenterLoss",
    "action_unit_task_loss",
    "coupling_mask",
    "cross_replica_sum",
    "distribution_matching_loss",
    "embedding_distillation_loss",
    "embedding_target_loss",
    "pairwise_similarity_distillation_loss",
    "implied_action_unit_probabilities",
    "implied_expression_log_probabilities",
    "label_mask",
    "masked_entry_mean",
    "masked_mean",
    "masked_multilabel_cross_entropy",
    "masked_soft_macro_f1_loss",
    "masked_sparse_cross_entropy",
    "reverse_distribution_matching_loss",
    "soft_action_unit_annotation_loss",
    "soft_expression_annotation_loss",
    "soft_label_divergence",
    "soft_label_expression_loss",
    "sparse_cross_entropy",
    "with_label_distributions",
]
