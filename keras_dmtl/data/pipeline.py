"""The tf.data input pipeline: shuffling, augmentation, class balancing, batching.

Augmentation lives here, not in the model: Keras' random layers switch XLA off
for the whole model (ECOSYSTEM.md). Random draws are stateless and seeded, so a
run is reproducible.
"""

import math

import numpy as np
import tensorflow as tf

MAX_ROTATION_DEGREES = 8.0
MAX_SHIFT_FRACTION = 0.04
MAX_SCALE_CHANGE = 0.05
MAX_BRIGHTNESS = 20.0
MAX_CONTRAST_CHANGE = 0.2
# Bilinear resampling smooths pixel noise: a model that only ever sees resampled
# images scores far lower on clean crops (0.51 vs 0.71 expression accuracy on the
# same generated training set), so half of the images keep their pixel grid.
AFFINE_PROBABILITY = 0.5


def _affine_transform(seed, height, width):
    """A random rotation/scale/shift about the centre, as the 8 projective parameters
    that map output pixel coordinates to input coordinates."""
    draws = tf.random.stateless_uniform([4], seed=seed, minval=-1.0, maxval=1.0)
    angle = draws[0] * MAX_ROTATION_DEGREES * math.pi / 180.0
    scale = 1.0 + draws[1] * MAX_SCALE_CHANGE
    shift_x = draws[2] * MAX_SHIFT_FRACTION * width
    shift_y = draws[3] * MAX_SHIFT_FRACTION * height
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    return tf.stack([
        cos, -sin, centre_x - cos * (centre_x + shift_x) + sin * (centre_y + shift_y),
        sin, cos, centre_y - sin * (centre_x + shift_x) - cos * (centre_y + shift_y),
        0.0, 0.0,
    ])


def augment_image(image, seed):
    """Flip, small affine (half of the images), brightness/contrast jitter, in 0..255.

    Args:
        image: float32 (H, W, C) in 0..255.
        seed: int (2,) stateless seed of this image.

    Returns:
        The augmented float32 image.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    height, width = image.shape[0], image.shape[1]
    transform = _affine_transform(seeds[1], height, width)
    transformed = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None],
        output_shape=tf.constant([height, width], tf.int32), fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")[0]
    apply_affine = tf.random.stateless_uniform([], seed=seeds[3]) < AFFINE_PROBABILITY
    image = tf.where(apply_affine, transformed, image)
    draws = tf.random.stateless_uniform([2], seed=seeds[2], minval=-1.0, maxval=1.0)
    mean = tf.reduce_mean(image)
    image = (image - mean) * (1.0 + draws[0] * MAX_CONTRAST_CHANGE) + mean
    image = image + draws[1] * MAX_BRIGHTNESS
    return tf.clip_by_value(image, 0.0, 255.0)


def _balanced_indices(labels, seed):
    """An endless stream of sample indices with every class equally likely.

    Samples without the label (-1) form one more group of their own.
    """
    groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    streams = [tf.data.Dataset.from_tensor_slices(group).shuffle(len(group), seed=seed).repeat()
               for group in groups]
    return tf.data.Dataset.sample_from_datasets(streams, seed=seed,
                                                rerandomize_each_iteration=True)


def make_dataset(arrays, batch_size, training, seed=0, augment=True, balance=None,
                 drop_remainder=None):
    """Builds the dataset the model trains or evaluates on.

    Args:
        arrays: `FaceArrays`.
        batch_size: images per batch.
        training: shuffle (and augment) when True.
        seed: seeds shuffling, balancing and augmentation.
        augment: apply `augment_image` when training.
        balance: None, "expression" or "identity": resample so that the classes of
            that task are equally frequent (training only).
        drop_remainder: drop a last partial batch; default: when training (XLA
            would recompile for it).

    Returns:
        A `tf.data.Dataset` of (float32 images (B, H, W, C) in 0..255,
        {"identity": int32 (B,), "expression": int32 (B,)}), -1 = absent label.
    """
    if drop_remainder is None:
        drop_remainder = training
    count = len(arrays)
    if training and balance is not None:
        labels = {"expression": arrays.expression, "identity": arrays.identity}[balance]
        indices = _balanced_indices(labels, seed).take(count)
    else:
        indices = tf.data.Dataset.range(count)
        if training:
            indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    images = tf.constant(arrays.images)
    identity = tf.constant(arrays.identity, tf.int32)
    expression = tf.constant(arrays.expression, tf.int32)

    def gather(index):
        return tf.cast(tf.gather(images, index), tf.float32), {
            "identity": tf.gather(identity, index),
            "expression": tf.gather(expression, index),
        }

    dataset = indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda sample, pair: (augment_image(sample[0], pair), sample[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
