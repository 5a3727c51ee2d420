"""The inference graph every export format is made from."""

import keras
import tensorflow as tf

from keras_dmtl.models.quantization import strip_quantization

OUTPUT_NAMES = ("embedding", "expression_probabilities", "expression_label", "task_weights")
# The extra output of a model with an action-unit head: one sigmoid per AU.
ACTION_UNIT_PROBABILITIES = "action_unit_probabilities"


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
    """Wraps a trained network, or an ensemble of them, for serving.

    A quantisation-aware model serves without its int8 simulation
    (`strip_quantization`): each format rounds as it does itself.

    An ensemble (Deng et al. 2020 average their students) runs every member on
    the image: the expression probabilities and task weights are the members'
    means, and the embedding is the members' unit embeddings concatenated and
    scaled by 1/sqrt(N), a unit vector whose cosine with another is the mean of
    the members' cosines (the members' spaces differ, so their embeddings are
    never averaged). It costs N times one member on the device.

    Args:
        model: a `DynamicMultiTaskModel`, or a list of them taking the same input
            and predicting the same expression classes.

    Returns:
        A functional `keras.Model` from raw images (float32, 0..255) to a dict:
        "embedding" (L2-normalised face embedding), "expression_probabilities",
        "expression_label" (int32 argmax) and "task_weights" (per image); with an
        action-unit head also "action_unit_probabilities" (one sigmoid per AU,
        in the model's `action_unit_names` order; the members' mean).

    Raises:
        ValueError: ensemble members with different inputs, expression counts or
            AU labels.
    """
    models = [strip_quantization(member)
              for member in (model if isinstance(model, (list, tuple)) else [model])]
    first = models[0].network
    for member in models[1:]:
        if member.network.input_shape != first.input_shape or (
                member.architecture["num_expressions"] != models[0].architecture[
                    "num_expressions"]):
            raise ValueError("The ensemble's models take different inputs or predict different "
                             "expression classes: ensemble runs of the same data and crops.")
        if member.action_unit_names != models[0].action_unit_names:
            raise ValueError("The ensemble's models predict different action units: ensemble "
                             "runs with the same --config.action_units settings and data.")
    images = keras.Input(shape=first.input_shape[1:], name="images")
    networks = [member.network for member in models]
    if len(models) > 1:  # the members' networks share one name; the ensemble's layers may not
        networks = [keras.Model(network.inputs, network.output, name=f"member_{i}")
                    for i, network in enumerate(networks)]
    members = [network(images, training=False) for network in networks]
    embeddings = [keras.layers.UnitNormalization(name=f"embedding_l2{_suffix(i, models)}")(
        outputs["embedding"]) for i, outputs in enumerate(members)]
    probabilities = [keras.layers.Softmax(name=f"expression_softmax{_suffix(i, models)}")(
        outputs["expression_logits"]) for i, outputs in enumerate(members)]
    weights = [outputs["task_weights"] for outputs in members]
    if len(models) > 1:
        embedding = keras.layers.Rescaling(1.0 / len(models) ** 0.5, name="ensemble_embedding")(
            keras.layers.Concatenate(name="ensemble_concatenate")(embeddings))
        probability = keras.layers.Average(name="ensemble_expression")(probabilities)
        weight = keras.layers.Average(name="ensemble_task_weights")(weights)
    else:
        embedding, probability, weight = embeddings[0], probabilities[0], weights[0]
    label = ArgMaxLabel(name="expression_label")(probability)
    outputs = dict(zip(OUTPUT_NAMES, (embedding, probability, label, weight)))
    if models[0].action_unit_names:
        units = [keras.layers.Activation("sigmoid", name=f"action_unit_sigmoid"
                                         f"{_suffix(i, models)}")(member["action_unit_logits"])
                 for i, member in enumerate(members)]
        outputs[ACTION_UNIT_PROBABILITIES] = (
            keras.layers.Average(name="ensemble_action_units")(units) if len(models) > 1
            else units[0])
    return keras.Model(images, outputs, name="dmtl_inference")


def _suffix(index, models):
    """Layer-name suffix of ensemble member `index` ("" for a single model, whose
    graph keeps the names it always had)."""
    return "" if len(models) == 1 else f"_{index}"
