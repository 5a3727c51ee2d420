"""Coupling losses between the expression task and the action-unit (AU) task.

FaceBehaviorNet (Kollias, Sharmanska & Zafeiriou, "Face Behavior a la carte",
arXiv 1910.11111, and "Distribution Matching for Heterogeneous Multi-Task
Learning: a Large-scale Face Study", arXiv 2105.03790) trains expression and AU
heads together through their task relatedness: a matrix R (E x A) with
R[e, i] = P(AU i present | expression e), from prior knowledge or from
co-labelled data (`keras_dmtl.data.labels.action_units`). Two couplings:

- Distribution matching: the AU head's predictions should agree with the AUs
  the expression head's predictions imply, q_i = sum_e p(e | x) R[e, i]
  (`implied_action_unit_probabilities`, `distribution_matching_loss`), and the
  other way round (`implied_expression_log_probabilities`,
  `reverse_distribution_matching_loss`). Neither needs a label: they exchange
  knowledge between tasks on any image.
- Soft co-annotation: a sample labelled for one task gets soft labels for the
  other from R (`soft_action_unit_annotation_loss`,
  `soft_expression_annotation_loss`).

What these functions are built from: the papers' abstracts (their full text, and
so their equation numbers, could not be read when this module was written) and
the implied distribution q above, which is the papers' construction. Every loss
here is a KL divergence between the implied distribution and the head's own:
0 exactly when they agree. For a head's own gradient this is the cross-entropy
H(q, p) (they differ by the entropy of q); the entropy is subtracted so that the
other head is pulled toward agreement rather than toward a confident q. A head
that should only teach, not learn, is passed through `tf.stop_gradient`.

Per sample, AU-side losses average over the A action units; every loss is a mean
over the samples it applies to (`masked_entry_mean`, `masked_mean`), exact under
tf.distribute, 0 (never NaN, zero gradient) when it applies to none.
"""

import tensorflow as tf

from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_entry_mean
from keras_dmtl.losses.masked import masked_mean

# Table entries of exactly 0 or 1 are read as EVIDENCE_FLOOR or 1 - EVIDENCE_FLOOR
# when AUs are inverted into expressions, so that one AU against a table's
# "always" (or "never") counts as strong evidence instead of an impossibility.
EVIDENCE_FLOOR = 0.01


def _bernoulli_kl(target, logits):
    """KL(Bernoulli(target) || Bernoulli(sigmoid(logits))), elementwise."""
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    # xlogy(0, 0) = 0, with a zero gradient, so targets of exactly 0 or 1 are finite.
    negative_entropy = tf.math.xlogy(target, target) + tf.math.xlogy(1.0 - target, 1.0 - target)
    return cross_entropy + negative_entropy


def _categorical_kl(target_log_probabilities, logits):
    """KL(target || softmax(logits)) per sample, from the target's log-probabilities."""
    return tf.reduce_sum(
        tf.exp(target_log_probabilities)
        * (target_log_probabilities - tf.nn.log_softmax(logits)), axis=-1)


def _sample_mask(mask, reference):
    if mask is None:
        return tf.ones(tf.shape(reference)[:1], tf.float32)
    return tf.cast(mask, tf.float32)


def implied_action_unit_probabilities(expression_logits, relatedness):
    """The AU probabilities the expression head implies: q_i = sum_e p(e|x) R[e, i].

    Args:
        expression_logits: float (B, E).
        relatedness: float (E, A), R[e, i] = P(AU i present | expression e).

    Returns:
        float32 (B, A) in [0, 1].
    """
    probabilities = tf.nn.softmax(tf.cast(expression_logits, tf.float32))
    return tf.matmul(probabilities, tf.cast(relatedness, tf.float32))


def implied_expression_log_probabilities(action_unit_probabilities, relatedness,
                                         annotated=None):
    """The expression distribution that AU evidence implies, by Bayes' rule.

    Reading R as the model of the AUs given the expression, with the AUs
    independent given it and a uniform prior over expressions,

        log q(e) = sum_i a_i [p_i log R[e, i] + (1 - p_i) log(1 - R[e, i])] + const,

    normalised over e (a softmax), where p_i is AU i's probability (a 0/1 label, or
    a prediction, whose expected log-likelihood this is) and a_i whether AU i
    counts. Entries of R are clipped to [EVIDENCE_FLOOR, 1 - EVIDENCE_FLOOR]. A
    neutral row (all zeros) makes "no AU active" evidence for neutral.

    Args:
        action_unit_probabilities: float (B, A) in [0, 1].
        relatedness: float (E, A).
        annotated: float (B, A), 1.0 for the AUs that count; None counts all.

    Returns:
        float32 (B, E) log-probabilities; uniform for a sample where no AU counts.
    """
    probabilities = tf.cast(action_unit_probabilities, tf.float32)
    if annotated is not None:
        probabilities = probabilities * tf.cast(annotated, tf.float32)
    table = tf.clip_by_value(tf.cast(relatedness, tf.float32), EVIDENCE_FLOOR,
                             1.0 - EVIDENCE_FLOOR)
    absent = (1.0 - probabilities) if annotated is None else (
        tf.cast(annotated, tf.float32) - probabilities)
    log_likelihood = (tf.matmul(probabilities, tf.math.log(table), transpose_b=True)
                      + tf.matmul(absent, tf.math.log(1.0 - table), transpose_b=True))
    return tf.nn.log_softmax(log_likelihood)


def distribution_matching_loss(action_unit_logits, expression_logits, relatedness, mask=None):
    """AU predictions matched to the AUs the expression predictions imply.

    Per sample, mean over AUs i of KL(Bernoulli(q_i) || Bernoulli(p_i)), with
    q = `implied_action_unit_probabilities` and p_i = sigmoid(AU logit i): the
    distribution matching of FaceBehaviorNet (see the module docstring). Both
    heads get gradients.

    Args:
        action_unit_logits: float (B, A).
        expression_logits: float (B, E).
        relatedness: float (E, A).
        mask: float (B,), 1.0 for the samples it applies to; None applies it to
            all (it needs no label).

    Returns:
        A float32 scalar >= 0; 0.0 when it applies to no sample.

    Example:

    >>> relatedness = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> expression_logits = np.array([[0.0, 0.0]], "float32")  # half each: q = (0.5, 0.5)
    >>> round(float(distribution_matching_loss(np.zeros((1, 2), "float32"),
    ...                                        expression_logits, relatedness)), 6)
    0.0
    >>> round(float(distribution_matching_loss(np.array([[4.0, -4.0]], "float32"),
    ...                                        expression_logits, relatedness)), 4)
    1.325
    """
    logits = tf.cast(action_unit_logits, tf.float32)
    target = implied_action_unit_probabilities(expression_logits, relatedness)
    per_entry = _bernoulli_kl(target, logits)
    sample_mask = _sample_mask(mask, logits)
    return masked_entry_mean(per_entry, sample_mask[:, None] * tf.ones_like(per_entry))


def reverse_distribution_matching_loss(expression_logits, action_unit_logits, relatedness,
                                       mask=None):
    """Expression predictions matched to the expressions the AU predictions imply.

    Per sample, KL(q || softmax(expression logits)), with q =
    `implied_expression_log_probabilities` of the AU head's sigmoid outputs. Both
    heads get gradients.

    Args:
        expression_logits: float (B, E).
        action_unit_logits: float (B, A).
        relatedness: float (E, A).
        mask: float (B,), 1.0 for the samples it applies to; None applies it to all.

    Returns:
        A float32 scalar >= 0; 0.0 when it applies to no sample.
    """
    expression_logits = tf.cast(expression_logits, tf.float32)
    target = implied_expression_log_probabilities(
        tf.sigmoid(tf.cast(action_unit_logits, tf.float32)), relatedness)
    per_sample = _categorical_kl(target, expression_logits)
    return masked_mean(per_sample, _sample_mask(mask, expression_logits))


def soft_action_unit_annotation_loss(action_unit_logits, expression_labels, action_unit_labels,
                                     relatedness):
    """Soft AU labels from expression labels, for the AUs a sample lacks.

    A sample labelled with expression e gets, for each AU i it has no label for
    (-1), the soft label R[e, i]; per sample the mean over those AUs of
    KL(Bernoulli(R[e, i]) || Bernoulli(p_i)). Samples without an expression label,
    or with every AU annotated, do not count.

    Args:
        action_unit_logits: float (B, A).
        expression_labels: int (B,), -1 where absent.
        action_unit_labels: int (B, A): 1, 0, or -1 where not annotated.
        relatedness: float (E, A).

    Returns:
        A float32 scalar >= 0; 0.0 when no sample counts.
    """
    logits = tf.cast(action_unit_logits, tf.float32)
    labelled = label_mask(expression_labels)
    safe_expressions = tf.maximum(tf.cast(expression_labels, tf.int32), 0)
    target = tf.gather(tf.cast(relatedness, tf.float32), safe_expressions)
    unannotated = 1.0 - label_mask(action_unit_labels)
    return masked_entry_mean(_bernoulli_kl(target, logits), unannotated * labelled[:, None])


def soft_expression_annotation_loss(expression_logits, action_unit_labels, expression_labels,
                                    relatedness):
    """Soft expression labels from AU labels, for samples without an expression label.

    A sample with no expression label (-1) and at least one annotated AU gets the
    soft label q = `implied_expression_log_probabilities` of its annotated AUs
    (the AUs it lacks are left out of the evidence); its loss is
    KL(q || softmax(expression logits)).

    Args:
        expression_logits: float (B, E).
        action_unit_labels: int (B, A): 1, 0, or -1 where not annotated.
        expression_labels: int (B,), -1 where absent.
        relatedness: float (E, A).

    Returns:
        A float32 scalar >= 0; 0.0 when no sample counts.
    """
    expression_logits = tf.cast(expression_logits, tf.float32)
    annotated = label_mask(action_unit_labels)
    present = tf.cast(tf.equal(tf.cast(action_unit_labels, tf.int32), 1), tf.float32)
    target = implied_expression_log_probabilities(present, relatedness, annotated)
    counts = tf.cast(tf.reduce_sum(annotated, axis=-1) > 0, tf.float32)
    unlabelled = 1.0 - label_mask(expression_labels)
    return masked_mean(_categorical_kl(target, expression_logits), counts * unlabelled)
