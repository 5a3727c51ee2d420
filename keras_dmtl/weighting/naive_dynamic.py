"""Naive dynamic weighting (Yin et al.): the weight unit is trained by the total loss."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("naive_dynamic")
class NaiveDynamicWeighting(Weighting):
    """L = sum_i w_i L_i trains both the network and the weight unit.

    This is the scheme the paper argues against: the quickest way for the unit to
    lower L is to shrink the weight of the task with the larger loss, so the hard
    task is starved. Kept as a baseline.
    """

    uses_weight_unit = True

    def combine(self, task_losses, unit_weights):
        total = tf.reduce_sum(unit_weights * task_losses)
        return WeightedLoss(unit_weights, total, total)
