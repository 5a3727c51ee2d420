"""Streaming input from TFRecord shards (written by `python -m keras_dmtl.data.shards`).

A run on shards holds no image array: each epoch reads the shards (several at
once, interleaved), shuffles the encoded examples window by window, decodes and
augments them in parallel and batches them, so memory stays flat whatever the
dataset size. Evaluation streams the same way, in a fixed order.

As in the in-memory pipeline, every random draw is a stateless function of
(seed, epoch): the shard order, the window shuffles and the augmentation
(`pipeline.prepare_sample`, shared by both paths). A resumed run reads the very
batches an uninterrupted run would have read.

Splits are by subject, from the index's subject list with `split_by_subject`,
the function the in-memory path calls on the samples' subjects; it depends only
on the distinct subject keys, so both paths put every person in the same split.

A split may carry per-example soft labels (a teacher's outputs,
`training.teacher.shard_soft_labels`): one TFRecord file beside each shard, with
its examples in the shard's order, read in step with it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict
from typing import List
from typing import Optional

import numpy as np
import tensorflow as tf

from keras_dmtl.data.pipeline import AUGMENT_STREAM
from keras_dmtl.data.pipeline import SHARD_ORDER_STREAM
from keras_dmtl.data.pipeline import SOURCE_STREAM
from keras_dmtl.data.pipeline import WINDOW_STREAM
from keras_dmtl.data.pipeline import epoch_seed
from keras_dmtl.data.pipeline import prepare_sample
from keras_dmtl.data.pipeline import training_steps_per_epoch
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import MISSING_LABEL
from keras_dmtl.data.shards import index as shard_index
from keras_dmtl.data.splits import split_by_subject

# Shards read at once; their examples alternate, one from each in turn.
CYCLE_LENGTH = 16
# Encoded examples parsed (and, when training, shuffled) together.
EVALUATION_WINDOW = 1024
_FEATURES = {
    shard_index.IMAGE: tf.io.FixedLenFeature([], tf.string),
    shard_index.IDENTITY: tf.io.FixedLenFeature([], tf.int64),
    shard_index.EXPRESSION: tf.io.FixedLenFeature([], tf.int64),
    shard_index.SUBJECT: tf.io.FixedLenFeature([], tf.int64),
}


def _features(index):
    """The features parsed from the examples of `index`'s set (AU labels when it
    names AUs)."""
    if not index.action_unit_names:
        return _FEATURES
    count = len(index.action_unit_names)
    return {**_FEATURES, shard_index.ACTION_UNITS: tf.io.FixedLenFeature(
        [count], tf.int64, default_value=[MISSING_LABEL] * count)}


def serialize_example(image, identity, expression, subject, source, action_units=None):
    """One example of a shard: a serialized `tf.train.Example`.

    Args:
        image: the encoded crop (PNG or JPEG bytes).
        identity, expression: label indices, -1 when absent.
        subject: the subject's index in the shard index's subject list.
        source: the image's file (or a name for generated or embedded images).
        action_units: None, or the AU labels (A,) in the index's
            action_unit_names order: 1, 0, -1 not annotated.

    Returns:
        bytes.
    """
    def int64(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    def text(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        shard_index.IMAGE: text(image),
        shard_index.IDENTITY: int64(identity),
        shard_index.EXPRESSION: int64(expression),
        shard_index.SUBJECT: int64(subject),
        shard_index.SOURCE: text(source.encode("utf-8")),
    }
    if action_units is not None:
        feature[shard_index.ACTION_UNITS] = tf.train.Feature(int64_list=tf.train.Int64List(
            value=[int(value) for value in action_units]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@dataclasses.dataclass(frozen=True)
class SoftLabelFiles:
    """Float targets per example of a shard set, kept beside it: one TFRecord file
    per shard, of the same name, holding a `tf.train.Example` per example in the
    shard's order.

    Attributes:
        root: their folder.
        widths: per label key (e.g. "teacher_expression_logits"), the floats each
            example holds; the batches carry them under that key.
    """

    root: str
    widths: Dict[str, int]

    def features(self):
        """The `tf.io.parse_example` spec of the files' examples."""
        return {key: tf.io.FixedLenFeature([width], tf.float32)
                for key, width in self.widths.items()}


def serialize_soft_labels(values):
    """One example of a `SoftLabelFiles` file from {key: float (width,)}."""
    feature = {key: tf.train.Feature(float_list=tf.train.FloatList(
        value=np.asarray(value, np.float32).ravel())) for key, value in values.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@dataclasses.dataclass(frozen=True)
class ShardSplit:
    """One subject split of a shard set, read as a stream.

    Attributes:
        index: the `ShardIndex`.
        part: 0 (train), 1 (validation) or 2 (test).
        subject_part: int32, per subject of the index, its split (-1: no examples).
        identity_map: int64, per identity of the index, its class in the run (the
            training split's identities, renumbered), -1 when not trained on.
        identity_names: the run's identity classes.
        expression_names: the expression classes.
        subjects: this split's subject keys, sorted.
        count: this split's examples.
        source_names: the index's sources.
        source_examples: int64, this split's examples per source.
        soft_labels: None, or `SoftLabelFiles` whose targets every example's
            labels carry.
    """

    index: shard_index.ShardIndex
    part: int
    subject_part: np.ndarray
    identity_map: np.ndarray
    identity_names: List[str]
    expression_names: List[str]
    subjects: List[str]
    count: int
    source_names: List[str]
    source_examples: np.ndarray
    soft_labels: Optional[SoftLabelFiles] = None

    def __len__(self) -> int:
        return self.count

    @property
    def action_unit_names(self) -> List[str]:
        """The AU labels of the set's examples; empty without AU labels."""
        return list(self.index.action_unit_names)

    def of_source(self, source: int) -> "ShardSplit":
        """This split's examples of one source (a stream that skips the others)."""
        mine = self.index.subject_sources == source
        keys = np.asarray(self.index.subjects)[mine & (self.subject_part == self.part)]
        return dataclasses.replace(
            self, subject_part=np.where(mine, self.subject_part, -1).astype(np.int32),
            subjects=sorted(keys.tolist()), count=int(self.source_examples[source]),
            source_examples=np.where(np.arange(len(self.source_names)) == source,
                                     self.source_examples, 0))


def split_shards(index, fractions, seed):
    """Splits a shard set by subject, as `split_by_subject` splits samples.

    Identities are renumbered over the training split (held-out people get -1
    and are scored by verification), as `training.run.make_splits` does.

    Args:
        index: a `ShardIndex`.
        fractions: (train, validation, test) fractions of subjects.
        seed: seeds the split.

    Returns:
        (train, validation, test) `ShardSplit`s.

    Raises:
        DataError: too few subjects, or no identity label in the training split.
    """
    present = np.flatnonzero(index.subject_examples > 0)
    sources = index.subject_sources
    groups = sources[present] if len(index.sources) > 1 else None
    parts = split_by_subject(np.asarray(index.subjects)[present], fractions, seed=seed,
                             groups=groups, group_names=index.sources)
    subject_part = np.full(len(index.subjects), -1, np.int32)
    for part, members in enumerate(parts):
        subject_part[present[members]] = part
    trained = sorted({identity for subject in present[parts[0]]
                      for identity in index.subject_identities[subject]})
    if not trained:
        raise DataError("The training split has no identity labels: add a dataset with "
                        "identities (e.g. LFW-style folders) to the shards.")
    identity_map = np.full(max(len(index.identity_names), 1), MISSING_LABEL, np.int64)
    identity_map[trained] = np.arange(len(trained))
    names = [index.identity_names[i] for i in trained]
    return tuple(
        ShardSplit(index, part, subject_part, identity_map, names, list(index.expression_names),
                   sorted(index.subjects[s] for s in present[members]),
                   int(index.subject_examples[present[members]].sum()), list(index.sources),
                   np.bincount(sources[present[members]],
                               weights=index.subject_examples[present[members]],
                               minlength=len(index.sources)).astype(np.int64))
        for part, members in enumerate(parts))


def _records(files, soft_labels=None):
    """The serialized examples of `files` (a string tensor), shards interleaved;
    with `soft_labels`, (example, soft-label example) pairs read in step."""

    def shard(path):
        examples = tf.data.TFRecordDataset(path)
        if soft_labels is None:
            return examples
        name = tf.strings.split(path, "/")[-1]
        beside = tf.data.TFRecordDataset(tf.strings.join([soft_labels.root, name], "/"))
        return tf.data.Dataset.zip(examples, beside)

    return tf.data.Dataset.from_tensor_slices(files).interleave(
        shard, cycle_length=CYCLE_LENGTH, block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _decode(index, example):
    """The uint8 (size, size, channels) crop of an example; a crop of another shape
    than the index gives stops the run (fail closed)."""
    image = tf.io.decode_image(example[shard_index.IMAGE], channels=index.channels,
                               expand_animations=False)
    return tf.ensure_shape(image, (index.image_size, index.image_size, index.channels))


def shard_crops(index, name, batch_size):
    """The uint8 crops of one shard of `index` (its file `name`), in its order, batched."""
    return tf.data.TFRecordDataset(os.path.join(index.root, name)).map(
        lambda record: _decode(index, tf.io.parse_single_example(record, _FEATURES)),
        num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _labels(split, example, action_units=False):
    identity = example[shard_index.IDENTITY]
    known = identity >= 0
    trained = tf.gather(tf.constant(split.identity_map), tf.where(known, identity, 0))
    labels = {"identity": tf.cast(tf.where(known, trained, MISSING_LABEL), tf.int32),
              "expression": tf.cast(example[shard_index.EXPRESSION], tf.int32)}
    if split.soft_labels is not None:
        labels.update({key: example[key] for key in split.soft_labels.widths})
    if action_units:
        labels["action_units"] = tf.cast(example[shard_index.ACTION_UNITS], tf.float32)
    return labels


def _check_action_units(split, action_units):
    """Refuses AU labels from a shard set that has none."""
    if action_units and not split.action_unit_names:
        raise DataError(
            f"--config.action_units.enabled=True: the shards in {split.index.root} "
            f"({', '.join(split.source_names)}) carry no action-unit labels; write them "
            "from a dataset with AU labels, or turn action_units off.")


def _split_examples(split, files, window_seed=None, window=EVALUATION_WINDOW):
    """The parsed examples of `split` in `files` order; windows shuffled when seeded."""
    soft_labels = split.soft_labels
    windows = _records(files, soft_labels).batch(window)
    if window_seed is not None:
        windows = windows.enumerate().map(lambda number, serialized: tf.nest.map_structure(
            lambda part: tf.gather(part, tf.random.experimental.stateless_shuffle(
                tf.range(tf.shape(part)[0]),
                tf.random.experimental.stateless_fold_in(window_seed, number))), serialized))
    subject_part = tf.constant(split.subject_part)
    features_spec = _features(split.index)

    def parse(examples, targets=None):
        """Parses a window at once (and its soft labels); keeps the examples of the split."""
        features = tf.io.parse_example(examples, features_spec)
        if targets is not None:
            features.update(tf.io.parse_example(targets, soft_labels.features()))
        keep = tf.equal(tf.gather(subject_part, features[shard_index.SUBJECT]), split.part)
        return {name: tf.boolean_mask(value, keep) for name, value in features.items()}

    return windows.map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def _mixed_examples(split, files, window_seed, window, mix, mix_seed, count):
    """`count` parsed examples of `split`, each drawn from a source chosen with
    probabilities `mix`: one stream per source (a source that runs out starts
    again, in a new window order), and a stateless draw of the source per example."""
    streams = []
    for source, weight in enumerate(mix):
        part = split.of_source(source)
        if weight > 0 and len(part) == 0:
            raise DataError(f"--config.source_mix gives source {split.source_names[source]} "
                            "a share, but it has no training examples: give it weight 0.")

        def rounds(cycle, part=part, source=source):
            cycle_seed = tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(window_seed, source), cycle)
            return _split_examples(part, files, cycle_seed, window)

        streams.append(tf.data.Dataset.counter().flat_map(rounds))
    logits = tf.math.log(tf.constant(np.asarray(mix)[None], tf.float32))
    choices = tf.data.Dataset.range(count).map(lambda position: tf.cast(
        tf.random.stateless_categorical(
            logits, 1, tf.random.experimental.stateless_fold_in(mix_seed, position))[0, 0],
        tf.int64))
    return tf.data.Dataset.choose_from_datasets(streams, choices)


def make_shard_training_dataset(split, batch_size, seed, initial_epoch, epochs, augment=True,
                                shuffle_window=8192, source_mix=None, action_units=False):
    """The training batches of epochs `initial_epoch` .. `epochs - 1`, streamed.

    Each epoch reads the shards in an order drawn from (seed, epoch), CYCLE_LENGTH
    at a time, shuffles each window of `shuffle_window` examples (the shards were
    shuffled as a whole when written), then decodes and augments in parallel.

    Args:
        split: the training `ShardSplit`.
        batch_size: images per batch (partial batches are dropped).
        seed: the run's seed.
        initial_epoch: the first epoch to produce (epochs already done).
        epochs: one past the last epoch.
        augment: apply `pipeline.augment_image`.
        shuffle_window: encoded examples held and shuffled together.
        source_mix: None (every example once per epoch), or per source of the
            index the probability that an example is drawn from it (a shard set
            written from several sources; `sources.check_mix`). An epoch then
            has as many examples as the split, a source cycling when it runs out.
        action_units: also give the AU labels, "action_units" float32 (B, A),
            -1.0 where not annotated.

    Returns:
        (dataset, steps_per_epoch), as `pipeline.make_training_dataset`.

    Raises:
        ValueError: the split is smaller than one batch.
        DataError: `action_units` for shards without AU labels.
    """
    steps_per_epoch = training_steps_per_epoch(len(split), batch_size)
    _check_action_units(split, action_units)
    files = tf.constant(split.index.files)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.size(files)), epoch_seed(seed, epoch, SHARD_ORDER_STREAM))
        window_seed = epoch_seed(seed, epoch, WINDOW_STREAM)
        if source_mix is None:
            examples = _split_examples(split, tf.gather(files, order), window_seed,
                                       shuffle_window)
        else:
            examples = _mixed_examples(split, tf.gather(files, order), window_seed,
                                       shuffle_window, source_mix,
                                       epoch_seed(seed, epoch, SOURCE_STREAM),
                                       steps_per_epoch * batch_size)
        augment_seed = epoch_seed(seed, epoch, AUGMENT_STREAM)
        samples = examples.enumerate().map(
            lambda position, example: prepare_sample(
                _decode(split.index, example), _labels(split, example, action_units),
                position, augment_seed, augment),
            num_parallel_calls=tf.data.AUTOTUNE)
        return samples.batch(batch_size, drop_remainder=True)

    epochs_dataset = tf.data.Dataset.range(initial_epoch, max(epochs, initial_epoch))
    return epochs_dataset.flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE), steps_per_epoch


def _ordered(split, action_units=False):
    """(uint8 image, labels, subject, has_identity) of each example of a split, in
    a fixed order: the shards' order, CYCLE_LENGTH of them interleaved."""
    examples = _split_examples(split, tf.constant(split.index.files))
    return examples.map(
        lambda example: (_decode(split.index, example),
                         _labels(split, example, action_units),
                         example[shard_index.SUBJECT], example[shard_index.IDENTITY] >= 0),
        num_parallel_calls=tf.data.AUTOTUNE)


def make_shard_dataset(split, batch_size, with_subjects=False, action_units=False):
    """A split's examples in a fixed order, unaugmented: validation and evaluation.

    Args:
        split: a `ShardSplit`.
        batch_size: images per batch (the last one may be partial).
        with_subjects: also yield, per example, its subject's index in the shard
            index and whether it carries an identity label.
        action_units: also give the AU labels (see `make_shard_training_dataset`).

    Returns:
        A `tf.data.Dataset` of (float32 images, {"identity", "expression"}), or
        with `with_subjects` (images, labels, subjects, has_identity).

    Raises:
        DataError: `action_units` for shards without AU labels.
    """
    _check_action_units(split, action_units)
    def sample(image, labels, subject, has_identity):
        image, labels = prepare_sample(image, labels, 0, None, augmenting=False)
        return (image, labels, subject, has_identity) if with_subjects else (image, labels)

    batches = _ordered(split, action_units).map(
        sample, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    # The count is known from the index: Keras then sees a finite validation set
    # (no "ran out of data" warning), and shards holding another count stop the run.
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-len(split) // batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)


def read_split_arrays(split, limit=None):
    """The first `limit` examples of a split in memory, in `make_shard_dataset` order.

    The shards were shuffled when written, so they are a random sample of the
    split (the export takes its held-out and int8 calibration images this way).

    Args:
        split: a `ShardSplit`.
        limit: at most this many examples; None: all of them.

    Returns:
        (`FaceArrays` with the run's identity labels, verification subjects: per
        example its subject key, or "" when it has no identity label).
    """
    count = len(split) if limit is None else min(limit, len(split))
    size, channels = split.index.image_size, split.index.channels
    images = np.empty((count, size, size, channels), np.uint8)
    identity, expression = np.empty(count, np.int64), np.empty(count, np.int64)
    subject, labelled = np.empty(count, np.int64), np.empty(count, bool)
    with_units = bool(split.action_unit_names)
    action_units = np.empty((count, len(split.action_unit_names)), np.int8)
    filled = 0
    batches = _ordered(split, with_units).take(count).batch(256).prefetch(tf.data.AUTOTUNE)
    for batch_images, labels, batch_subjects, has_identity in batches.as_numpy_iterator():
        rows = slice(filled, filled + len(batch_images))
        images[rows] = batch_images
        identity[rows], expression[rows] = labels["identity"], labels["expression"]
        if with_units:
            action_units[rows] = labels["action_units"]
        subject[rows], labelled[rows] = batch_subjects, has_identity
        filled += len(batch_images)
    if filled != count:
        raise DataError(f"The shards in {split.index.root} hold {filled} examples of a split "
                        f"its index counts {count} of: they changed since the index was "
                        "written; write them again.")
    names = np.asarray(split.index.subjects)[subject]
    arrays = FaceArrays(images=images, identity=identity, expression=expression, subject=names,
                        identity_names=list(split.identity_names),
                        expression_names=list(split.expression_names),
                        source=split.index.subject_sources[subject],
                        source_names=list(split.source_names),
                        action_units=action_units if with_units else None,
                        action_unit_names=split.action_unit_names)
    return arrays, np.where(labelled, names, "")


def read_split_labels(split):
    """The expression and AU labels of a split's examples, without decoding a crop
    (what estimating the task relatedness of a streamed run reads).

    Args:
        split: a `ShardSplit` of a set with AU labels.

    Returns:
        (expression int64 (N,), action_units int8 (N, A)), -1 where absent.

    Raises:
        DataError: shards without AU labels.
    """
    _check_action_units(split, True)
    expression, action_units = [], []
    examples = _split_examples(split, tf.constant(split.index.files)).batch(EVALUATION_WINDOW)
    for features in examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
        expression.append(features[shard_index.EXPRESSION])
        action_units.append(features[shard_index.ACTION_UNITS])
    count = len(split.action_unit_names)
    return (np.concatenate(expression or [np.empty(0, np.int64)]).astype(np.int64),
            np.concatenate(action_units or [np.empty((0, count), np.int64)]).astype(np.int8))


def read_shard_arrays(index):
    """Every example of a shard set in memory, with the set's own labels: the
    in-memory path for shard sets small enough (`--config.streaming=false`).

    Args:
        index: a `ShardIndex`.

    Returns:
        `FaceArrays`, in the shards' order.
    """
    whole = ShardSplit(index, 0, np.where(index.subject_examples > 0, 0, -1).astype(np.int32),
                       np.arange(max(len(index.identity_names), 1), dtype=np.int64),
                       list(index.identity_names), list(index.expression_names),
                       sorted(index.subjects), index.examples, list(index.sources),
                       np.bincount(index.subject_sources, weights=index.subject_examples,
                                   minlength=len(index.sources)).astype(np.int64))
    arrays, _ = read_split_arrays(whole)
    return arrays
