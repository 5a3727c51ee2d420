"""The attempt policy (issue 10, point 8): backoff, cap, backwards clock, re-enrollment after
20 failures, a device-wide budget; (issue 22) the faces one attempt may compare, and the
one-person rule of enrollment. Pure logic with a fake clock: no model."""

import numpy as np
import pytest

from keras_dmtl.edge import policy as policy_module
from keras_dmtl.edge.decision import COMPARISONS_PER_TEMPLATE
from keras_dmtl.edge.decision import MAX_FACES_PER_ATTEMPT
from keras_dmtl.edge.decision import AttemptSession
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.enrollment import EnrollmentError
from keras_dmtl.edge.enrollment import check_one_person
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.policy import new_state

TEMPLATE = np.eye(4)[0]
STRANGER = np.eye(4)[1]


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def _policy(clock):
    return AttemptPolicy(new_state(), clock=clock)


def _fail(policy, user="ana"):
    return verify_attempt(policy, user, TEMPLATE, STRANGER, "happy", 0.5)


def test_lockout_backs_off_exponentially_up_to_a_cap():
    clock = Clock()
    policy = _policy(clock)
    lockouts = []
    for _ in range(12):
        result = _fail(policy)
        assert result["decision"] == "reject", result
        lockouts.append(result["lockout_seconds"])
        clock.now += result["lockout_seconds"] + 1  # retry as soon as the lockout ends
    assert lockouts == [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]


def test_twenty_failures_disable_the_template_until_reenrollment():
    clock = Clock()
    policy = _policy(clock)
    for _ in range(policy_module.FAILURES_BEFORE_REENROLL):
        result = _fail(policy)
        clock.now += result["lockout_seconds"] + 1
    assert result["reenroll_required"]
    clock.now += 10 ** 7  # no amount of waiting (or a clock moved forward) helps
    refused = verify_attempt(policy, "ana", TEMPLATE, TEMPLATE, "happy", 0.5)
    assert refused["decision"] == "locked" and refused["reenroll_required"]
    policy.forget("ana")
    assert verify_attempt(policy, "ana", TEMPLATE, TEMPLATE, "happy", 0.5)["decision"] == "accept"


def test_a_clock_set_back_keeps_the_user_locked_for_the_full_lockout():
    clock = Clock(1000.0)
    policy = _policy(clock)
    for _ in range(5):
        _fail(policy)
    clock.now = 1000.0 - 86400  # a day back: neither unlocked nor locked for a day
    assert policy.locked_for("ana") == 30.0
    clock.now += 29
    assert verify_attempt(policy, "ana", TEMPLATE, TEMPLATE, "happy", 0.5)["decision"] == "locked"
    clock.now += 1.5
    assert verify_attempt(policy, "ana", TEMPLATE, TEMPLATE, "happy", 0.5)["decision"] == "accept"


def test_failures_across_user_names_share_one_device_budget():
    clock = Clock()
    policy = _policy(clock)
    for name in ("ana", "bo", "cy", "di", "ed"):
        _fail(policy, name)
    # Five names, one failure each: every user is locked out, not five more tries each.
    for name in ("ana", "fay"):
        assert verify_attempt(policy, name, TEMPLATE, TEMPLATE, "happy", 0.5)["decision"] == "locked"
    clock.now += 31
    assert verify_attempt(policy, "fay", TEMPLATE, TEMPLATE, "happy", 0.5)["decision"] == "accept"
    assert policy.state["device"]["failures"] == 0


def test_no_face_is_not_an_attempt_and_a_lockout_survives_in_the_state():
    clock = Clock()
    policy = _policy(clock)
    for _ in range(5):
        assert verify_attempt(policy, "ana", TEMPLATE, None, None, 0.5)["decision"] == "no face"
    assert policy.failures("ana") == 0
    for _ in range(5):
        _fail(policy)
    restarted = AttemptPolicy(policy.state, clock=clock)
    assert restarted.locked_for("ana") == 30.0


# Issue 22: one attempt compares a bounded number of faces; an enrollment shows one person.

def test_an_attempt_compares_at_most_the_cap_and_is_recorded_once():
    policy = _policy(Clock())
    session = AttemptSession(TEMPLATE, 0.5)
    while session.open:
        session.offer(STRANGER, "happy")
    assert session.compared == MAX_FACES_PER_ATTEMPT
    with pytest.raises(ValueError, match="start a new attempt"):
        session.offer(TEMPLATE, "happy")  # the owner's face, one past the cap: not compared
    assert session.decide(policy, "ana")["decision"] == "reject"
    assert policy.failures("ana") == 1
    with pytest.raises(ValueError, match="already decided"):
        session.decide(policy, "ana")
    assert COMPARISONS_PER_TEMPLATE == MAX_FACES_PER_ATTEMPT * policy_module.FAILURES_BEFORE_REENROLL


def test_an_enrollment_of_two_people_names_its_least_similar_pair():
    ana = [TEMPLATE + 0.1 * STRANGER, TEMPLATE, TEMPLATE - 0.1 * STRANGER]
    check_one_person(ana, ["a1", "a2", "a3"], 0.9)
    with pytest.raises(EnrollmentError, match="at least 3 images"):
        check_one_person(ana[:2], ["a1", "a2"], 0.9)
    bo = [STRANGER, STRANGER + 0.1 * TEMPLATE]
    with pytest.raises(EnrollmentError, match=r"a2 and b1 score 0\.000 .* floor 0\.900"):
        check_one_person(ana[:2] + bo, ["a1", "a2", "b1", "b2"], 0.9)
