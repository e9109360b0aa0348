"""The application life cycle's pure transition table (applications/states.py)."""
from __future__ import annotations

import itertools

import pytest

from kiosk_backend.applications import states
from kiosk_backend.applications.states import Action, State

# The moves whatever the application's history: the same before and after 受理.
ALWAYS = {
    (State.RECEIVED, Action.ACCEPT): State.ACCEPTED,
    (State.RECEIVED, Action.REFUSE): State.NOT_ACCEPTED,
    (State.RECEIVED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.ACCEPTED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.ACCEPTED, Action.START): State.IN_PROGRESS,
    (State.ACCEPTED, Action.CONCLUDE): State.CONCLUDED,
    (State.SUPPLEMENT_REQUESTED, Action.SUPPLEMENT): State.SUPPLEMENTED,
    (State.SUPPLEMENTED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.IN_PROGRESS, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.IN_PROGRESS, Action.SUSPEND): State.SPECIAL_PROCEDURE,
    (State.IN_PROGRESS, Action.CONCLUDE): State.CONCLUDED,
    (State.SPECIAL_PROCEDURE, Action.RESUME): State.IN_PROGRESS,
    (State.CONCLUDED, Action.DELIVER): State.DELIVERED,
    (State.CONCLUDED, Action.RATE): State.RATED,
    (State.DELIVERED, Action.RATE): State.RATED,
}
# 已补正 goes back where the 补正 loop began: the window decides on 受理 before it, the
# handling goes on after it (no second 受理, no 不予受理 of an accepted application).
# Waiting for a 补正 that never comes: 不予受理 before 受理, 办结 (不予) after it.
SUPPLEMENTED_BEFORE_ACCEPTANCE = {
    (State.SUPPLEMENTED, Action.ACCEPT): State.ACCEPTED,
    (State.SUPPLEMENTED, Action.REFUSE): State.NOT_ACCEPTED,
    (State.SUPPLEMENT_REQUESTED, Action.REFUSE): State.NOT_ACCEPTED,
}
SUPPLEMENTED_AFTER_ACCEPTANCE = {
    (State.SUPPLEMENTED, Action.START): State.IN_PROGRESS,
    (State.SUPPLEMENTED, Action.CONCLUDE): State.CONCLUDED,
    (State.SUPPLEMENT_REQUESTED, Action.CONCLUDE): State.CONCLUDED,
}
# (state, accepted, action) → the state it leads to.
LEGAL = {
    **{(state, accepted, action): target for (state, action), target in ALWAYS.items() for accepted in (False, True)},
    **{(state, False, action): target for (state, action), target in SUPPLEMENTED_BEFORE_ACCEPTANCE.items()},
    **{(state, True, action): target for (state, action), target in SUPPLEMENTED_AFTER_ACCEPTANCE.items()},
}


@pytest.mark.parametrize(("state", "accepted", "action"), sorted(LEGAL))
def test_every_legal_move_leads_where_the_domain_says(state, accepted, action):
    assert states.target_of(state, action, accepted=accepted) == LEGAL[(state, accepted, action)]


ILLEGAL = sorted(triple for triple in itertools.product(State, (False, True), Action) if triple not in LEGAL)


@pytest.mark.parametrize(("state", "accepted", "action"), ILLEGAL)
def test_every_other_move_is_illegal_and_says_what_is_allowed(state, accepted, action):
    with pytest.raises(states.IllegalAction) as caught:
        states.target_of(state, action, accepted=accepted)
    expected = [a for (s, acc, a) in LEGAL if s == state and acc == accepted]
    assert caught.value.allowed == states.allowed_actions(state, accepted=accepted)
    assert sorted(caught.value.allowed) == sorted(expected)


def test_supplemented_allows_what_its_acceptance_allows():
    assert states.allowed_actions(State.SUPPLEMENTED, accepted=False) == [
        Action.ACCEPT, Action.REFUSE, Action.REQUEST_SUPPLEMENT]
    assert states.allowed_actions(State.SUPPLEMENTED, accepted=True) == [
        Action.REQUEST_SUPPLEMENT, Action.START, Action.CONCLUDE]
    with pytest.raises(states.IllegalAction) as caught:
        states.target_of(State.SUPPLEMENTED, Action.START)  # not accepted unless said so
    assert "not yet accepted" in str(caught.value)
    with pytest.raises(states.IllegalAction) as caught:
        states.target_of(State.SUPPLEMENTED, Action.ACCEPT, accepted=True)
    assert "(accepted)" in str(caught.value) and Action.ACCEPT not in caught.value.allowed
    assert states.depends_on_acceptance(State.SUPPLEMENTED)
    assert states.depends_on_acceptance(State.SUPPLEMENT_REQUESTED)
    assert not any(states.depends_on_acceptance(state) for state in State
                   if state not in (State.SUPPLEMENTED, State.SUPPLEMENT_REQUESTED))


def test_a_supplement_that_never_comes_ends_by_refusal_before_acceptance_and_conclusion_after():
    assert states.allowed_actions(State.SUPPLEMENT_REQUESTED, accepted=False) == [Action.REFUSE, Action.SUPPLEMENT]
    assert states.allowed_actions(State.SUPPLEMENT_REQUESTED, accepted=True) == [Action.SUPPLEMENT, Action.CONCLUDE]
    with pytest.raises(states.IllegalAction):
        states.target_of(State.SUPPLEMENT_REQUESTED, Action.REFUSE, accepted=True)


def test_finished_states_allow_nothing_but_rating():
    assert states.allowed_actions(State.NOT_ACCEPTED) == []
    assert states.allowed_actions(State.RATED) == []
    assert states.allowed_actions(State.DELIVERED) == [Action.RATE]


def test_receive_is_never_a_move():
    for state in State:
        with pytest.raises(states.IllegalAction):
            states.target_of(state, Action.RECEIVE)


def test_unknown_names_are_value_errors():
    with pytest.raises(ValueError):
        states.target_of("archived", "accept")
    with pytest.raises(ValueError):
        states.target_of("received", "approve")


def test_the_lifecycle_table_matches_the_moves():
    for (state, _accepted, _action), target in LEGAL.items():
        assert states.LIFECYCLE.allows(state, target)
    assert states.LIFECYCLE.terminal() == {State.NOT_ACCEPTED, State.RATED}


def test_details_each_action_requires():
    assert states.requirement("refuse") == "reason"
    assert states.requirement("suspend") == "reason"
    assert states.requirement("request_supplement") == "missing"
    assert states.requirement("conclude") == "outcome"
    assert states.requirement("deliver") == "delivery"
    assert states.requirement("accept") is None


def test_open_and_finished_states_partition_the_states():
    assert states.OPEN | states.FINISHED == set(State)
    assert not states.OPEN & states.FINISHED
