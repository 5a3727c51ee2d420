"""Uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018)."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("uncertainty")
class UncertaintyWeighting(Weighting):
    """L = sum_i exp(-s_i) / 2 * L_i + s_i / 2 with learned log-variances s_i.

    The s_i are trained with the network by the main optimizer; the logged weight
    of task i is its effective multiplier exp(-s_i) / 2. This is the form used by
    LibMTL for classification losses.
    """

    def build(self, input_shape=None):
        self.log_variances = self.add_weight(
            name="log_variances", shape=(self.num_tasks,), initializer="zeros"
        )
        super().build(input_shape)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        if not self.built:
            self.build()
        weights = 0.5 * tf.exp(-self.log_variances)
        total = tf.reduce_sum(weights * task_losses + 0.5 * self.log_variances)
        return WeightedLoss(weights, total, None)
