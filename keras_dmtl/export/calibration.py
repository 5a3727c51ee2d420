"""Verification threshold for a target false-accept rate, on held-out pairs."""

import logging

import numpy as np

from keras_dmtl.evaluation.verification import threshold_at_far

_LOG = logging.getLogger(__name__)


def calibrate(scores, is_same, target_far):
    """The threshold reaching `target_far`, or the finest FAR the pairs support.

    Returns:
        dict: threshold, tar, far (the FAR actually calibrated), target_far,
        impostor_pairs, and coarser (True when the pairs could not support the
        target and a coarser FAR was used; a warning is logged).
    """
    impostors = int(np.sum(~np.asarray(is_same, bool)))
    far = max(target_far, 1.0 / max(impostors, 1))
    threshold, tar = threshold_at_far(scores, is_same, far)
    coarser = far > target_far
    if coarser:
        _LOG.warning("Only %d impostor pairs: calibrated at FAR %.2g instead of %.2g; "
                     "evaluate on more held-out subjects before shipping.", impostors, far,
                     target_far)
    return {"threshold": threshold, "tar": tar, "far": far, "target_far": target_far,
            "impostor_pairs": impostors, "coarser": coarser}
