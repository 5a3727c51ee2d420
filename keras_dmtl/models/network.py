"""The functional multi-task network: trunk, both branches and the weight unit."""

import keras

from keras_dmtl.models.backbones import build_backbone
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

    Returns:
        A `keras.Model` from images to a dict with the keys in `OUTPUT_NAMES`;
        "task_weights" is the per-sample output of the weight unit.
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
        num_tasks=2, name=WEIGHT_UNIT_NAME, **(weight_unit_options or {})
    )(features)
    outputs = dict(
        zip(OUTPUT_NAMES, (embedding, identity_logits, expression_logits, task_weights))
    )
    return keras.Model(images, outputs, name="dmtl_network")
