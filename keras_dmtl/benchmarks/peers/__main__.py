"""Our models beside face_recognition and fer on one face set (prints a table).

    pip install -r requirements-peers.txt
    python -m keras_dmtl.benchmarks.peers --data_dir=/tmp/faces/jaffe \\
        --export_dir=keras_dmtl/pretrained --detector=haar --peers=face_recognition,fer

Every peer sees the same decoded photos; verification is scored on the pairs of
the photos in which every embedding peer found a face (every pair: genuine when
the two photos show one person), expression on the labelled photos in which
every expression peer found one. Times are medians on this machine's CPU, the
peers' libraries as they come (their own threads).
"""

import sys

from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import tqdm  # noqa: E402

from keras_dmtl.benchmarks.peers import compare  # noqa: E402
from keras_dmtl.benchmarks.peers import registry  # noqa: E402
from keras_dmtl.data.faces.loading import decode_image  # noqa: E402
from keras_dmtl.data.readers import read_dataset  # noqa: E402
from keras_dmtl.data.records import DataError  # noqa: E402
from keras_dmtl.edge.manifest import ManifestError  # noqa: E402
from keras_dmtl.edge.runtime import MAX_DETECT_SIDE  # noqa: E402
from keras_dmtl.edge.runtime import MIN_FACE_FRACTION  # noqa: E402
from keras_dmtl.io_utils import write_json  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "A face set in any layout train.py reads.")
flags.DEFINE_string("dataset", "auto", "Its format, or auto.")
flags.DEFINE_multi_string("export_dir", [], "Our export folder(s); repeat for several.")
flags.DEFINE_list("formats", ["tflite_int8"], "Which of each export's models to run.")
flags.DEFINE_string("detector", "haar", "How our models find faces: none (crops), haar, "
                    "mtcnn or yunet:/path.onnx.")
flags.DEFINE_integer("max_detect_side", MAX_DETECT_SIDE,
                     "Our models search faces in a copy of each image shrunk to this longer "
                     "side, as `unlock --max_detect_side` (0: the image as it is).", lower_bound=0)
flags.DEFINE_float("min_face_fraction", MIN_FACE_FRACTION,
                   "Our models look only for faces of at least this fraction of the image's "
                   "shorter side, as `unlock --min_face_fraction` (0: every size).",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_list("peers", ["face_recognition", "fer"], "Other libraries' peers to run.")
flags.DEFINE_string("reference", "face_recognition",
                    "The peer whose default decision (its TAR there) is the operating point at "
                    "which every peer's FAR is also reported; empty: none.")
flags.DEFINE_integer("limit", 0, "Use only the first this many photos (0: all).", lower_bound=0)
flags.DEFINE_integer("frames", 20, "Photos also timed as 640x480 frames.", lower_bound=0)
flags.DEFINE_string("out", None, "Also write the rows as JSON here.")
flags.mark_flag_as_required("data_dir")


def _peers():
    peers = [registry.lookup("export")(export_dir, model_format, FLAGS.detector,
                                       FLAGS.max_detect_side, FLAGS.min_face_fraction)
             for export_dir in FLAGS.export_dir for model_format in FLAGS.formats]
    return peers + [registry.lookup(name)() for name in FLAGS.peers]


def main(argv):
    del argv
    try:
        records = read_dataset(FLAGS.data_dir, FLAGS.dataset)
        if FLAGS.limit:
            records = records.subset(range(min(FLAGS.limit, len(records))))
        images = []
        for source in tqdm.tqdm(records.sources, desc="Decoding", unit="photo", disable=None):
            image = decode_image(source)
            if image is None:
                raise DataError(f"{source}: not a readable image.")
            images.append(image)
        peers = _peers()
    except (DataError, ManifestError, ValueError, ImportError) as error:
        logging.error("%s", error)
        sys.exit(1)
    runs = [compare.run_peer(peer, images, FLAGS.frames) for peer in peers]
    rows = compare.compare(runs, records.subject, records.expression, records.expression_names,
                           reference=FLAGS.reference or None)
    print(compare.format_table(rows, f"{FLAGS.data_dir}: {len(images)} photos of "
                                     f"{len(set(records.subject))} subjects"))
    if FLAGS.out:
        write_json(FLAGS.out, rows)


if __name__ == "__main__":
    app.run(main)
