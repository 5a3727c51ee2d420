"""The task branches on top of the shared features: face, expression and, when a run
learns them, facial action units."""

import keras

from keras_dmtl.models import identity_heads
from keras_dmtl.models.normalization import batch_normalization

# The identity head's layer name (the margin heads' training logits are asked of it).
IDENTITY_HEAD_NAME = "identity_logits"
# The AU head's layer name, also its output key in the network's output dict.
ACTION_UNIT_LOGITS = "action_unit_logits"  # the AU branch's `<task>_logits` layer


def face_branch(features, embedding_dim, num_identities, identity_head="softmax",
                identity_head_kwargs=None):
    """Face branch: bottleneck embedding X1 and the identity classifier.

    Args:
        features: the shared features Z (B, D).
        embedding_dim: size of the embedding used for verification.
        num_identities: number of identity classes.
        identity_head: a registered identity head (`keras_dmtl.models.identity_heads`):
            "softmax" (the paper), "cosface" or "arcface".
        identity_head_kwargs: the head's constructor arguments (scale, margin).

    Returns:
        (embedding (B, embedding_dim), identity logits (B, num_identities)).

    Example:

    >>> features = keras.Input(shape=(96,))
    >>> embedding, logits = face_branch(features, embedding_dim=128, num_identities=10)
    >>> embedding.shape, logits.shape
    ((None, 128), (None, 10))
    """
    x = keras.layers.Dense(embedding_dim, use_bias=False, name="face_bottleneck")(features)
    embedding = batch_normalization("embedding")(x)
    head = identity_heads.get(identity_head, num_identities, name=IDENTITY_HEAD_NAME,
                              **(identity_head_kwargs or {}))
    return embedding, head(embedding)


def expression_branch(features, bottleneck_dim, num_expressions, dropout=0.0):
    """Expression branch: bottleneck X2 and the expression classifier.

    Args:
        features: the shared features Z (B, D).
        bottleneck_dim: size of the expression bottleneck.
        num_expressions: number of expression classes.
        dropout: dropout rate before the classifier.

    Returns:
        Expression logits (B, num_expressions).

    Example:

    >>> features = keras.Input(shape=(96,))
    >>> expression_branch(features, bottleneck_dim=128, num_expressions=7).shape
    (None, 7)
    """
    return _bottleneck_classifier(features, "expression", bottleneck_dim, num_expressions,
                                  dropout)


def action_unit_branch(features, bottleneck_dim, num_action_units):
    """Action-unit branch: a bottleneck and one logit per AU (multi-label).

    Shaped like the expression branch; its logits go through a sigmoid each
    (an AU is present or not), not through a softmax.

    Args:
        features: the shared features Z (B, D).
        bottleneck_dim: size of the AU bottleneck.
        num_action_units: number of AU labels.

    Returns:
        AU logits (B, num_action_units).

    Example:

    >>> features = keras.Input(shape=(96,))
    >>> action_unit_branch(features, bottleneck_dim=64, num_action_units=17).shape
    (None, 17)
    """
    return _bottleneck_classifier(features, "action_unit", bottleneck_dim, num_action_units)


def _bottleneck_classifier(features, task, bottleneck_dim, num_outputs, dropout=0.0):
    """Dense bottleneck, BatchNorm, ReLU (and dropout), then float32 logits; the
    layers are named `<task>_bottleneck`, ... `<task>_logits`."""
    x = keras.layers.Dense(bottleneck_dim, use_bias=False, name=f"{task}_bottleneck")(features)
    x = batch_normalization(f"{task}_bottleneck_bn")(x)
    x = keras.layers.ReLU(name=f"{task}_bottleneck_relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{task}_dropout")(x)
    return keras.layers.Dense(num_outputs, dtype="float32", name=f"{task}_logits")(x)
