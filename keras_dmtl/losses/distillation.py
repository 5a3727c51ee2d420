"""Teacher soft labels: what a trained model knows stands in for a missing label.

Deng, Chen & Shi (2020, "Multitask emotion recognition with incomplete labels")
train a teacher on every label there is, then train a student on the ground
truth plus the teacher's outputs ("soft labels") for the labels a sample lacks.
Here the teacher's expression logits fill a missing expression label through
Hinton et al.'s distillation term (KL divergence at temperature T, scaled by T^2
so that its gradients keep their size when T changes), and its normalised
embedding fills a missing identity label through an embedding-distillation term
(1 - cosine similarity). A sample that has the ground truth may mix in the
teacher's view with weight `mix`.

Both are averaged like the masked task losses (`masked.masked_mean`): exact
under tf.distribute, exactly 0 for a batch with nothing to learn from.
"""

import tensorflow as tf

from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_mean

# The label keys under which a batch carries the teacher's outputs.
TEACHER_EXPRESSION = "teacher_expression_logits"
TEACHER_EMBEDDING = "teacher_embedding"


def soft_label_divergence(teacher_logits, student_logits, temperature):
    """Per sample, T^2 * KL(softmax(teacher / T) || softmax(student / T)).

    Args:
        teacher_logits: float (B, K), the teacher's unnormalised scores.
        student_logits: float (B, K).
        temperature: T > 0; above 1 softens both distributions, so the teacher's
            ranking of the wrong classes carries over.

    Returns:
        float32 (B,), >= 0, 0 where the student matches the teacher.
    """
    temperature = float(temperature)
    teacher = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / temperature)
    student = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / temperature)
    divergence = tf.reduce_sum(tf.exp(teacher) * (teacher - student), axis=-1)
    return temperature**2 * divergence


def soft_label_expression_loss(labels, student_logits, teacher_logits, temperature, mix,
                               hard_loss):
    """The expression loss with teacher soft labels, averaged over the batch.

    Per sample: the teacher's soft label alone where the expression label is
    missing (-1); `(1 - mix) * hard + mix * soft` where it is present.

    Args:
        labels: int (B,) expression classes, -1 where absent.
        student_logits: float (B, K).
        teacher_logits: float (B, K), in the student's class order.
        temperature: T of `soft_label_divergence`.
        mix: in [0, 1]: the teacher's share for samples with ground truth.
        hard_loss: float (B,) the ground-truth loss per sample (its value where
            the label is missing is ignored).

    Returns:
        A float32 scalar.
    """
    present = label_mask(labels)
    soft = soft_label_divergence(teacher_logits, student_logits, temperature)
    per_sample = present * ((1.0 - mix) * tf.cast(hard_loss, tf.float32) + mix * soft) + (
        1.0 - present) * soft
    return masked_mean(per_sample, tf.ones_like(present))


# How the student's embedding is held to the teacher's (`embedding_target_loss`).
EMBEDDING_LOSSES = ("cosine", "pairwise")


def _target_weights(identity_labels, teacher_embedding, mix):
    """Per sample: 1 without an identity label, `mix` with one, 0 without a target."""
    present = label_mask(identity_labels)
    has_target = tf.cast(tf.reduce_any(tf.not_equal(teacher_embedding, 0), axis=-1), tf.float32)
    return ((1.0 - present) + mix * present) * has_target


def embedding_distillation_loss(identity_labels, embedding, teacher_embedding, mix):
    """1 - cos(student embedding, teacher embedding), averaged over the samples
    without an identity label (weight 1) and those with one (weight `mix`); a
    sample whose teacher embedding is all 0 (the teacher found no face in it) has
    no target and weight 0.

    Args:
        identity_labels: int (B,), -1 where absent.
        embedding: float (B, D) the student's embedding (normalised here).
        teacher_embedding: float (B, D) the teacher's, L2-normalised, or 0.
        mix: in [0, 1]: the weight of samples that have their identity label.

    Returns:
        A float32 scalar in [0, 2]; 0 for a batch where every weight is 0.
    """
    student = tf.math.l2_normalize(tf.cast(embedding, tf.float32), axis=-1)
    cosine = tf.reduce_sum(student * tf.cast(teacher_embedding, tf.float32), axis=-1)
    return masked_mean(1.0 - cosine, _target_weights(identity_labels, teacher_embedding, mix))


def pairwise_similarity_distillation_loss(identity_labels, embedding, teacher_embedding, mix):
    """The student's cosine similarities between the batch's faces held to the
    teacher's (relational distillation, Park et al. 2019): per sample, the mean
    squared difference of its similarities to the other samples with a target,
    averaged with the weights of `embedding_distillation_loss`.

    Unlike the cosine target, the student's embedding space may be any rotation
    of the teacher's: only who is near whom is taught.

    Args:
        identity_labels, embedding, teacher_embedding, mix: as in
            `embedding_distillation_loss`.

    Returns:
        A float32 scalar >= 0; 0 for a batch with fewer than two targets.
    """
    student = tf.math.l2_normalize(tf.cast(embedding, tf.float32), axis=-1)
    teacher = tf.cast(teacher_embedding, tf.float32)
    weight = _target_weights(identity_labels, teacher, mix)
    difference = tf.square(tf.matmul(student, student, transpose_b=True)
                           - tf.matmul(teacher, teacher, transpose_b=True))
    others = tf.cast(weight[None, :] > 0, tf.float32) * (1.0 - tf.eye(tf.shape(weight)[0]))
    count = tf.reduce_sum(others, axis=1)
    per_sample = tf.reduce_sum(difference * others, axis=1) / tf.maximum(count, 1.0)
    return masked_mean(per_sample, weight * tf.cast(count > 0, tf.float32))


def embedding_target_loss(kind, identity_labels, embedding, teacher_embedding, mix):
    """The embedding-distillation loss of `kind` ("cosine" or "pairwise").

    Raises:
        ValueError: another kind; the message lists `EMBEDDING_LOSSES`.
    """
    if kind == "cosine":
        return embedding_distillation_loss(identity_labels, embedding, teacher_embedding, mix)
    if kind == "pairwise":
        return pairwise_similarity_distillation_loss(identity_labels, embedding,
                                                     teacher_embedding, mix)
    raise ValueError(f"Unknown embedding distillation loss {kind!r}: choose one of "
                     f"{', '.join(EMBEDDING_LOSSES)}.")
