"""Fast Adaptive Multitask Optimization (Liu, Liu, Stone and Liu, NeurIPS 2023)."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.base import WeightedLoss
from keras_dmtl.weighting.base import Weighting


@register("famo")
class FamoWeighting(Weighting):
    """Balances the rate at which each task's log-loss decreases.

    With task logits xi and z = softmax(xi), the network descends
    sum_i z_i log L_i, i.e. the losses weighted by c * z_i / L_i with
    c = 1 / sum_j (z_j / L_j) (weights held constant). After the step, the
    improvements delta_i = log L_i(before) - log L_i(after) update xi along the
    gradient of z . delta with Adam (lr `learning_rate`, decay `weight_decay`), as
    in the authors' code: a task that improved less gains weight. Here "after" is
    the next step's loss on the next batch, which saves FAMO's extra forward pass.

    Args:
        learning_rate: Adam step size of xi (0.025 in the paper).
        weight_decay: decay of xi (1e-3 in the paper).
    """

    def __init__(self, learning_rate=0.025, weight_decay=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)

    def build(self, input_shape=None):
        def state(name, shape=(self.num_tasks,)):
            return self.add_weight(name=name, shape=shape, initializer="zeros",
                                   trainable=False, aggregation="only_first_replica")

        self.logits = state("logits")
        self.previous_losses = state("previous_losses")
        self.adam_m = state("adam_m")
        self.adam_v = state("adam_v")
        self.steps = state("steps", ())
        super().build(input_shape)

    def combine(self, task_losses, unit_weights):
        del unit_weights
        z = tf.nn.softmax(self.logits)
        inverse = z / tf.maximum(tf.stop_gradient(task_losses), 1e-8)
        weights = inverse / tf.reduce_sum(inverse)
        return WeightedLoss(weights, tf.reduce_sum(weights * task_losses), None)

    def update_state(self, task_losses, shared_gradient_norms=None):
        losses = tf.maximum(task_losses, 1e-8)
        delta = tf.math.log(tf.maximum(self.previous_losses, 1e-8)) - tf.math.log(losses)
        z = tf.nn.softmax(self.logits)
        # Gradient of z . delta with respect to the logits (softmax Jacobian).
        gradient = z * (delta - tf.reduce_sum(z * delta)) + self.weight_decay * self.logits
        active = tf.cast(self.steps > 0, tf.float32)  # no "before" on the first step
        m = 0.9 * self.adam_m + 0.1 * gradient
        v = 0.999 * self.adam_v + 0.001 * tf.square(gradient)
        t = self.steps  # Adam steps taken so far = steps - 1 after this one
        m_hat = m / (1.0 - 0.9 ** tf.maximum(t, 1.0))
        v_hat = v / (1.0 - 0.999 ** tf.maximum(t, 1.0))
        step = self.learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8)
        self.adam_m.assign(active * m + (1 - active) * self.adam_m)
        self.adam_v.assign(active * v + (1 - active) * self.adam_v)
        self.logits.assign_sub(active * step)
        self.previous_losses.assign(losses)
        self.steps.assign_add(1.0)

    def get_config(self):
        config = super().get_config()
        config.update(learning_rate=self.learning_rate, weight_decay=self.weight_decay)
        return config
