"""Face verification metrics: pairs, ROC, EER, TAR at a FAR, and the 10-fold protocol.

Scores are cosine similarities; a pair is accepted as "same person" when its score
is >= the threshold. Numpy only.
"""

import numpy as np

NOT_ENOUGH_PAIRS = "not enough pairs"


def _codes(subjects):
    """Subject keys as int32 codes: comparing millions of pairs of strings would
    take their length in bytes per pair."""
    return np.unique(np.asarray(subjects), return_inverse=True)[1].reshape(-1).astype(np.int32)


def make_pairs(subjects, max_pairs=None, seed=0):
    """All genuine pairs within subjects and as many impostor pairs, seeded.

    Args:
        subjects: (N,) subject key of each sample.
        max_pairs: optional cap on the genuine pairs (a random subset); the
            impostor count always equals the genuine count.
        seed: seeds the subsets and the impostor draw.

    Returns:
        (index_a, index_b, is_same) int64, int64, bool arrays.
    """
    subjects = _codes(subjects)
    rng = np.random.default_rng(seed)
    a, b = np.triu_indices(len(subjects), k=1)
    same = subjects[a] == subjects[b]
    genuine = np.flatnonzero(same)
    impostor = np.flatnonzero(~same)
    if max_pairs is not None and len(genuine) > max_pairs:
        genuine = rng.choice(genuine, max_pairs, replace=False)
    count = min(len(genuine), len(impostor))
    genuine = np.sort(rng.choice(genuine, count, replace=False)) if count < len(genuine) else genuine
    impostor = np.sort(rng.choice(impostor, count, replace=False))
    chosen = np.concatenate([genuine, impostor])
    return a[chosen], b[chosen], np.concatenate([np.ones(count, bool), np.zeros(count, bool)])


def interleaved_pairs(subjects, max_pairs=None, seed=0):
    """`make_pairs`, genuine and impostor pairs alternating so every fold holds both."""
    a, b, is_same = make_pairs(subjects, max_pairs=max_pairs, seed=seed)
    half = len(is_same) // 2
    order = np.ravel(np.column_stack([np.arange(half), np.arange(half) + half]))
    return a[order], b[order], is_same[order]


def all_pair_scores(embeddings, subjects):
    """Cosine similarity of every pair of samples (i < j) and whether it is genuine.

    Args:
        embeddings: (N, D) embeddings.
        subjects: (N,) subject key of each sample.

    Returns:
        (scores, is_same): float64 and bool arrays of N (N - 1) / 2 pairs.
    """
    embeddings = np.asarray(embeddings, np.float64)
    embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    subjects = _codes(subjects)
    a, b = np.triu_indices(len(subjects), k=1)
    similarity = embeddings @ embeddings.T
    return similarity[a, b], subjects[a] == subjects[b]


def cosine_scores(embeddings_a, embeddings_b):
    """Cosine similarity of matching rows (L2-normalised here)."""
    a = np.asarray(embeddings_a, np.float64)
    b = np.asarray(embeddings_b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def roc_curve(scores, is_same):
    """Exact ROC: one point per distinct score used as the threshold.

    Returns:
        (far, tar, thresholds), thresholds descending; the first point is
        (0, 0) at threshold +inf.
    """
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    genuine, impostor = np.sort(scores[is_same]), np.sort(scores[~is_same])
    # Pairs accepted at threshold t: those with score >= t.
    accepted_same = len(genuine) - np.searchsorted(genuine, thresholds, side="left")
    accepted_diff = len(impostor) - np.searchsorted(impostor, thresholds, side="left")
    return accepted_diff / max(len(impostor), 1), accepted_same / max(len(genuine), 1), thresholds


def roc_auc(scores, is_same):
    """Area under the ROC (trapezoid), i.e. P(genuine > impostor) with ties counted 1/2."""
    far, tar, _ = roc_curve(scores, is_same)
    return float(np.trapezoid(tar, far))


def equal_error_rate(scores, is_same):
    """The rate where FAR equals FRR, interpolated linearly between ROC points."""
    far, tar, _ = roc_curve(scores, is_same)
    frr = 1.0 - tar
    difference = far - frr  # rises from -1 at threshold +inf
    crossing = int(np.argmax(difference >= 0))
    if crossing == 0:
        return float(far[0])
    d0, d1 = difference[crossing - 1], difference[crossing]
    t = d0 / (d0 - d1)
    return float(far[crossing - 1] + t * (far[crossing] - far[crossing - 1]))


def threshold_at_far(scores, is_same, far):
    """The lowest threshold whose false-accept rate on these pairs is <= `far`.

    Returns:
        (threshold, tar), or None when there are fewer than 1 / far impostor
        pairs: such a FAR cannot be measured on this pair set.
    """
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    impostor = np.sort(scores[~is_same])[::-1]
    if len(impostor) < int(np.ceil(1.0 / far)):
        return None
    allowed = int(np.floor(far * len(impostor)))  # impostors that may be accepted
    # Accept strictly above the (allowed+1)-th highest impostor score.
    threshold = np.nextafter(impostor[allowed], np.inf)
    tar = float(np.mean(scores[is_same] >= threshold)) if is_same.any() else 0.0
    return float(threshold), tar


def far_at_tar(scores, is_same, tar):
    """The false-accept rate at the strictest threshold that accepts `tar` of the
    genuine pairs: another system's operating point (its TAR at its default
    threshold) read on these scores.

    Returns:
        The FAR, a float (0.0 when `tar` is 0).
    """
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    genuine = np.sort(scores[is_same])[::-1]
    needed = int(np.ceil(tar * len(genuine) - 1e-9))  # genuine pairs to accept
    if needed == 0:
        return 0.0
    return float(np.mean(scores[~is_same] >= genuine[needed - 1]))


def best_accuracy_threshold(scores, is_same):
    """The threshold that maximises accuracy on these pairs (midpoints of scores)."""
    candidates = np.unique(scores)
    candidates = np.concatenate([[candidates[0] - 1e-6], (candidates[:-1] + candidates[1:]) / 2,
                                 [candidates[-1] + 1e-6]])
    genuine, impostor = np.sort(scores[is_same]), np.sort(scores[~is_same])
    correct = (len(genuine) - np.searchsorted(genuine, candidates, side="left")
               + np.searchsorted(impostor, candidates, side="left"))
    return float(candidates[int(np.argmax(correct))])


def ten_fold_accuracy(scores, is_same, folds=10):
    """The LFW protocol: pick the threshold on 9 folds, score the 10th.

    Folds are contiguous blocks of the pair list (as in LFW's pairs.txt); callers
    that build pairs themselves interleave genuine and impostor pairs first.

    Returns:
        (mean accuracy, std, per-fold thresholds).
    """
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    if len(scores) < 2 * folds:
        raise ValueError(f"{len(scores)} pairs cannot fill {folds} folds: use fewer folds.")
    fold_of = np.arange(len(scores)) * folds // len(scores)
    accuracies, thresholds = [], []
    for fold in range(folds):
        held_out = fold_of == fold
        threshold = best_accuracy_threshold(scores[~held_out], is_same[~held_out])
        thresholds.append(threshold)
        accuracies.append(np.mean((scores[held_out] >= threshold) == is_same[held_out]))
    return float(np.mean(accuracies)), float(np.std(accuracies)), thresholds


def evaluate_pairs(scores, is_same, folds=10, fars=(1e-3, 1e-4)):
    """All verification metrics of a scored pair list, JSON-serialisable."""
    scores = np.asarray(scores, np.float64)
    is_same = np.asarray(is_same, bool)
    accuracy, std, _ = ten_fold_accuracy(scores, is_same, folds)
    metrics = {
        "pairs": int(len(scores)),
        "accuracy": accuracy,
        "accuracy_std": std,
        "auc": roc_auc(scores, is_same),
        "eer": equal_error_rate(scores, is_same),
    }
    for far in fars:
        found = threshold_at_far(scores, is_same, far)
        metrics[f"tar@far={far:g}"] = NOT_ENOUGH_PAIRS if found is None else found[1]
        metrics[f"threshold@far={far:g}"] = NOT_ENOUGH_PAIRS if found is None else found[0]
    return metrics


def evaluate_verification(embeddings, subjects, flip_embeddings=None, folds=10, max_pairs=3000,
                          seed=0):
    """Verification on held-out subjects: all genuine pairs, as many impostors.

    Args:
        embeddings: (N, D) face embeddings.
        subjects: (N,) subject keys.
        flip_embeddings: optional embeddings of the mirrored images, averaged in.
        folds: folds of the accuracy protocol.
        max_pairs: cap on genuine pairs.
        seed: seeds the pair draw.

    Returns:
        The dict of `evaluate_pairs`.
    """
    embeddings = np.asarray(embeddings, np.float64)
    if flip_embeddings is not None:
        embeddings = embeddings + np.asarray(flip_embeddings, np.float64)
    a, b, is_same = interleaved_pairs(subjects, max_pairs=max_pairs, seed=seed)
    if len(is_same) < 4:
        raise ValueError(f"Only {len(is_same)} verification pairs: held-out subjects need "
                         "at least two images each.")
    # A small held-out set gets fewer folds rather than empty ones.
    folds = min(folds, len(is_same) // 2)
    return evaluate_pairs(cosine_scores(embeddings[a], embeddings[b]), is_same, folds)


def verification_across_expressions(embeddings, subjects, expressions, far=1e-3):
    """TAR of genuine pairs whose two faces show the same vs different expressions.

    The paper's own question: does an embedding trained beside expression keep a
    person recognisable across expressions (neutral enrollment, smiling probe)?
    One operating threshold, set on every impostor pair of the set at `far` (or,
    with too few impostor pairs, just above the highest impostor score), is
    applied to both groups of genuine pairs.

    Args:
        embeddings: (N, D) embeddings.
        subjects: (N,) subject keys.
        expressions: (N,) expression labels (-1 = unknown; such pairs are left out).
        far: false-accept rate of the operating threshold.

    Returns:
        dict: threshold, far (on these impostor pairs), and tar / pairs for
        "same_expression" and "different_expression" (tar None without pairs).
    """
    scores, is_same = all_pair_scores(embeddings, subjects)
    expressions = np.asarray(expressions)
    a, b = np.triu_indices(len(expressions), k=1)
    known = (expressions[a] >= 0) & (expressions[b] >= 0)
    impostor = np.sort(scores[~is_same])[::-1]
    found = threshold_at_far(scores, is_same, far) if len(impostor) else None
    threshold = found[0] if found is not None else float(np.nextafter(
        impostor[0] if len(impostor) else 1.0, np.inf))
    result = {"threshold": threshold,
              "far": float(np.mean(impostor >= threshold)) if len(impostor) else 0.0}
    for name, group in (("same_expression", expressions[a] == expressions[b]),
                        ("different_expression", expressions[a] != expressions[b])):
        genuine = scores[is_same & known & group]
        result[name] = {"pairs": int(len(genuine)),
                        "tar": float(np.mean(genuine >= threshold)) if len(genuine) else None}
    return result


def verification_all_pairs(embeddings, subjects, fars=(1e-3,)):
    """Every pair of a held-out set: how far apart people are, and TAR at low FAR.

    Balanced pair lists hold as many impostor pairs as genuine ones, too few to
    measure FAR 1e-3; every pair of a few hundred images holds tens of thousands.

    Args:
        embeddings: (N, D) embeddings.
        subjects: (N,) subject keys.
        fars: false-accept rates to report TAR at.

    Returns:
        dict: genuine and impostor pair counts, the median similarity of each,
        and "tar@far=<far>" (NOT_ENOUGH_PAIRS below 1 / far impostor pairs).
    """
    scores, is_same = all_pair_scores(embeddings, subjects)
    metrics = {"genuine_pairs": int(is_same.sum()), "impostor_pairs": int((~is_same).sum()),
               "genuine_similarity_median": float(np.median(scores[is_same])),
               "impostor_similarity_median": float(np.median(scores[~is_same]))}
    for far in fars:
        found = threshold_at_far(scores, is_same, far)
        metrics[f"tar@far={far:g}"] = NOT_ENOUGH_PAIRS if found is None else found[1]
    return metrics

