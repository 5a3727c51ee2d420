"""The paper's dynamic weighting: the weight unit is trained by L3 = sum_i w_i / L_i."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("dynamic")
class DynamicWeighting(Weighting):
    """Ming & Xia's dynamic multi-task weighting.

    The total loss L = sum_i w_i L_i trains the network with w held constant; the
    weight loss L3 = sum_i w_i / (L_i + epsilon) trains the weight unit alone with
    the L_i held constant. Descending L3 raises the weight of every task whose
    loss exceeds the w-weighted harmonic mean of the losses: the harder task gets
    the larger weight.

    Args:
        epsilon: guards 1 / L_i when a loss nears zero (0.01 in the authors' code).
        authors_routing: reproduce the authors' TF1 code, where the total loss also
            reaches the trunk through w (w is not a constant inside L). The weight
            unit's own variables are still trained by L3 alone.
    """

    uses_weight_unit = True

    def __init__(self, epsilon=0.01, authors_routing=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.authors_routing = bool(authors_routing)
        self.trunk_learns_through_weights = self.authors_routing

    def hardness(self, task_losses):
        """How hard each task is right now; the paper uses the raw loss."""
        return task_losses

    def combine(self, task_losses, unit_weights):
        weights_in_total = unit_weights if self.authors_routing else tf.stop_gradient(unit_weights)
        total = tf.reduce_sum(weights_in_total * task_losses)
        hardness = tf.stop_gradient(self.hardness(task_losses)) + self.epsilon
        weight_loss = tf.reduce_sum(unit_weights / hardness)
        return WeightedLoss(unit_weights, total, weight_loss)

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, authors_routing=self.authors_routing)
        return config
