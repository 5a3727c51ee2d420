"""Write a face dataset as TFRecord shards, for training that streams (docs/training.md).

    python -m keras_dmtl.data.shards --data_dir=/data/CASIA-WebFace --out_dir=shards/casia \\
        --image_size=112 --channels=3 --detector=mtcnn --encoding=jpeg
    python -m keras_dmtl.data.shards --data_dir=/data/CASIA-WebFace,/data/CK+48 \\
        --out_dir=shards/casia_ck --image_size=112 --channels=3   # two sources, one set
    python -m keras_dmtl.data.shards --synthetic=100000 --synthetic_identities=2000 \\
        --out_dir=shards/generated
    python train.py --config.data_dir=shards/generated     # streams them

Any format `train.py` reads (`--dataset`, detected by default) is detected and
aligned once, in worker processes; a rerun after an interruption keeps the
finished shards. `--image_size` and `--channels` must be those of the runs that
will train on the shards.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards.index import ENCODINGS
from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset folder or file (any format train.py reads); "
                    "several, comma-separated, are written as one shard set of several "
                    "sources (identities kept apart, subjects named <source>/<subject>).")
flags.DEFINE_string("dataset", "auto", "Dataset format name, or auto to detect it; one per "
                    "--data_dir source, comma-separated, or one for all.")
flags.DEFINE_string("out_dir", None, "Folder for the shards: new, empty, or an interrupted "
                    "run's of the same data and settings.")
flags.DEFINE_integer("synthetic", 0, "Instead of --data_dir: this many generated faces.",
                     lower_bound=0)
flags.DEFINE_integer("synthetic_identities", 1000, "People among the generated faces.",
                     lower_bound=3)
flags.DEFINE_integer("image_size", 64, "Crop side in pixels (the runs' --config.image_size).",
                     lower_bound=16, upper_bound=1024)
flags.DEFINE_enum("channels", "1", ["1", "3"], "1 = grayscale, 3 = RGB "
                  "(the runs' --config.channels).")
flags.DEFINE_string("detector", "none", "none (images are face crops), mtcnn, haar or "
                    "yunet:/path/face_detection_yunet.onnx.")
flags.DEFINE_enum("encoding", "png", list(ENCODINGS), "png (lossless) or jpeg (quality 95, "
                  "about 4x smaller for RGB faces).")
flags.DEFINE_integer("shard_size", 1024, "Examples per shard.", lower_bound=1)
flags.DEFINE_integer("workers", None, "Worker processes (default: one per core).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seeds the shuffle of the examples (and the generated faces).",
                     lower_bound=0)
flags.DEFINE_bool("skip_bad_images", False, "Skip (and count) unreadable images and images "
                  "without a face instead of stopping.")
flags.mark_flag_as_required("out_dir")


def _plan():
    from keras_dmtl.data.shards import writer as shard_writer  # noqa: PLC0415

    if FLAGS.synthetic and FLAGS.data_dir:
        raise DataError("--synthetic and --data_dir: give one of them.")
    if FLAGS.synthetic:
        return shard_writer.plan_generated(FLAGS.synthetic, FLAGS.synthetic_identities,
                                           FLAGS.seed)
    if not FLAGS.data_dir:
        raise DataError("Give --data_dir (a dataset) or --synthetic (a number of generated faces).")
    from keras_dmtl.data.readers import combine  # noqa: PLC0415
    from keras_dmtl.data.readers import read_dataset  # noqa: PLC0415
    from keras_dmtl.data.sources import parse_sources  # noqa: PLC0415

    try:
        sources = parse_sources(FLAGS.data_dir, FLAGS.dataset)
    except ValueError as error:
        raise DataError(str(error).replace("--config.", "--")) from None
    records = [read_dataset(source.path, source.dataset, skip_bad=FLAGS.skip_bad_images)
               for source in sources]
    return shard_writer.plan_records(records[0] if len(records) == 1 else combine(records))


def main(argv):
    del argv
    quiet_logs()
    from keras_dmtl.data.shards import writer as shard_writer  # noqa: PLC0415
    from keras_dmtl.data.shards.worker import CropSettings  # noqa: PLC0415

    try:
        plan = _plan()
        settings = CropSettings(FLAGS.image_size, int(FLAGS.channels), FLAGS.detector,
                                FACE_MARGIN, FLAGS.encoding)
        index = shard_writer.write_shards(plan, FLAGS.out_dir, settings, FLAGS.shard_size,
                                          FLAGS.seed, FLAGS.workers, FLAGS.skip_bad_images)
    except DataError as error:
        logging.error("%s", error)  # bad input: one clear line, no traceback
        sys.exit(2)
    size = sum(os.path.getsize(path) for path in index.files)
    print(f"{index.examples} examples of {sum(index.subject_examples > 0)} subjects in "
          f"{len(index.files)} shards ({size / 2**20:.1f} MiB) in {FLAGS.out_dir}; train with "
          f"--config.data_dir={FLAGS.out_dir} --config.image_size={index.image_size} "
          f"--config.channels={index.channels}")


if __name__ == "__main__":
    quiet_native_startup()
    app.run(main)
