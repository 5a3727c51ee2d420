"""Streaming keeps memory flat: peak RSS does not grow with the dataset's size.

One process streams 10 epochs of a set of 1,000 images, then 1 epoch of a set of
10,000 (64 x 64 RGB, decoded; augmentation, arithmetic on each image that holds
nothing, is left out to keep the test short): the same number of images through
the same pipeline, from the same number of shards, out of a set ten times larger.
(tf.data's autotuner grows its buffers over the first thousands of batches, and
each shard read at once has its buffers: both are bounded, and both runs have
them alike.) Its peak RSS may grow by a small share of what holding the 9,000
extra images takes (the in-memory path holds each image two or three times: the
array, its splits, the pipeline's tensor).
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np

from keras_dmtl.data.shards import index as shard_index
from keras_dmtl.data.shards.streaming import serialize_example
from keras_dmtl.io_utils import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CHANNELS = 64, 3
SMALL, LARGE = 1000, 10000
SUBJECTS = 200
SHARDS = 20  # more than streaming.CYCLE_LENGTH, read at once
# Growth allowed from SMALL to LARGE images, as a share of their decoded bytes.
ALLOWED_SHARE = 0.25

STREAM = """
import json, resource, sys
from keras_dmtl.data.shards.index import read_index
from keras_dmtl.data.shards.streaming import make_shard_training_dataset, split_shards

peaks = []
for root, epochs in zip(sys.argv[1::2], sys.argv[2::2]):
    train = split_shards(read_index(root), (1.0, 0.0, 0.0), seed=0)[0]
    dataset, steps = make_shard_training_dataset(train, 40, 0, 0, int(epochs), augment=False,
                                                 shuffle_window=1024)
    images = sum(len(batch[0]) for batch in dataset.as_numpy_iterator())
    peaks.append((images, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
print(json.dumps(peaks))
"""


def _write_shards(root, count):
    """A shard set of `count` examples in `SHARDS` shards, drawn from a few smooth
    RGB images."""
    shard_size = count // SHARDS
    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(8):
        image = cv2.GaussianBlur(rng.integers(0, 255, (SIZE, SIZE, CHANNELS), np.uint8), (0, 0), 2)
        encoded.append(cv2.imencode(".png", image)[1].tobytes())
    os.makedirs(root)
    shards = []
    import tensorflow as tf

    for number, start in enumerate(range(0, count, shard_size)):
        name = f"shard-{number:05d}.tfrecord"
        with tf.io.TFRecordWriter(os.path.join(root, name)) as writer:
            for position in range(start, min(start + shard_size, count)):
                subject = position % SUBJECTS
                writer.write(serialize_example(encoded[position % 8], subject, position % 7,
                                               subject, f"image {position}"))
        shards.append({"file": name, "examples": min(shard_size, count - start),
                       "bytes": os.path.getsize(os.path.join(root, name))})
    per_subject = np.bincount(np.arange(count) % SUBJECTS, minlength=SUBJECTS)
    record = shard_index.index_record(
        shards, [f"P{i}" for i in range(SUBJECTS)], [str(e) for e in range(7)],
        [f"P{i}" for i in range(SUBJECTS)], per_subject, [[i] for i in range(SUBJECTS)],
        {"image_size": SIZE, "channels": CHANNELS, "encoding": "png"}, ["test"], {})
    write_json(os.path.join(root, shard_index.INDEX_NAME), record)
    return root


def test_peak_memory_stays_flat_on_a_ten_times_larger_set(tmp_path):
    small = _write_shards(str(tmp_path / "small"), SMALL)
    large = _write_shards(str(tmp_path / "large"), LARGE)
    epochs = LARGE // SMALL
    result = subprocess.run([sys.executable, "-c", STREAM, small, str(epochs), large, "1"],
                            capture_output=True,
                            text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    (small_images, small_peak), (large_images, large_peak) = json.loads(
        result.stdout.strip().splitlines()[-1])
    assert (small_images, large_images) == (epochs * SMALL, LARGE)
    extra_bytes = (LARGE - SMALL) * SIZE * SIZE * CHANNELS
    growth = large_peak - small_peak
    print(f"peak RSS {small_peak / 2**20:.0f} MiB streaming {SMALL} images {epochs} times, "
          f"{large_peak / 2**20:.0f} MiB streaming {LARGE}: +{growth / 2**20:.1f} MiB "
          f"(the extra images hold {extra_bytes / 2**20:.0f} MiB decoded)")
    assert growth < ALLOWED_SHARE * extra_bytes
