"""A differentiable macro-F1 loss for the expression branch.

Cross-entropy optimises accuracy, and on a data set where happy and surprise are
common and contempt and fear are rare, accuracy is bought with the rare classes:
on CK+48 a model at 0.76 accuracy had a macro-F1 of 0.62. Macro-F1 weighs every
class equally, but counts hard decisions and has no gradient. Its soft version
replaces the counts with sums of predicted probabilities (Sorower 2010; the
"soft F1" of many multi-label papers):

    TP_k = sum_b p_bk y_bk,  FP_k = sum_b p_bk (1 - y_bk),  FN_k = sum_b (1 - p_bk) y_bk
    F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k + eps),   loss = 1 - mean_k F1_k

over the samples of the global batch that carry a label. It is used beside
cross-entropy (`expression_loss`), not instead of it: alone it gives weak
gradients early in training, when every probability is near 1/K.
"""

import tensorflow as tf

from keras_dmtl.losses.masked import cross_replica_sum
from keras_dmtl.losses.masked import label_mask

_EPSILON = 1e-7


def masked_soft_macro_f1_loss(labels, logits):
    """1 - soft macro-F1 over the samples whose label is not -1.

    Classes with no sample and no predicted mass in the batch have F1 0 / 0; they are
    left out of the mean, so a batch without contempt is not penalised for it.

    Args:
        labels: int (B,) class indices, -1 where absent.
        logits: float (B, K) unnormalised scores.

    Returns:
        A float32 scalar in [0, 1]; 0.0 when no sample in the global batch counts.

    Example:

    >>> import numpy as np
    >>> labels = np.array([0, 1, -1])
    >>> logits = np.array([[9.0, -9.0], [-9.0, 9.0], [0.0, 0.0]])
    >>> round(float(masked_soft_macro_f1_loss(labels, logits)), 4)
    0.0
    """
    logits = tf.cast(logits, tf.float32)
    mask = label_mask(labels)[:, None]
    probabilities = tf.nn.softmax(logits) * mask
    one_hot = tf.one_hot(tf.maximum(tf.cast(labels, tf.int32), 0), tf.shape(logits)[-1]) * mask
    true_positive = cross_replica_sum(tf.reduce_sum(probabilities * one_hot, axis=0))
    predicted = cross_replica_sum(tf.reduce_sum(probabilities, axis=0))
    actual = cross_replica_sum(tf.reduce_sum(one_hot, axis=0))
    # 2TP + FP + FN = predicted mass + actual count.
    denominator = predicted + actual
    present = tf.cast(denominator > _EPSILON, tf.float32)
    f1 = 2.0 * true_positive / (denominator + _EPSILON)
    classes = tf.reduce_sum(present)
    return tf.where(classes > 0, 1.0 - tf.reduce_sum(f1 * present) / tf.maximum(classes, 1.0),
                    0.0)
