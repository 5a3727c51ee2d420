"""Static weighting: fixed w. w = (1, 0) and (0, 1) are the single-task networks."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("static")
class StaticWeighting(Weighting):
    """L = sum_i w_i * L_i with constant weights; the weight unit is not trained.

    Args:
        weights: one non-negative weight per task (the paper sweeps w_1 from 0 to 1
            with w_2 = 1 - w_1).
    """

    def __init__(self, weights=(0.5, 0.5), **kwargs):
        weights = [float(w) for w in weights]
        kwargs.setdefault("num_tasks", len(weights))
        super().__init__(**kwargs)
        if len(weights) != self.num_tasks or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"Static weights {weights} (--config.weighting.kwargs.weights) must be "
                f"{self.num_tasks} non-negative numbers with a positive sum, e.g. 0.5,0.5."
            )
        self.weights_value = weights

    @staticmethod
    def sweep_label(w_face):
        """The comparison label of the static model with w = (w_face, 1 - w_face)."""
        return f"static_w1={w_face:.1f}"

    @classmethod
    def comparison_variants(cls, step=0.1):
        """The paper's Figure 2: w1 = 0, step, ..., 1 with w2 = 1 - w1; w1 = 1 and
        w1 = 0 are the single-task face and expression networks."""
        count = int(round(1.0 / step))
        return [(cls.sweep_label(i * step), {"weights": (round(i * step, 6),
                                                         round(1 - i * step, 6))})
                for i in range(count + 1)]

    def combine(self, task_losses, unit_weights):
        del unit_weights
        weights = tf.constant(self.weights_value, tf.float32)
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def get_config(self):
        config = super().get_config()
        config["weights"] = self.weights_value
        return config
