"""Verification thresholds that say how sure they are: FAR with a confidence bound.

With N impostor pairs, a measured false-accept rate of 0 does not show a FAR of
1e-5: the one-sided 95 % Clopper-Pearson upper bound with no accepted impostor is
1 - 0.05^(1/N), about 3/N. A threshold is *backed* for a target FAR when that
upper bound at the threshold is at most the target. When the pairs cannot back
the target, the threshold accepts no impostor of the set (the most conservative
the pairs can measure), a warning is logged and the result says `backed: False`,
which the manifest records and the unlock runtime reports.
"""

import logging

import numpy as np
from scipy import stats

_LOG = logging.getLogger(__name__)

CONFIDENCE = 0.95


def far_upper_bound(accepted, impostors, confidence=CONFIDENCE):
    """One-sided Clopper-Pearson upper confidence bound of a false-accept rate.

    Args:
        accepted: impostor pairs accepted at the threshold.
        impostors: impostor pairs scored.
        confidence: the bound's confidence level.

    Returns:
        float: the FAR that the data rule out at `confidence` (1.0 with no pairs).
    """
    if impostors <= 0:
        return 1.0
    test = stats.binomtest(int(accepted), int(impostors), alternative="less")
    return float(test.proportion_ci(confidence_level=confidence, method="exact").high)


def pairs_needed(target_far, confidence=CONFIDENCE):
    """Impostor pairs needed to back `target_far` with no impostor accepted."""
    # (1 - target)^N <= 1 - confidence  <=>  N >= log(1 - confidence) / log(1 - target)
    return int(np.ceil(np.log(1.0 - confidence) / np.log1p(-target_far)))


def calibrate(scores, is_same, target_far, subjects=None):
    """The lowest threshold whose FAR upper bound meets `target_far`.

    Args:
        scores: similarity of each pair.
        is_same: True for genuine pairs.
        target_far: the false-accept rate to guarantee (at 95 % confidence).
        subjects: how many people the pairs come from (recorded only).

    Returns:
        dict: threshold, tar (genuine pairs accepted), far (impostors accepted
        on these pairs), far_upper_bound, target_far, backed, impostor_pairs,
        genuine_pairs, subjects, confidence.
    """
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    impostor = np.sort(scores[~is_same])[::-1]
    count = len(impostor)
    # The bound grows with the accepted count: take the most accepted impostors
    # the target allows (binary search over k), at least none.
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if far_upper_bound(middle, count) <= target_far:
            low = middle
        else:
            high = middle - 1
    accepted = low
    backed = count > 0 and far_upper_bound(accepted, count) <= target_far
    if count == 0:
        threshold = 1.0
    else:
        # Accept strictly above the (accepted + 1)-th highest impostor score. A
        # cosine cannot exceed 1: an impostor at 1 leaves 1 (accept nothing less).
        threshold = min(float(np.nextafter(impostor[accepted], np.inf)), 1.0)
    accepted = int(np.sum(impostor >= threshold))
    bound = far_upper_bound(accepted, count)
    genuine = scores[is_same]
    if not backed:
        _LOG.warning(
            "%d impostor pairs cannot back FAR %.2g (95 %% upper bound at the strictest "
            "threshold: %.2g; about %d pairs are needed): the threshold accepts no impostor "
            "of the set and is marked not backed. Calibrate on more subjects "
            "(--export.calibration_data=<a face set>).", count, target_far, bound,
            pairs_needed(target_far))
    return {"threshold": float(threshold),
            "tar": float(np.mean(genuine >= threshold)) if len(genuine) else 0.0,
            "far": accepted / count if count else 0.0, "far_upper_bound": bound,
            "target_far": float(target_far), "backed": bool(backed),
            "impostor_pairs": int(count), "genuine_pairs": int(len(genuine)),
            "subjects": None if subjects is None else int(subjects),
            "confidence": CONFIDENCE}


def strictest_of_populations(populations, target_far):
    """One threshold that keeps every population within the target: the strictest
    of their own calibrated thresholds, with each population's FAR re-measured at it.

    A threshold does not transfer across populations (docs/results.md): calibrated
    on the pairs of all of them at once, it holds on average and may be exceeded
    on one. Taking the highest of the per-population thresholds, each population
    accepts at most as many impostors as at its own.

    Args:
        populations: list of (scores, is_same, calibrate's result) per population,
            the result carrying "data" (its name) and "subjects".
        target_far: the FAR each population must meet.

    Returns:
        A `calibrate`-style dict at that threshold: "far" and "far_upper_bound"
        the worst population's, "backed" when every population's bound meets the
        target, pairs and subjects summed, "data" the populations' names joined,
        and "populations" with each one's figures at the chosen threshold.
    """
    threshold = max(result["threshold"] for _, _, result in populations)
    rows = []
    for scores, is_same, result in populations:
        scores, is_same = np.asarray(scores, np.float64), np.asarray(is_same, bool)
        impostors = int(np.sum(~is_same))
        accepted = int(np.sum(scores[~is_same] >= threshold))
        genuine = scores[is_same]
        bound = far_upper_bound(accepted, impostors)
        rows.append({"data": result["data"], "own_threshold": result["threshold"],
                     "far": accepted / impostors if impostors else 0.0,
                     "far_upper_bound": bound, "backed": bool(impostors and bound <= target_far),
                     "tar": float(np.mean(genuine >= threshold)) if len(genuine) else 0.0,
                     "impostor_pairs": impostors, "genuine_pairs": int(len(genuine)),
                     "subjects": result["subjects"]})
    genuine_pairs = sum(row["genuine_pairs"] for row in rows)
    return {"threshold": float(threshold),
            "tar": (sum(row["tar"] * row["genuine_pairs"] for row in rows) / genuine_pairs
                    if genuine_pairs else 0.0),
            "far": max(row["far"] for row in rows),
            "far_upper_bound": max(row["far_upper_bound"] for row in rows),
            "target_far": float(target_far), "backed": all(row["backed"] for row in rows),
            "impostor_pairs": sum(row["impostor_pairs"] for row in rows),
            "genuine_pairs": genuine_pairs,
            "subjects": sum(row["subjects"] or 0 for row in rows), "confidence": CONFIDENCE,
            "data": ",".join(row["data"] for row in rows), "populations": rows}
