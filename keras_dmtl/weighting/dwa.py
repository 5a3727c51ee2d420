"""Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019)."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


# The window when nothing says how long an epoch is.
UNKNOWN_EPOCH_STEPS = 50


@register("dwa")
class DynamicWeightAverage(Weighting):
    """w_i = K * softmax(r_i / T) with r_i = L_i(previous window) / L_i(window before).

    A task whose loss falls slower has a larger r_i and gets more weight. The
    paper averages losses per epoch; a strategy does not see epochs, so it
    averages over windows of `window_steps` steps, by default one epoch as the
    trainer reports it (`set_steps_per_epoch`). The weights are 1 until two
    windows are complete.

    Args:
        window_steps: steps per averaging window; None = one epoch (50 steps
            when no trainer gives the epoch length).
        temperature: T; larger T gives weights closer to equal.
    """

    def __init__(self, window_steps=None, temperature=2.0, **kwargs):
        super().__init__(**kwargs)
        self.window_steps = None if window_steps is None else int(window_steps)
        self.temperature = float(temperature)

    def set_steps_per_epoch(self, steps):
        if self.window_steps is None:
            self.window_steps = int(steps)

    def build(self, input_shape=None):
        def state(name, shape=()):
            return self.add_weight(name=name, shape=shape, initializer="zeros",
                                   trainable=False, aggregation="only_first_replica")

        self.window_sum = state("window_sum", (self.num_tasks,))
        self.window_count = state("window_count")
        self.last_mean = state("last_mean", (self.num_tasks,))
        self.before_last_mean = state("before_last_mean", (self.num_tasks,))
        self.windows_done = state("windows_done")
        super().build(input_shape)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        ratios = self.last_mean / tf.maximum(self.before_last_mean, 1e-12)
        weights = self.num_tasks * tf.nn.softmax(ratios / self.temperature)
        weights = tf.where(self.windows_done >= 2, weights, tf.ones_like(weights))
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def update_state(self, task_losses, shared_gradient_norms=None):
        window_sum = self.window_sum + task_losses
        count = self.window_count + 1.0
        closing = count >= (self.window_steps or UNKNOWN_EPOCH_STEPS)
        mean = window_sum / count
        self.before_last_mean.assign(tf.where(closing, self.last_mean, self.before_last_mean))
        self.last_mean.assign(tf.where(closing, mean, self.last_mean))
        self.windows_done.assign_add(tf.cast(closing, tf.float32))
        self.window_sum.assign(tf.where(closing, tf.zeros_like(window_sum), window_sum))
        self.window_count.assign(tf.where(closing, 0.0, count))

    def get_config(self):
        config = super().get_config()
        config.update(window_steps=self.window_steps, temperature=self.temperature)
        return config
