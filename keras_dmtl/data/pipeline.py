"""The in-memory tf.data input pipeline: shuffling, augmentation, class balancing, batching.

Datasets too large for memory stream from shards instead (`shards/streaming.py`); both
paths prepare and augment samples with `prepare_sample`.

Augmentation lives here, not in the model: Keras' random layers switch XLA off
for the whole model. Random draws are stateless functions of (seed, epoch), so a
run is reproducible and a resumed run sees the data an uninterrupted one saw.
"""

import math

import numpy as np
import tensorflow as tf

from keras_dmtl.data.records import DataError

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


# The random streams of an epoch (`epoch_seed`'s `stream`).
ORDER_STREAM = 0
AUGMENT_STREAM = 1
SHARD_ORDER_STREAM = 2
WINDOW_STREAM = 3
SOURCE_STREAM = 4


def epoch_seed(seed, epoch, stream):
    """The stateless seed of one random stream (order, augmentation) of one epoch.

    Every random draw of an epoch is a function of (seed, epoch) alone, so a run
    resumed at epoch e sees exactly the data an uninterrupted run saw there.

    Args:
        seed: the run's seed.
        epoch: int or int64 scalar tensor.
        stream: one of the `*_STREAM` constants.

    Returns:
        int64 (2,) seed for the `tf.random.stateless_*` ops.
    """
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, stream)


def prepare_sample(image, labels, position, augment_seed, augmenting):
    """One training or evaluation sample as the model takes it, from either input path.

    The in-memory and the streamed (shard) pipelines both end here, so a sample
    is augmented the same way whichever path read it.

    Args:
        image: uint8 (H, W, C).
        labels: {"identity": int32, "expression": int32}.
        position: the sample's int64 position in its epoch.
        augment_seed: the epoch's `AUGMENT_STREAM` seed.
        augmenting: whether to apply `augment_image`.

    Returns:
        (float32 image in 0..255, labels).
    """
    image = tf.cast(image, tf.float32)
    if augmenting:
        image = augment_image(
            image, tf.random.experimental.stateless_fold_in(augment_seed, position))
    return image, labels


def _group_sampled_indices(groups, seed, weights=None):
    """len(groups) sample indices (with replacement): a group drawn with `weights`
    (default: every group equally likely), then a member of it uniformly.

    Args:
        groups: the group of each sample (a class, -1 included, or a source).
        seed: stateless seed.
        weights: per distinct value of `groups`, in sorted order, its probability.
    """
    values, group_of = np.unique(groups, return_inverse=True)
    members = tf.constant(np.argsort(group_of, kind="stable"), tf.int64)
    sizes = np.bincount(group_of.reshape(-1), minlength=len(values))
    offsets = tf.constant(np.concatenate([[0], np.cumsum(sizes)[:-1]]), tf.int64)
    sizes = tf.constant(sizes, tf.float32)
    count = len(groups)
    group_seed, member_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if weights is None:
        chosen = tf.random.stateless_uniform([count], group_seed, 0, len(values), tf.int64)
    else:
        chosen = tf.random.stateless_categorical(
            tf.math.log(tf.constant(np.asarray(weights)[None], tf.float32)), count, group_seed)[0]
    position = tf.random.stateless_uniform([count], member_seed) * tf.gather(sizes, chosen)
    return tf.gather(members, tf.gather(offsets, chosen) + tf.cast(position, tf.int64))


def _samples(arrays, training, seed, augment, balance, epoch, source_mix=None,
             action_units=False):
    """One epoch of (image, labels) samples, unbatched (see `make_dataset`)."""
    count = len(arrays)
    if training and source_mix is not None:
        present = np.unique(arrays.source)
        weights = np.asarray(source_mix, np.float64)[present]
        order = _group_sampled_indices(arrays.source, epoch_seed(seed, epoch, ORDER_STREAM),
                                       weights / weights.sum())
    elif training and balance is not None:
        labels = {"expression": arrays.expression, "identity": arrays.identity}[balance]
        order = _group_sampled_indices(labels, epoch_seed(seed, epoch, ORDER_STREAM))
    elif training:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), epoch_seed(seed, epoch, ORDER_STREAM))
    else:
        order = tf.range(count, dtype=tf.int64)
    images = tf.constant(arrays.images)
    identity = tf.constant(arrays.identity, tf.int32)
    expression = tf.constant(arrays.expression, tf.int32)
    augment_seed = epoch_seed(seed, epoch, AUGMENT_STREAM)
    augmenting = training and augment

    extras = {key: tf.constant(value) for key, value in arrays.extras.items()}
    if action_units:
        extras["action_units"] = tf.constant(action_unit_labels(arrays))

    def sample(position, index):
        labels = {"identity": tf.gather(identity, index),
                  "expression": tf.gather(expression, index),
                  **{key: tf.gather(value, index) for key, value in extras.items()}}
        return prepare_sample(tf.gather(images, index), labels, position, augment_seed,
                              augmenting)

    return tf.data.Dataset.from_tensor_slices(order).enumerate().map(
        sample, num_parallel_calls=tf.data.AUTOTUNE)


def action_unit_labels(arrays):
    """The AU labels of `arrays` as the model takes them: float32 (N, A), -1.0 where
    not annotated.

    Raises:
        DataError: `arrays` has no AU columns (a dataset without AU labels).
    """
    if not arrays.action_unit_names:
        raise DataError(
            f"--config.action_units.enabled=True: the data ({', '.join(arrays.source_names)}) "
            "has no action-unit labels; give a dataset with AU labels (CK+ FACS files, a "
            "manifest's action_units column, generated faces) or turn action_units off.")
    return arrays.action_units.astype(np.float32)


def make_dataset(arrays, batch_size, training, seed=0, augment=True, balance=None,
                 drop_remainder=None, epoch=0, action_units=False):
    """Builds the dataset of one epoch the model trains or evaluates on.

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
        epoch: int or int64 scalar tensor; with `seed`, it alone decides the
            order and augmentation of a training epoch.
        action_units: also give the AU labels, "action_units" float32 (B, A),
            -1.0 where not annotated (a model with an AU head trains on them).

    Returns:
        A `tf.data.Dataset` of (float32 images (B, H, W, C) in 0..255,
        {"identity": int32 (B,), "expression": int32 (B,)}), -1 = absent label,
        plus `arrays.extras` batched under their keys (and "action_units").

    Raises:
        DataError: `action_units` for arrays without AU labels.
    """
    if drop_remainder is None:
        drop_remainder = training
    samples = _samples(arrays, training, seed, augment, balance, epoch,
                       action_units=action_units)
    return samples.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def training_steps_per_epoch(count, batch_size):
    """Whole batches in a training split of `count` images (the last partial one is
    dropped, so every step sees a full batch).

    Raises:
        ValueError: the split is smaller than one batch.
    """
    steps = count // batch_size
    if steps == 0:
        raise ValueError(f"--batch_size={batch_size} is larger than the training split "
                         f"({count} images): lower --batch_size.")
    return steps


def make_training_dataset(arrays, batch_size, seed, initial_epoch, epochs, augment=True,
                          balance=None, source_mix=None, action_units=False):
    """The training batches of epochs `initial_epoch` .. `epochs - 1`, in order.

    Each epoch is that of `make_dataset(..., epoch=e)`: its order and augmentation depend
    on (seed, e) only, so resuming at epoch e continues the same data stream.

    Args:
        arrays: `FaceArrays` of the training split.
        batch_size: images per batch (partial batches are dropped).
        seed: the run's seed.
        initial_epoch: the first epoch to produce (epochs already done).
        epochs: one past the last epoch.
        augment, balance: as in `make_dataset`.
        source_mix: None, or per source of `arrays.source_names` the probability
            that a sample is drawn from it (`sources.check_mix`); an epoch then
            has len(arrays) samples drawn with replacement. Not with `balance`.
        action_units: also give the AU labels (see `make_dataset`).

    Returns:
        (dataset, steps_per_epoch): pass both to `fit` with the same
        `initial_epoch` and `epochs`.

    Raises:
        ValueError: the split is smaller than one batch.
        DataError: `action_units` for arrays without AU labels.
    """
    steps_per_epoch = training_steps_per_epoch(len(arrays), batch_size)
    if action_units:
        action_unit_labels(arrays)  # refuses data without them before anything is traced
    epochs_dataset = tf.data.Dataset.range(initial_epoch, max(epochs, initial_epoch))
    dataset = epochs_dataset.flat_map(lambda epoch: _samples(
        arrays, True, seed, augment, balance, epoch, source_mix, action_units).batch(
            batch_size, drop_remainder=True))
    return dataset.prefetch(tf.data.AUTOTUNE), steps_per_epoch
