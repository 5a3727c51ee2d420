"""Compute an external teacher's embedding of every photo of some datasets, once.

    pip install -r requirements-teacher.txt
    python -m keras_dmtl.teachers.embed --teacher=dlib_resnet --workers=2 \\
        --data_dir=/tmp/faces/lfw_expr,/tmp/faces/celeba,/tmp/faces/fer_plus/data/FER2013Train \\
        --cache_dir=data_cache

Training with `--config.teacher.embeddings=dlib_resnet` and the same `--cache_dir`
then finds every embedding cached (it would compute the missing ones itself, but
a separate command can run on another machine, or overnight). Interrupted, it
keeps what it finished; rerun the same command to go on. Photos the teacher
cannot use (unreadable, no face found) are counted and named in one warning.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from keras_dmtl.data.records import DataError

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset folders or files, comma-separated, in any "
                    "format train.py reads.")
flags.DEFINE_string("dataset", "auto", "Format name per --data_dir source (comma-separated), "
                    "or one for all; auto detects it.")
flags.DEFINE_string("teacher", "dlib_resnet", "A registered teacher (keras_dmtl.teachers).")
flags.DEFINE_string("cache_dir", "data_cache", "Where the embeddings are kept (the runs' "
                    "--config.cache_dir).")
flags.DEFINE_integer("workers", 2, "Processes running the teacher.", lower_bound=1)
flags.DEFINE_bool("skip_bad_images", False, "Skip (and count) dataset entries the reader "
                  "cannot label instead of stopping.")
flags.mark_flag_as_required("data_dir")


def main(argv):
    del argv
    from keras_dmtl.data.readers import read_dataset  # noqa: PLC0415
    from keras_dmtl.data.sources import parse_sources  # noqa: PLC0415
    from keras_dmtl.teachers import cache  # noqa: PLC0415

    try:
        sources = parse_sources(FLAGS.data_dir, FLAGS.dataset)
        for source in sources:
            records = read_dataset(source.path, source.dataset, skip_bad=FLAGS.skip_bad_images)
            found = cache.teacher_embeddings(records.sources, FLAGS.teacher, FLAGS.cache_dir,
                                             workers=FLAGS.workers)
            print(f"{source.path}: {int(found.found.sum())} of {len(records)} photos embedded "
                  f"by {FLAGS.teacher} (cached in "
                  f"{cache.cache_folder(FLAGS.cache_dir, FLAGS.teacher)})")
    except (DataError, ValueError, ImportError) as error:
        logging.error("%s", error)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
