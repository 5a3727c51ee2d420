"""The inference graph every export format is made from."""

import keras
import tensorflow as tf

OUTPUT_NAMES = ("embedding", "expression_probabilities", "expression_label", "task_weights")


@keras.saving.register_keras_serializable(package="keras_dmtl")
class ArgMaxLabel(keras.layers.Layer):
    """int32 index of the largest score.

    `keras.ops.argmax` adds a BitwiseAnd (for -0.0) that TFLite has no builtin
    for; `tf.math.argmax` converts to a plain ARG_MAX.
    """

    def call(self, scores):
        return tf.math.argmax(scores, axis=-1, output_type=tf.int32)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def build_inference_model(model):
    """Wraps a trained network for serving.

    Args:
        model: a `DynamicMultiTaskModel`.

    Returns:
        A functional `keras.Model` from raw images (float32, 0..255) to a dict:
        "embedding" (L2-normalised face embedding), "expression_probabilities",
        "expression_label" (int32 argmax) and "task_weights" (per image).
    """
    network = model.network
    images = keras.Input(shape=network.input_shape[1:], name="images")
    outputs = network(images, training=False)
    embedding = keras.layers.UnitNormalization(name="embedding_l2")(outputs["embedding"])
    probabilities = keras.layers.Softmax(name="expression_softmax")(outputs["expression_logits"])
    label = ArgMaxLabel(name="expression_label")(probabilities)
    return keras.Model(images, dict(zip(OUTPUT_NAMES, (
        embedding, probabilities, label, outputs["task_weights"]))), name="dmtl_inference")
