"""The dynamic-weight-unit: a linear layer + softmax that outputs the task weights."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_dmtl")
class DynamicWeightUnit(keras.layers.Layer):
    """w = softmax(Psi z + b), one output per task, computed per sample.

    No ReLU before the softmax: it would clip the logits and shrink the range of
    w. The model weights the batch losses by the batch mean of w.

    Args:
        num_tasks: number of task weights to output.
        stop_input_gradient: stop gradients at the input features, so that no loss
            reaches the shared trunk through w (the paper's clean split). False
            reproduces the authors' code routing.
        normalize_inputs: L2-normalise the features first (the authors' code).
        logit_scale: if set, L2-normalise the logits and multiply by this scale
            before the softmax (the authors' 3-task follow-up uses 2.0, which caps
            a weight near 0.94 for two tasks).

    Example:

    >>> unit = DynamicWeightUnit(num_tasks=2)
    >>> weights = unit(np.ones((4, 16), "float32"))
    >>> tuple(weights.shape)
    (4, 2)
    >>> weights[0].numpy().tolist()  # untrained: every task at 1 / num_tasks
    [0.5, 0.5]
    """

    def __init__(
        self,
        num_tasks=2,
        stop_input_gradient=True,
        normalize_inputs=False,
        logit_scale=None,
        **kwargs,
    ):
        # The weights feed a softmax and a 1/L loss: keep them in float32 under a
        # mixed-precision policy.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.stop_input_gradient = bool(stop_input_gradient)
        self.normalize_inputs = bool(normalize_inputs)
        self.logit_scale = None if logit_scale is None else float(logit_scale)
        # Zero initialisation starts every task at w_i = 1 / num_tasks, an unbiased
        # start; the softmax gradient is still non-zero, so the unit learns.
        self.dense = keras.layers.Dense(
            self.num_tasks,
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="psi",
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        super().build(input_shape)

    def call(self, features):
        if self.stop_input_gradient:
            features = tf.stop_gradient(features)
        if self.normalize_inputs:
            features = tf.math.l2_normalize(features, axis=-1)
        logits = self.dense(features)
        if self.logit_scale is not None:
            logits = self.logit_scale * tf.math.l2_normalize(logits, axis=-1)
        return tf.nn.softmax(logits, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_tasks,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_tasks=self.num_tasks,
            stop_input_gradient=self.stop_input_gradient,
            normalize_inputs=self.normalize_inputs,
            logit_scale=self.logit_scale,
        )
        return config
