"""The attempt policy: after 5 failed attempts, refuse attempts for 30 seconds."""

import time

MAX_FAILURES = 5
LOCKOUT_SECONDS = 30.0


class AttemptPolicy:
    """Counts consecutive failures per user in a state dict (persisted by the caller).

    Args:
        state: dict holding {"failures": int, "locked_until": float} per user.
        max_failures: failures that trigger a lockout.
        lockout_seconds: length of the lockout.
        clock: returns the current time in seconds (wall clock, so that a lockout
            survives a restart).
    """

    def __init__(self, state, max_failures=MAX_FAILURES, lockout_seconds=LOCKOUT_SECONDS,
                 clock=time.time):
        self.state = state
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.clock = clock

    def _entry(self, user):
        return self.state.setdefault(user, {"failures": 0, "locked_until": 0.0})

    def locked_for(self, user):
        """Seconds left in the user's lockout (0 when not locked)."""
        return max(0.0, self._entry(user)["locked_until"] - self.clock())

    def record(self, user, success):
        """Records an attempt's outcome; returns the lockout seconds now in force."""
        entry = self._entry(user)
        if success:
            entry.update(failures=0, locked_until=0.0)
            return 0.0
        entry["failures"] += 1
        if entry["failures"] >= self.max_failures:
            entry.update(failures=0, locked_until=self.clock() + self.lockout_seconds)
        return self.locked_for(user)
