"""One unlock attempt's decision, given what the model saw: pure logic, no model.

The Python runtime (`FaceUnlock.verify`) and the Android app's JVM core
(`android_demo/unlock-core`, `UnlockDecision.java`) implement the same rules; the
golden vectors (`keras_dmtl.edge.golden_vectors`) hold them to each other.
"""

import numpy as np


def cosine_similarity(embedding, template):
    """Cosine of a raw embedding and a normalised template (float64)."""
    embedding = np.asarray(embedding, np.float64)
    return float(embedding @ np.asarray(template, np.float64) / np.linalg.norm(embedding))


def accepts(template, embedding, expression, threshold, challenge=None):
    """Whether one face would be accepted: similar enough, and showing the challenge.

    Returns:
        (accepted, similarity, challenge_met).
    """
    similarity = cosine_similarity(embedding, template)
    challenge_met = challenge is None or expression == challenge
    return similarity >= threshold and challenge_met, similarity, challenge_met


def verify_attempt(policy, user, template, embedding, expression, threshold, challenge=None):
    """Decides one attempt and records its outcome in the attempt policy.

    A user whose template was disabled (20 failures in a row) or who is locked out
    (alone or device-wide) is refused before anything else; an attempt with no face
    is neither accepted nor counted as a failure.

    Args:
        policy: the `AttemptPolicy`.
        user: the enrolled user's name.
        template: the user's normalised template.
        embedding: the face's embedding, or None when no face was found.
        expression: the expression label the model gave the face.
        threshold: accept when the cosine similarity is at least this.
        challenge: an expression the face must show (liveness), or None.

    Returns:
        dict: "decision" ("accept", "reject", "locked" or "no face"),
        "lockout_seconds" and "reenroll_required"; for a decided attempt also
        "similarity", "threshold", "expression" and "challenge_met".
    """
    locked = policy.locked_for(user)
    if policy.reenroll_required(user) or locked > 0:
        return {"decision": "locked", "lockout_seconds": locked,
                "reenroll_required": policy.reenroll_required(user)}
    if embedding is None:
        return {"decision": "no face", "lockout_seconds": 0.0, "reenroll_required": False}
    accepted, similarity, challenge_met = accepts(template, embedding, expression, threshold,
                                                  challenge)
    lockout = policy.record(user, accepted)
    return {"decision": "accept" if accepted else "reject", "similarity": similarity,
            "threshold": float(threshold), "expression": expression,
            "challenge_met": challenge_met, "lockout_seconds": lockout,
            "reenroll_required": policy.reenroll_required(user)}
