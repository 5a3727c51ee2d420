"""GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018)."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("gradnorm")
class GradNormWeighting(Weighting):
    """Balances the tasks' gradient norms on the last shared layer W.

    With G_i = ||grad_W w_i L_i|| = w_i g_i, the target of task i is
    mean(G) * r_i^alpha, where r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0)) is its
    relative inverse training rate: a task that trains slower gets a larger
    target and so a larger weight. After every step the weights take one gradient
    step on L_grad = sum_i |G_i - target_i| with the target held constant (as in
    the paper), i.e. w_i -= lr * sign(G_i - target_i) * g_i, and are renormalised
    to sum to the number of tasks. The weights are constants in the total loss.

    Args:
        alpha: asymmetry; larger pulls harder toward equal training rates (the
            paper uses 0.12-3.0; 1.5 is common).
        learning_rate: step size of the weight update.
    """

    needs_shared_gradient_norms = True

    def __init__(self, alpha=1.5, learning_rate=0.025, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)

    def build(self, input_shape=None):
        self.task_weights = self.add_weight(
            name="task_weights", shape=(self.num_tasks,), initializer="ones",
            trainable=False, aggregation="only_first_replica")
        self.initial_losses = self.add_weight(
            name="initial_losses", shape=(self.num_tasks,), initializer="zeros",
            trainable=False, aggregation="only_first_replica")
        super().build(input_shape)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        weights = tf.convert_to_tensor(self.task_weights)
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def update_state(self, task_losses, shared_gradient_norms=None):
        # The first step's losses are L(0); a task with no labels yet keeps 0 and
        # is read as "not trained yet" (ratio 1).
        unset = tf.equal(self.initial_losses, 0.0)
        self.initial_losses.assign(tf.where(unset, task_losses, self.initial_losses))
        ratios = tf.where(self.initial_losses > 0,
                          task_losses / tf.maximum(self.initial_losses, 1e-12), 1.0)
        relative_rates = ratios / tf.maximum(tf.reduce_mean(ratios), 1e-12)
        weighted_norms = self.task_weights * shared_gradient_norms
        targets = tf.reduce_mean(weighted_norms) * relative_rates ** self.alpha
        step = self.learning_rate * tf.sign(weighted_norms - targets) * shared_gradient_norms
        weights = tf.maximum(self.task_weights - step, 1e-3)
        self.task_weights.assign(weights * self.num_tasks / tf.reduce_sum(weights))

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, learning_rate=self.learning_rate)
        return config
