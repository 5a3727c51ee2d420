"""Dynamic weighting with each task's hardness measured against its initial loss."""

import tensorflow as tf

from keras_dmtl.weighting import register
from keras_dmtl.weighting.dynamic import DynamicWeighting


@register("dynamic_normalized")
class NormalizedDynamicWeighting(DynamicWeighting):
    """The paper's L3 with hardness_i = L_i / L_i(0) instead of the raw L_i.

    Raw cross-entropy over K identities starts near ln K and dwarfs a 7-class
    expression loss (ln 7), so the paper's L3 hands the weight to the face task
    whatever the real difficulty (docs/method.md, the CK+ probe). Relative to its
    initial loss, a task that has learned little stays near 1 and keeps the
    weight. L_i(0) is the mean loss of the first `initial_steps` steps.

    Args:
        initial_steps: steps averaged into L_i(0).
        **kwargs: as `DynamicWeighting` (epsilon, authors_routing).
    """

    def __init__(self, initial_steps=10, **kwargs):
        super().__init__(**kwargs)
        self.initial_steps = int(initial_steps)

    def build(self, input_shape=None):
        self.initial_sum = self.add_weight(
            name="initial_sum", shape=(self.num_tasks,), initializer="zeros",
            trainable=False, aggregation="only_first_replica")
        self.initial_count = self.add_weight(
            name="initial_count", shape=(), initializer="zeros", trainable=False,
            aggregation="only_first_replica")
        super().build(input_shape)

    def hardness(self, task_losses):
        # Before the first step there is no L(0) yet: every task counts as 1.
        initial = self.initial_sum / tf.maximum(self.initial_count, 1.0)
        initial = tf.where(self.initial_count > 0, initial, task_losses)
        return task_losses / tf.maximum(initial, 1e-6)

    def update_state(self, task_losses, shared_gradient_norms=None):
        recording = tf.cast(self.initial_count < self.initial_steps, tf.float32)
        self.initial_sum.assign_add(recording * task_losses)
        self.initial_count.assign_add(recording)

    def get_config(self):
        config = super().get_config()
        config["initial_steps"] = self.initial_steps
        return config
