"""Trains the tiny model on one device and under MirroredStrategy on two logical CPUs.

Run as a script (logical devices must be configured before TensorFlow starts);
prints a JSON object with the largest differences between the two runs. With
`--action-units`, the model has the third task and the batches AU labels, some
missing.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from tests.core_helpers import copy_weights  # noqa: E402
from tests.core_helpers import make_batch  # noqa: E402
from tests.core_helpers import make_model  # noqa: E402

GLOBAL_BATCH = 16
STEPS = 3
ACTION_UNITS = "--action-units" in sys.argv
# Three AUs for the helpers' two expressions.
AU_SETTINGS = {"names": ["AU1", "AU6", "AU12"], "relatedness": [[0.9, 0.1, 0.0],
                                                                [0.2, 0.8, 0.7]],
               "matching_weight": 0.5, "reverse_weight": 0.5}


def dataset():
    batches = [make_batch(GLOBAL_BATCH, seed=step) for step in range(STEPS)]
    # Half of the expression labels missing: the masked means must still be global.
    for step, (_, labels) in enumerate(batches):
        labels["expression"][::2] = -1
        if ACTION_UNITS:
            # Samples without AU labels fall on one replica's half more than the other's.
            units = np.random.default_rng(step).integers(0, 2, (GLOBAL_BATCH, 3))
            units[:5] = -1
            units[9::3, 1] = -1
            labels["action_units"] = units.astype("float32")
    images = np.concatenate([b[0] for b in batches])
    labels = {k: np.concatenate([b[1][k] for b in batches]) for k in batches[0][1]}
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)


def main():
    settings = {"action_units": AU_SETTINGS} if ACTION_UNITS else {}
    single = make_model("dynamic", **settings)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = make_model("dynamic", **settings)
    copy_weights(single, mirrored)
    single_logs = single.fit(dataset(), epochs=1, verbose=0).history
    mirrored_logs = mirrored.fit(dataset(), epochs=1, verbose=0).history
    weight_diff = max(
        float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), mirrored.get_weights())
    )
    loss_diff = max(
        abs(single_logs[k][-1] - mirrored_logs[k][-1])
        for k in ("loss", "face_loss", "expression_loss", "weight_loss", "w_face")
        + (("action_unit_loss", "w_action_units") if ACTION_UNITS else ())
    )
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "max_weight_difference": weight_diff,
        "max_loss_difference": loss_diff,
        "centers_moved": float(np.abs(mirrored.center_loss.centers.numpy()).max()),
    }))


if __name__ == "__main__":
    main()
