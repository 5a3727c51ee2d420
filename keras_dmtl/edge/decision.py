"""One unlock attempt's decision, given what the model saw: pure logic, no model.

The Python runtime (`FaceUnlock.verify`) and the Android app's JVM core
(`android_demo/unlock-core`, `UnlockDecision.java`) implement the same rules; the
golden vectors (`keras_dmtl.edge.golden_vectors`) hold them to each other.
"""

import numpy as np

from keras_dmtl.edge.policy import FAILURES_BEFORE_REENROLL

# Faces compared in one attempt, from image paths or camera frames. Each compared
# face is one draw at the threshold's false-accept rate, so one attempt accepts an
# impostor with probability up to this many times the calibrated FAR (5 x 2e-5 =
# 1e-4 at the default target); 5 still leaves the owner a few frames to blink,
# turn or come into focus before the attempt fails.
MAX_FACES_PER_ATTEMPT = 5
# What an attacker gets against one template before it is disabled until re-enrollment.
COMPARISONS_PER_TEMPLATE = MAX_FACES_PER_ATTEMPT * FAILURES_BEFORE_REENROLL


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


class AttemptSession:
    """The faces of one unlock attempt: at most `MAX_FACES_PER_ATTEMPT` compared, decided once.

    Faces are offered until one is accepted or the cap is reached; `decide` then
    records one attempt: accepted if a face was, else one failure (or "no face"
    when none was compared). A caller must decide once any face was compared,
    whatever happens after (an unreadable frame, an interrupt): a compared face
    that goes unrecorded is a free guess.

    Args:
        template: the user's normalised template.
        threshold: accept when the cosine similarity is at least this.
        challenge: an expression the face must show (liveness), or None.
        max_faces: the cap on faces compared.
    """

    def __init__(self, template, threshold, challenge=None, max_faces=MAX_FACES_PER_ATTEMPT):
        self.template = template
        self.threshold = threshold
        self.challenge = challenge
        self.max_faces = max_faces
        self.compared = 0
        self.accepted = False
        self._chosen = None  # (similarity, embedding, expression) of the face decided on
        self._decided = False

    @property
    def open(self):
        """Whether another face may be compared: none accepted yet, the cap not reached."""
        return not (self.accepted or self._decided) and self.compared < self.max_faces

    def offer(self, embedding, expression):
        """Compares one face with the template; returns whether it is accepted.

        Raises:
            ValueError: the session is not `open` (a face over the cap is never compared).
        """
        if not self.open:
            raise ValueError(f"this attempt already compared {self.compared} face(s) (at most "
                             f"{self.max_faces}) or was decided: start a new attempt.")
        accepted, similarity, _ = accepts(self.template, embedding, expression, self.threshold,
                                          self.challenge)
        self.compared += 1
        if accepted or self._chosen is None or similarity > self._chosen[0]:
            self._chosen = (similarity, embedding, expression)
        self.accepted = accepted
        return accepted

    def decide(self, policy, user, template=None):
        """Records the attempt in `policy` (see `verify_attempt`); returns its result.

        Args:
            policy: the `AttemptPolicy`.
            user: the enrolled user's name.
            template: the user's template as reloaded now (default: the one
                compared against), so that an enrollment made meanwhile counts.

        Raises:
            ValueError: the attempt was already decided (one attempt, one record).
        """
        if self._decided:
            raise ValueError("this attempt was already decided: start a new attempt.")
        self._decided = True
        _, embedding, expression = self._chosen or (None, None, None)
        return verify_attempt(policy, user, self.template if template is None else template,
                              embedding, expression, self.threshold, self.challenge)
