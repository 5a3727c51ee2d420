"""Center loss (Wen et al. 2016) with centers updated by a moving rule, not backprop."""

import keras
import tensorflow as tf

from keras_dmtl.losses.masked import cross_replica_sum
from keras_dmtl.losses.masked import label_mask
from keras_dmtl.losses.masked import masked_mean


@keras.saving.register_keras_serializable(package="keras_dmtl")
class CenterLoss(keras.layers.Layer):
    """Holds one center per identity and computes the center loss.

    The loss is the mean, over labelled samples, of the squared Euclidean distance
    between an embedding and its class center. Centers are non-trainable: after
    each training step `update_centers` moves every center toward its class's batch
    embeddings,

        c_j <- c_j - beta * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j),

    with segment sums only (no Python loops), so it compiles under XLA and is
    all-reduced under tf.distribute so all replicas apply the same update.

    Args:
        num_classes: number of identities.
        embedding_dim: size of the embeddings.
        beta: center update rate in [0, 1].

    Example:

    >>> center_loss = CenterLoss(num_classes=3, embedding_dim=2, beta=0.5)
    >>> embeddings = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
    >>> labels = np.array([0, -1])  # the second sample has no identity label
    >>> float(center_loss(embeddings, labels))  # the centers start at zero
    1.0
    >>> center_loss.update_centers(embeddings, labels)
    >>> center_loss.centers.numpy()[0].tolist()
    [0.25, 0.0]
    >>> float(center_loss(embeddings, labels))
    0.5625
    """

    def __init__(self, num_classes, embedding_dim, beta=0.5, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.embedding_dim = int(embedding_dim)
        self.beta = float(beta)
        self.centers = self.add_weight(
            name="centers",
            shape=(self.num_classes, self.embedding_dim),
            initializer="zeros",
            trainable=False,
            # Every replica computes the same all-reduced update, so "mean" keeps
            # the mirrored copies equal.
            aggregation="mean",
        )

    def call(self, embeddings, labels):
        """Returns the center loss of `embeddings` (B, D) for `labels` (B,), -1 = absent."""
        embeddings = tf.cast(embeddings, tf.float32)
        centers = tf.gather(self.centers, tf.maximum(tf.cast(labels, tf.int32), 0))
        squared_distance = tf.reduce_sum(tf.square(embeddings - centers), axis=-1)
        return masked_mean(squared_distance, label_mask(labels))

    def update_centers(self, embeddings, labels):
        """Moves the centers toward the labelled embeddings of this (global) batch."""
        embeddings = tf.stop_gradient(tf.cast(embeddings, tf.float32))
        mask = label_mask(labels)
        safe_labels = tf.maximum(tf.cast(labels, tf.int32), 0)
        offsets = (tf.gather(self.centers, safe_labels) - embeddings) * mask[:, None]
        offset_sums = tf.math.unsorted_segment_sum(offsets, safe_labels, self.num_classes)
        counts = tf.math.unsorted_segment_sum(mask, safe_labels, self.num_classes)
        offset_sums = cross_replica_sum(offset_sums)
        counts = cross_replica_sum(counts)
        self.centers.assign_sub(self.beta * offset_sums / (1.0 + counts)[:, None])

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            embedding_dim=self.embedding_dim,
            beta=self.beta,
        )
        return config
