"""Epoch checkpoints as one file: the model and the training state, renamed together.

A `.keras` file is a zip archive; the training state (epochs done, global step,
loss and weight histories) is one more member of it. Keras ignores the extra
member when loading, and since model and state are one file written to a
temporary name and renamed, a run killed at any moment leaves either the previous
complete checkpoint or the new one, never a model from one epoch with the state
of another.
"""

import json
import zipfile

from keras_dmtl.data.records import DataError
from keras_dmtl.io_utils import atomic_path

CHECKPOINT_NAME = "checkpoint.keras"
STATE_MEMBER = "training_state.json"


def save_checkpoint(model, path, state):
    """Writes `model` and `state` to `path` atomically.

    Args:
        model: the Keras model (optimizer states included).
        path: the checkpoint file, normally `<run_dir>/checkpoint.keras`.
        state: JSON-serialisable training state.
    """
    with atomic_path(path) as temporary:
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(state))


def read_checkpoint_state(path):
    """The training state stored in a checkpoint written by `save_checkpoint`.

    Raises:
        DataError: naming `path`, when it is not such a checkpoint.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(STATE_MEMBER))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a checkpoint written by train.py ({error}); resume "
                        "needs the run's own checkpoint.keras, or start a new --config.out_dir.") \
            from None
