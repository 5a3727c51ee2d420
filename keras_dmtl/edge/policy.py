"""The attempt policy: lockouts that back off exponentially, a device-wide budget, and
re-enrollment after 20 failures (Android's fingerprint policy is 5 / 20).

- The 5th failed attempt in a row of a user locks that user out for 30 s; every
  further failure doubles the lockout (60 s, 120 s, ...) up to 15 minutes.
- After 20 failures in a row the user's template is disabled: only re-enrolling
  (`enroll --replace`, once the lockout is over) clears it.
- The same count and backoff run device-wide over the failures of all users, so
  that trying many user names does not multiply an attacker's attempts; the
  device-wide count never disables a template.
- A success resets its user's count and the device's.
- A lockout is kept as its start and its length, never as an end time: a clock
  that runs backwards (now before the start) cannot tell how much time passed, so
  the lockout starts again, in full, from now. A clock moved forward cannot be told
  from time passing without a trusted time source; the 20-failure limit bounds
  what that gains an attacker.

The Android app's JVM core (`android_demo/unlock-core`, `AttemptPolicy.java`)
implements the same numbers and the same persisted form; the golden vectors hold
the two to each other.
"""

import time

FAILURES_BEFORE_LOCKOUT = 5
FIRST_LOCKOUT_SECONDS = 30.0
MAX_LOCKOUT_SECONDS = 900.0
FAILURES_BEFORE_REENROLL = 20


def lockout_seconds(failures):
    """The lockout that the `failures`-th failure in a row starts (0 below 5).

    Args:
        failures: consecutive failures so far, this one included.

    Returns:
        float: 30 s at 5, doubling with each further failure, at most 15 minutes.
    """
    if failures < FAILURES_BEFORE_LOCKOUT:
        return 0.0
    # The exponent is capped so that a large device-wide count cannot overflow.
    doublings = min(failures - FAILURES_BEFORE_LOCKOUT, 30)
    return min(FIRST_LOCKOUT_SECONDS * 2.0 ** doublings, MAX_LOCKOUT_SECONDS)


def new_state():
    """The persisted state of a policy that has seen no attempt."""
    return {"device": _fresh_entry(), "users": {}}


def _fresh_entry():
    return {"failures": 0, "locked_from": 0.0, "lockout_seconds": 0.0}


class AttemptPolicy:
    """Counts failures per user and device-wide in a state dict (persisted by the caller).

    Args:
        state: dict from `new_state()` (or one saved before): {"device": entry,
            "users": {name: entry}}, each entry {"failures": int, "locked_from":
            seconds, "lockout_seconds": seconds}. Changed in place.
        clock: returns the current time in seconds (wall clock, so that a lockout
            survives a restart).
    """

    def __init__(self, state, clock=time.time):
        self.state = state
        self.clock = clock

    def _user(self, user):
        return self.state["users"].setdefault(user, _fresh_entry())

    def _remaining(self, entry, now):
        if entry["lockout_seconds"] <= 0:
            return 0.0
        if now < entry["locked_from"]:
            # The clock ran backwards: we cannot know how long the user waited.
            entry["locked_from"] = now
            return entry["lockout_seconds"]
        return max(0.0, entry["locked_from"] + entry["lockout_seconds"] - now)

    def locked_for(self, user):
        """Seconds left in the user's or the device's lockout, whichever is longer.

        A clock found running backwards restarts the lockout in the state.
        """
        now = self.clock()
        return max(self._remaining(self._user(user), now),
                   self._remaining(self.state["device"], now))

    def reenroll_required(self, user):
        """Whether the user failed 20 times in a row: the template is disabled."""
        return self._user(user)["failures"] >= FAILURES_BEFORE_REENROLL

    def failures(self, user):
        """The user's failures in a row."""
        return self._user(user)["failures"]

    def record(self, user, success):
        """Records a decided attempt's outcome; returns the lockout seconds now in force."""
        if success:
            self.state["users"][user] = _fresh_entry()
            self.state["device"] = _fresh_entry()
            return 0.0
        now = self.clock()
        for entry in (self._user(user), self.state["device"]):
            entry["failures"] += 1
            length = lockout_seconds(entry["failures"])
            if length > 0:
                entry.update(locked_from=now, lockout_seconds=length)
        return self.locked_for(user)

    def forget(self, user):
        """Clears a user's count and lockout (a new template was enrolled)."""
        self.state["users"][user] = _fresh_entry()
