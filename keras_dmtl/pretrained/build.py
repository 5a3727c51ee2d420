"""Makes the shipped model folder (keras_dmtl/pretrained) from a trained run.

    python -m keras_dmtl.pretrained.build --run_dir=runs/public_faces

Takes the run's export (`<run_dir>/export`, written by train.py or
export/export_model.py): its int8 and float32 TFLite files with their calibrated
thresholds, and the run's model as `model.keras` for fine-tuning (weights and
configuration, no optimizer state), with the run's class names. Then it runs
every shipped format on a generated face and keeps the outputs
(`reference.json`: the face is regenerated, never stored), so a test can tell that the files are the ones the model card
describes. The manifest is written last: until then the old manifest's checksums
refuse the new files (the runtime fails closed).
"""

import hashlib
import os
import shutil

from keras_dmtl.startup import quiet_logs
from keras_dmtl.startup import quiet_native_startup

if __name__ == "__main__":
    quiet_native_startup()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_dmtl.data.generated.synthetic import random_identity  # noqa: E402
from keras_dmtl.data.generated.synthetic import render_face  # noqa: E402
from keras_dmtl.data.records import DataError  # noqa: E402
from keras_dmtl.edge.litert_model import LiteRTFaceModel  # noqa: E402
from keras_dmtl.edge.manifest import parse_manifest  # noqa: E402
from keras_dmtl.export.inference import build_inference_model  # noqa: E402
from keras_dmtl.io_utils import atomic_path  # noqa: E402
from keras_dmtl.io_utils import read_json  # noqa: E402
from keras_dmtl.io_utils import sha256_digest  # noqa: E402
from keras_dmtl.io_utils import write_json  # noqa: E402
from keras_dmtl.models.multitask import DynamicMultiTaskModel  # noqa: E402
from keras_dmtl.pretrained import KERAS_MODEL  # noqa: E402
from keras_dmtl.pretrained import LABELS  # noqa: E402
from keras_dmtl.pretrained import MANIFEST  # noqa: E402
from keras_dmtl.pretrained import PRETRAINED_DIR  # noqa: E402
from keras_dmtl.pretrained import REFERENCE  # noqa: E402
from keras_dmtl.pretrained import SHIPPED_FORMATS  # noqa: E402

# The reference face: a generated person (seed) showing an expression at its apex.
REFERENCE_SEED = 7
REFERENCE_EXPRESSION = "happy"


def reference_face(image_size, channels):
    """The generated face whose outputs `reference.json` keeps.

    Args:
        image_size: the model's input side.
        channels: 1 or 3.

    Returns:
        float32 (1, image_size, image_size, channels), pixels 0..255.
    """
    rng = np.random.default_rng(REFERENCE_SEED)
    image, _ = render_face(random_identity(rng), REFERENCE_EXPRESSION, 1.0, rng,
                           size=image_size, channels=channels)
    return image.reshape(1, image_size, image_size, channels).astype(np.float32)


def face_digest(face):
    """sha256 of the reference face's uint8 pixels: the generator still draws it."""
    return hashlib.sha256(np.asarray(face, np.uint8).tobytes()).hexdigest()


def without_optimizer(model):
    """A copy of a trained `DynamicMultiTaskModel` with its weights and state, not
    compiled: saved, it holds no optimizer moments (a third of the file)."""
    copy = DynamicMultiTaskModel.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _copy_file(source, destination):
    with atomic_path(destination) as temporary:
        shutil.copyfile(source, temporary)


def build(run_dir, export_dir=None, out_dir=PRETRAINED_DIR):
    """Writes the shipped model folder from a run and its export.

    Args:
        run_dir: the train.py run folder (model.keras, labels.json).
        export_dir: its export folder; default `<run_dir>/export`.
        out_dir: where to write; default this package's folder.

    Returns:
        The manifest written.

    Raises:
        DataError: a missing file or format, named with what to do.
    """
    export_dir = export_dir or os.path.join(run_dir, "export")
    manifest_path = os.path.join(export_dir, MANIFEST)
    for path, what in ((os.path.join(run_dir, "model.keras"), "a finished train.py run"),
                       (os.path.join(run_dir, LABELS), "a train.py run folder"),
                       (manifest_path, "an export (export/export_model.py)")):
        if not os.path.isfile(path):
            raise DataError(f"{path} does not exist: --run_dir must be {what}.")
    manifest = read_json(manifest_path)
    missing = [fmt for fmt in SHIPPED_FORMATS if fmt not in manifest.get("formats", {})]
    if missing:
        raise DataError(f"{export_dir} has no {', '.join(missing)}: export them with "
                        f"export/export_model.py --run_dir={run_dir} "
                        f"--export.formats=\"{tuple(SHIPPED_FORMATS)}\".")
    os.makedirs(out_dir, exist_ok=True)
    formats = {}
    for fmt in SHIPPED_FORMATS:
        entry = dict(manifest["formats"][fmt])
        parse_manifest(manifest, fmt)  # the export's own entry must be sound
        _copy_file(os.path.join(export_dir, entry["file"]), os.path.join(out_dir, entry["file"]))
        formats[fmt] = entry
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    keras_path = os.path.join(out_dir, KERAS_MODEL)
    with atomic_path(keras_path) as temporary:
        without_optimizer(model).save(temporary)
    formats["keras"] = {**manifest["formats"]["keras"], "file": KERAS_MODEL,
                        "bytes": os.path.getsize(keras_path),
                        "sha256": sha256_digest(keras_path)}
    # The class names decide what a fine-tuning run takes over; the run's split
    # (its held-out people) means nothing outside its data.
    labels = read_json(os.path.join(run_dir, LABELS))
    write_json(os.path.join(out_dir, LABELS), {key: labels[key] for key in (
        "expression_names", "identity_names")})

    spec = manifest["input"]
    face = reference_face(spec["height"], spec["channels"])
    outputs = {"keras": build_inference_model(model).predict(face, verbose=0)}
    for fmt in SHIPPED_FORMATS:
        outputs[fmt] = LiteRTFaceModel(os.path.join(out_dir, formats[fmt]["file"]))(face)
    write_json(os.path.join(out_dir, REFERENCE), {
        "face_sha256": face_digest(face),
        "outputs": {fmt: {name: np.asarray(value, np.float64).reshape(-1).tolist()
                          for name, value in values.items()}
                    for fmt, values in outputs.items()}})

    shipped = {**manifest, "formats": formats, "ensemble": [KERAS_MODEL]}
    write_json(os.path.join(out_dir, MANIFEST), shipped)
    return shipped


def _define_flags():
    flags.DEFINE_string("run_dir", None, "The train.py run folder to ship.", required=True)
    flags.DEFINE_string("export_dir", None, "Its export folder; default <run_dir>/export.")
    flags.DEFINE_string("out_dir", PRETRAINED_DIR, "Where to write the shipped folder.")


def main(argv):
    del argv
    quiet_logs()
    try:
        shipped = build(flags.FLAGS.run_dir, flags.FLAGS.export_dir, flags.FLAGS.out_dir)
    except DataError as error:
        logging.error("%s", error)
        raise SystemExit(2) from None
    for fmt, entry in shipped["formats"].items():
        print(f"{fmt}: {entry['file']} {entry['bytes'] / 2**20:.2f} MiB, threshold "
              f"{entry['threshold']:.4f}, backed={entry['calibration']['backed']}")


if __name__ == "__main__":
    _define_flags()
    app.run(main)
