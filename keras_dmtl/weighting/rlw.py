"""Random Loss Weighting (Lin, Ye, Xu, Shi and Zhang, TMLR 2022)."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("rlw")
class RandomLossWeighting(Weighting):
    """Fresh random weights every step: w = K * softmax(z), z ~ N(0, 1) per task.

    The paper's point: such random weights match many tuned schemes, so any
    scheme should beat them to be worth its cost. The draw is stateless, seeded by
    (seed, step), so runs are reproducible and the step compiles under XLA.

    Args:
        seed: seed of the draws.
    """

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)

    def build(self, input_shape=None):
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", dtype="int32",
                                    trainable=False, aggregation="only_first_replica")
        super().build(input_shape)

    def current_weights(self):
        """The weights of the current step."""
        seed = tf.stack([tf.constant(self.seed, tf.int32), tf.convert_to_tensor(self.step)])
        draws = tf.random.stateless_normal([self.num_tasks], seed=seed)
        return self.num_tasks * tf.nn.softmax(draws)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        weights = self.current_weights()
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def update_state(self, task_losses, shared_gradient_norms=None):
        self.step.assign_add(1)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
