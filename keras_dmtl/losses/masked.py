"""Task losses over the samples that carry a label, exact under tf.distribute.

A label of -1 means "absent". Each task's loss is the mean over the samples of the
*global* batch that carry its label: per-replica sums and counts are all-reduced, so
training on N replicas gives the same loss as one device on the same global batch,
and a batch where no sample carries the label gives exactly 0 (never NaN). For a
multi-label task (action units), -1 marks one entry of a sample as absent.
"""

import keras
import tensorflow as tf


# The batch label key of expression label distributions (crowd votes), float (B, K),
# rows of 0 where a sample has none. Readers attach them under the same key
# (keras_dmtl.data.records.EXPRESSION_VOTES; the layers may not import each
# other, and a test holds the two equal).
EXPRESSION_VOTES = "expression_votes"

def cross_replica_sum(value):
    """Sums `value` over the replicas of the current tf.distribute strategy.

    Outside a multi-replica context this is the identity. The all-reduce has a
    gradient (the all-reduce of the upstream gradients), so a loss built from
    summed terms back-propagates to every replica's own samples.

    Args:
        value: a tensor.

    Returns:
        The sum of `value` over replicas.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def label_mask(labels):
    """Returns float32 1.0 where a label is present (>= 0), 0.0 where it is -1."""
    return tf.cast(tf.greater_equal(labels, 0), tf.float32)


def masked_mean(per_sample, mask):
    """Mean of `per_sample` over the masked samples of the global batch.

    Args:
        per_sample: float (B,) values.
        mask: float32 (B,) 1.0 for samples that count, 0.0 for those that do not
            (or any non-negative weight: a weighted mean).

    Returns:
        A float32 scalar; 0.0 when no sample in the global batch counts.
    """
    total = cross_replica_sum(tf.reduce_sum(tf.cast(per_sample, tf.float32) * mask))
    count = tf.stop_gradient(cross_replica_sum(tf.reduce_sum(mask)))
    # The count is a constant of the batch; dividing an all-missing batch by 1
    # keeps it at exactly zero loss and zero gradient.
    return total / tf.where(count > 0.0, count, 1.0)


def sparse_cross_entropy(labels, logits, label_smoothing=0.0):
    """Per-sample softmax cross-entropy; a sample whose label is -1 gets the loss of
    class 0 (mask it out).

    Args:
        labels: int (B,) class indices, -1 where absent.
        logits: float (B, K) unnormalised scores.
        label_smoothing: in [0, 1): the target puts 1 - label_smoothing on the true
            class and spreads label_smoothing evenly over all K classes.

    Returns:
        float32 (B,).
    """
    safe_labels = tf.maximum(tf.cast(labels, tf.int32), 0)
    logits = tf.cast(logits, tf.float32)
    if label_smoothing:
        targets = tf.one_hot(safe_labels, tf.shape(logits)[-1])
        return keras.losses.categorical_crossentropy(
            targets, logits, from_logits=True, label_smoothing=float(label_smoothing))
    return keras.losses.sparse_categorical_crossentropy(safe_labels, logits, from_logits=True)


def with_label_distributions(per_sample_loss, distributions, logits):
    """Per-sample expression loss where a sample's label distribution (crowd votes)
    replaces its one-hot label: the cross-entropy against the distribution (FER+'s
    "crossentropy" training); the other samples keep `per_sample_loss`.

    Args:
        per_sample_loss: float (B,), the loss against the hard labels.
        distributions: float (B, K), rows summing to 1, or all 0 where a sample
            has no distribution.
        logits: float (B, K) unnormalised scores.

    Returns:
        float32 (B,).
    """
    distributions = tf.cast(distributions, tf.float32)
    has_distribution = tf.reduce_sum(distributions, axis=-1) > 0.0
    soft = -tf.reduce_sum(distributions * tf.nn.log_softmax(tf.cast(logits, tf.float32)),
                          axis=-1)
    return tf.where(has_distribution, soft, tf.cast(per_sample_loss, tf.float32))


def masked_sparse_cross_entropy(labels, logits, label_smoothing=0.0):
    """Softmax cross-entropy averaged over the samples whose label is not -1.

    Args:
        labels, logits, label_smoothing: as in `sparse_cross_entropy`.

    Returns:
        A float32 scalar.
    """
    return masked_mean(sparse_cross_entropy(labels, logits, label_smoothing), label_mask(labels))


def masked_entry_mean(values, entry_mask):
    """Mean over samples of each sample's mean over its counted entries.

    A sample counts when at least one of its entries does, so a sample with one
    annotated entry weighs as much as one with ten; the mean over samples is
    `masked_mean`'s, exact under tf.distribute.

    Args:
        values: float (B, A) finite values (also where not counted).
        entry_mask: float (B, A), 1.0 for the entries that count.

    Returns:
        A float32 scalar; 0.0 when no entry of the global batch counts.
    """
    entry_mask = tf.cast(entry_mask, tf.float32)
    counts = tf.reduce_sum(entry_mask, axis=-1)
    per_sample = (tf.reduce_sum(tf.cast(values, tf.float32) * entry_mask, axis=-1)
                  / tf.maximum(counts, 1.0))
    return masked_mean(per_sample, tf.cast(counts > 0, tf.float32))


def masked_multilabel_cross_entropy(labels, logits):
    """Binary cross-entropy of a multi-label task over its annotated entries.

    Each sample's loss is the mean over its annotated entries (the label 1 or 0;
    -1 is not annotated), and the task loss the mean over the samples with at
    least one annotated entry (`masked_entry_mean`).

    Args:
        labels: int (B, A): 1 present, 0 absent, -1 not annotated.
        logits: float (B, A) unnormalised scores, one per entry.

    Returns:
        A float32 scalar; 0.0 when no entry of the global batch is annotated.
    """
    logits = tf.cast(logits, tf.float32)
    targets = tf.cast(tf.maximum(tf.cast(labels, tf.int32), 0), tf.float32)
    per_entry = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return masked_entry_mean(per_entry, label_mask(labels))
