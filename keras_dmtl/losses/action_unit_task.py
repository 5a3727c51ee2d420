"""The loss of the action-unit (AU) task: supervised where labelled, coupled to the
expression head where a label is missing (docs/method.md, section 11)."""

import tensorflow as tf

from keras_dmtl.losses.distribution_matching import distribution_matching_loss
from keras_dmtl.losses.distribution_matching import reverse_distribution_matching_loss
from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_multilabel_cross_entropy


def coupling_mask(expression_labels, action_unit_labels):
    """The samples the distribution-matching terms apply to: those lacking a label
    of either task (no expression label, or no annotated AU).

    A sample with both labels is taught by both supervised losses; the coupling
    carries knowledge to the task a sample has no label for.

    Args:
        expression_labels: int (B,), -1 where absent.
        action_unit_labels: (B, A) 1, 0, or -1 where not annotated.

    Returns:
        float32 (B,), 1.0 for the samples the coupling applies to.
    """
    has_expression = label_mask(expression_labels)
    has_action_units = tf.cast(tf.reduce_any(
        tf.greater_equal(action_unit_labels, 0), axis=-1), tf.float32)
    return 1.0 - has_expression * has_action_units


def action_unit_task_loss(action_unit_labels, expression_labels, action_unit_logits,
                          expression_logits, relatedness, matching_weight=1.0,
                          reverse_weight=0.0):
    """L_AU = masked BCE + matching_weight * L_DM (+ reverse_weight * L_DM reverse).

    The binary cross-entropy is over each sample's annotated AUs
    (`masked_multilabel_cross_entropy`); the distribution-matching terms
    (`distribution_matching_loss`, `reverse_distribution_matching_loss`) over the
    samples of `coupling_mask`. Each term is a mean over the samples it applies
    to on the global batch (exact under tf.distribute) and 0 where it applies to
    none, so a batch without any AU label is trained by the coupling alone.

    Args:
        action_unit_labels: (B, A) 1, 0, or -1 where not annotated.
        expression_labels: int (B,), -1 where absent.
        action_unit_logits: float (B, A).
        expression_logits: float (B, E).
        relatedness: float (E, A), P(AU | expression) in the model's label order.
        matching_weight: weight of the distribution matching (expression -> AUs).
        reverse_weight: weight of the reverse matching (AUs -> expression); 0
            leaves it out.

    Returns:
        A float32 scalar.
    """
    loss = masked_multilabel_cross_entropy(action_unit_labels, action_unit_logits)
    mask = coupling_mask(expression_labels, action_unit_labels)
    if matching_weight:
        loss += matching_weight * distribution_matching_loss(
            action_unit_logits, expression_logits, relatedness, mask)
    if reverse_weight:
        loss += reverse_weight * reverse_distribution_matching_loss(
            expression_logits, action_unit_logits, relatedness, mask)
    return loss
