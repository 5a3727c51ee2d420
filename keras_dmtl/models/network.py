"""The functional multi-task network: trunk, task branches and the weight unit."""

import keras

from keras_dmtl.models.backbones import build_backbone
from keras_dmtl.models.heads import ACTION_UNIT_LOGITS
from keras_dmtl.models.heads import action_unit_branch
from keras_dmtl.models.heads import expression_branch
from keras_dmtl.models.heads import face_branch
from keras_dmtl.models.weight_unit import DynamicWeightUnit

WEIGHT_UNIT_NAME = "dynamic_weight_unit"
OUTPUT_NAMES = ("embedding", "identity_logits", "expression_logits", "task_weights")


def build_network(
    num_identities,
    num_expressions,
    backbone="tiny",
    input_shape=(64, 64, 1),
    backbone_width=1.0,
    embedding_dim=128,
    expression_dim=128,
    expression_dropout=0.0,
    weight_unit_options=None,
    identity_head="softmax",
    identity_head_kwargs=None,
    num_action_units=0,
    num_tasks=None,
):
    """Builds the hard-parameter-sharing network as a functional model.

    A functional model (not a subclass) so that export paths that need one
    (tf2onnx, TFLite from a SavedModel) take it as it is.

    Args:
        num_identities: identity classes of the face branch.
        num_expressions: expression classes.
        backbone: trunk name (see `keras_dmtl.models.backbones`).
        input_shape: (H, W, C) of the raw uint8-range input images.
        backbone_width: width multiplier of the trunk.
        embedding_dim: size of the face embedding X1.
        expression_dim: size of the expression bottleneck X2.
        expression_dropout: dropout rate in the expression branch.
        weight_unit_options: keyword arguments of `DynamicWeightUnit`.
        identity_head: the face branch's identity head (`models.identity_heads`).
        identity_head_kwargs: its constructor arguments.
        num_action_units: AU labels of a third task, an AU head on the shared
            features (`heads.action_unit_branch`, bottleneck `expression_dim`);
            0: none, the two-task network.
        num_tasks: the task weights the weight unit outputs; None: 2, or 3 with
            the AU head (a model with more tasks than branches, such as an
            embedding teacher's, says how many).

    Returns:
        A `keras.Model` from images to a dict with the keys in `OUTPUT_NAMES`,
        plus "action_unit_logits" (B, num_action_units) with an AU head;
        "task_weights" is the per-sample output of the weight unit, one weight
        per task (`num_tasks`).
    """
    images = keras.Input(shape=tuple(input_shape), name="images")
    trunk = build_backbone(backbone, input_shape=tuple(input_shape), width=backbone_width)
    features = trunk(images)
    embedding, identity_logits = face_branch(features, embedding_dim, num_identities,
                                             identity_head, identity_head_kwargs)
    expression_logits = expression_branch(
        features, expression_dim, num_expressions, dropout=expression_dropout
    )
    task_weights = DynamicWeightUnit(
        num_tasks=num_tasks or (3 if num_action_units else 2), name=WEIGHT_UNIT_NAME,
        **(weight_unit_options or {})
    )(features)
    outputs = dict(
        zip(OUTPUT_NAMES, (embedding, identity_logits, expression_logits, task_weights))
    )
    if num_action_units:
        outputs[ACTION_UNIT_LOGITS] = action_unit_branch(features, expression_dim,
                                                         int(num_action_units))
    return keras.Model(images, outputs, name="dmtl_network")
