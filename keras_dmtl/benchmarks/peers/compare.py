"""Every peer on the same photos: verification on the same pairs, expression on the
same labelled faces, time per photo and per 640x480 frame.

A peer that finds no face in a photo would otherwise be scored on easier pairs
than the others: verification is scored over the photos in which every embedding
peer found a face, expression over the labelled photos in which every
expression peer did (each on the labels it knows).

Pairs of photos say how well a model separates people; an unlock compares a face
with a template made at enrollment. The "unlock" figures follow `unlock enroll`
and `verify` for every peer with a default decision, on the same photos: each
person is enrolled from `MIN_ENROLL_IMAGES` of their photos (neutral ones first,
as a user enrolls), which must accept each other pairwise (our enrollment rule,
applied to every peer alike); each enrolled person's other photos are then
genuine attempts and every other person's photos impostor attempts, one face
each, against the template (the normalised mean of the enrollment embeddings).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from keras_dmtl.benchmarks.peers.base import Peer
from keras_dmtl.benchmarks.peers.base import PeerOutput
from keras_dmtl.edge.enrollment import MIN_ENROLL_IMAGES
from keras_dmtl.evaluation.expression import evaluate_expression
from keras_dmtl.evaluation.verification import all_pair_scores
from keras_dmtl.evaluation.verification import far_at_tar
from keras_dmtl.evaluation.verification import roc_auc
from keras_dmtl.evaluation.verification import verification_all_pairs

FRAME_WIDTH, FRAME_HEIGHT = 640, 480


@dataclasses.dataclass
class PeerRun:
    """One peer's outputs on every photo, and its times (seconds)."""

    peer: Peer
    outputs: List[PeerOutput]
    photo_seconds: List[float]
    frame_seconds: List[float]


def in_frame(image: np.ndarray, face_side: int = 200) -> np.ndarray:
    """The photo scaled to `face_side` px high, centred on a gray 640x480 frame."""
    image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
    scale = face_side / image.shape[0]
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), face_side))
    resized = resized[:, :FRAME_WIDTH]
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 128, np.uint8)
    top = (FRAME_HEIGHT - resized.shape[0]) // 2
    left = (FRAME_WIDTH - resized.shape[1]) // 2
    frame[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return frame


def run_peer(peer: Peer, images: Sequence[np.ndarray], frames: int = 20) -> PeerRun:
    """Runs `peer` on every photo, and times it on the first `frames` as 640x480 frames."""
    outputs, photo_seconds, frame_seconds = [], [], []
    for image in images:
        start = time.perf_counter()
        outputs.append(peer.analyse(image))
        photo_seconds.append(time.perf_counter() - start)
    for image in images[:frames]:
        frame = in_frame(image)
        start = time.perf_counter()
        peer.analyse(frame)
        frame_seconds.append(time.perf_counter() - start)
    return PeerRun(peer, outputs, photo_seconds, frame_seconds)


def _common(runs: Sequence[PeerRun], field: str) -> np.ndarray:
    """Photos in which every peer that gives `field` gave it."""
    giving = [run for run in runs if any(getattr(o, field) is not None for o in run.outputs)]
    if not giving:
        return np.zeros(0, np.int64)
    count = len(runs[0].outputs)
    return np.asarray([i for i in range(count)
                       if all(getattr(run.outputs[i], field) is not None for run in giving)])


def _verification(run: PeerRun, rows: np.ndarray, subjects: np.ndarray):
    """(figures, (scores, is_same) of every pair), or ({}, None) without both kinds of pair."""
    embeddings = np.stack([run.outputs[i].embedding for i in rows])
    scores, is_same = all_pair_scores(embeddings, subjects[rows])
    if not is_same.any() or is_same.all():
        return {}, None
    figures = {"auc": roc_auc(scores, is_same)}
    figures.update(verification_all_pairs(embeddings, subjects[rows]))
    # The peer's own default decision: FAR and TAR there.
    first, second = np.triu_indices(len(rows), k=1)
    accepted = np.asarray([run.peer.accepts(run.outputs[rows[a]], run.outputs[rows[b]], s)
                           for a, b, s in zip(first, second, scores)])
    if run.peer.has_default_decision:
        figures["far_at_default"] = float(accepted[~is_same].mean())
        figures["tar_at_default"] = float(accepted[is_same].mean())
    return figures, (scores, is_same)


def _cosine(first: PeerOutput, second: PeerOutput) -> float:
    return float(np.dot(first.embedding, second.embedding))


def _unlock(run: PeerRun, rows: np.ndarray, subjects: np.ndarray, neutral: np.ndarray,
            enroll_images: int = MIN_ENROLL_IMAGES):
    """Enrollment and unlock attempts at the peer's default decision (module docstring).

    Args:
        run: the peer's run.
        rows: the photos scored (every embedding peer found a face in them).
        subjects: (N,) person of each photo.
        neutral: (N,) bool, photos labelled neutral (enrolled first).
        enroll_images: photos a person enrolls from.

    Returns:
        (figures, (scores, is_same, accepted) or None). figures: unlock_people (people
        with more photos than `enroll_images`), unlock_enrolled (the share of
        them whose enrollment passed), and, where someone enrolled, unlock_tar
        and unlock_far (the share of their genuine and impostor attempts
        accepted) with their counts. The arrays hold every person's attempts,
        enrolled or not: the enrollment rule depends on the threshold, so the
        FAR at another peer's TAR is read with it left aside; None without
        both genuine and impostor attempts.
    """
    outputs, peer = run.outputs, run.peer
    row_subjects = subjects[rows]
    people = [person for person in dict.fromkeys(row_subjects)
              if np.sum(row_subjects == person) > enroll_images]
    scores, is_same, accepted, passed = [], [], [], []  # one entry per attempt
    enrolled_people = 0
    for person in people:
        photos = sorted(rows[row_subjects == person], key=lambda i: (not neutral[i], i))
        enrolled = [outputs[i] for i in photos[:enroll_images]]
        enrollment_passed = all(peer.accepts(first, second, _cosine(first, second))
                                for first, second in itertools.combinations(enrolled, 2))
        enrolled_people += enrollment_passed
        template = peer.template(enrolled)
        for i in [*photos[enroll_images:], *rows[row_subjects != person]]:
            scores.append(_cosine(template, outputs[i]))
            is_same.append(subjects[i] == person)
            accepted.append(peer.accepts(template, outputs[i], scores[-1]))
            passed.append(enrollment_passed)
    scores = np.asarray(scores, float)
    is_same, accepted, passed = (np.asarray(column, bool) for column in (is_same, accepted, passed))
    figures = {"unlock_people": len(people),
               "unlock_enrolled": enrolled_people / len(people) if people else None}
    if enrolled_people:
        genuine, impostor = accepted[passed & is_same], accepted[passed & ~is_same]
        figures.update(unlock_tar=float(genuine.mean()), unlock_genuine=len(genuine),
                       unlock_far=float(impostor.mean()), unlock_impostor=len(impostor))
    both_kinds = is_same.any() and not is_same.all()
    return figures, (scores, is_same, accepted) if both_kinds else None


def _expression(run: PeerRun, rows: np.ndarray, expressions: np.ndarray,
                expression_names: Sequence[str]) -> Dict:
    labels = list(run.peer.expression_labels)
    truth = np.asarray([labels.index(expression_names[expressions[i]])
                        if expression_names[expressions[i]] in labels else -1 for i in rows])
    known = truth >= 0
    if not known.any():
        return {}
    predicted = np.asarray([np.argmax(run.outputs[i].expression) for i in rows])[known]
    result = evaluate_expression(truth[known], predicted, labels)
    return {"expression_accuracy": result["accuracy"], "expression_macro_f1": result["macro_f1"],
            "expression_images": int(known.sum())}


def compare(runs: Sequence[PeerRun], subjects, expressions,
            expression_names: Sequence[str], reference: Optional[str] = None) -> List[Dict]:
    """The table's rows: one per peer, scored on the photos every peer handled.

    Args:
        runs: `run_peer` of each peer, on the same photos in the same order.
        subjects: (N,) person of each photo (pairs of one subject are genuine).
        expressions: (N,) expression index into `expression_names`, -1 if none.
        expression_names: the data's expression names.
        reference: the peer whose default decision is the operating point at
            which every verifying peer's FAR is also read ("far_at_reference_tar":
            at equal TAR, who lets fewer impostors in), and likewise on unlock
            attempts ("unlock_far_at_reference_tar", every person enrolled), or
            None.

    Returns:
        dicts: peer, faces_compared, auc, tar@far=0.001, far/tar at the peer's
        default (where two photos show one person), expression accuracy and
        macro-F1 (where it tags expressions), the unlock figures of `_unlock`
        (where it has a default decision), median ms per photo and per 640x480
        frame.
    """
    subjects = np.asarray(subjects)
    expressions = np.asarray(expressions)
    verified = _common(runs, "embedding")
    if len(np.unique(subjects[verified])) == len(verified):
        verified = verified[:0]  # every face its own person (FER): no pair to verify
    names = list(expression_names)
    neutral = (expressions == names.index("neutral") if "neutral" in names
               else np.zeros(len(expressions), bool))
    tagged = _common(runs, "expression")
    tagged = tagged[expressions[tagged] >= 0] if len(tagged) else tagged
    # Each run's (scores, is_same) of its pairs, and (scores, is_same, accepted) of
    # its unlock attempts, or None.
    rows, pairs, unlocks = [], [], []
    for run in runs:
        row = {"peer": run.peer.name,
               "ms_per_photo": 1000 * float(np.median(run.photo_seconds)),
               "ms_per_frame": (1000 * float(np.median(run.frame_seconds))
                                if run.frame_seconds else None),
               "faces_found": sum(o.embedding is not None or o.expression is not None
                                  for o in run.outputs)}
        figures, scored, attempts = {}, None, None
        if len(verified) and run.outputs[verified[0]].embedding is not None:
            row["faces_compared"] = int(len(verified))
            figures, scored = _verification(run, verified, subjects)
            if scored is not None and run.peer.has_default_decision:
                unlock_figures, attempts = _unlock(run, verified, subjects, neutral)
                figures.update(unlock_figures)
        row.update(figures)
        pairs.append(scored)
        unlocks.append(attempts)
        if len(tagged) and run.outputs[tagged[0]].expression is not None:
            row.update(_expression(run, tagged, expressions, expression_names))
        rows.append(row)
    # At equal TAR, who lets fewer impostors in: each FAR where the reference's
    # default decision puts its TAR, on pairs and on unlock attempts.
    reference_at = next((i for i, row in enumerate(rows) if row["peer"] == reference), None)
    if reference_at is not None:
        attempts = unlocks[reference_at]
        readings = (("far_at_reference_tar", pairs, rows[reference_at].get("tar_at_default")),
                    ("unlock_far_at_reference_tar", unlocks,
                     None if attempts is None else float(attempts[2][attempts[1]].mean())))
        for key, scored_runs, tar in readings:
            for row, scored in zip(rows, scored_runs):
                if tar is not None and scored is not None:
                    row[key] = far_at_tar(scored[0], scored[1], tar)
    return rows


def format_table(rows: Sequence[Dict], title: Optional[str] = None) -> str:
    """The rows as a Markdown table (a dash where a peer has no such figure): rates to
    4 decimals, times in ms to 1."""
    columns = [("peer", "peer"), ("faces_compared", "faces"), ("auc", "AUC"),
               ("tar@far=0.001", "TAR@FAR=1e-3"), ("far_at_default", "FAR at its default"),
               ("tar_at_default", "TAR at its default"),
               ("far_at_reference_tar", "FAR at the reference's TAR"),
               ("unlock_enrolled", "enrolled"), ("unlock_tar", "unlock TAR"),
               ("unlock_far", "unlock FAR"),
               ("unlock_far_at_reference_tar", "unlock FAR at the reference's TAR"),
               ("expression_accuracy", "expression acc"), ("expression_images", "expr. faces"),
               ("ms_per_photo", "ms/photo"), ("ms_per_frame", "ms/640x480 frame")]

    def cell(key, value):
        if value is None:
            return "-"
        if key.startswith("ms_"):
            return f"{value:.1f}"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    lines = ([f"{title}", ""] if title else []) + [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(cell(key, row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)
