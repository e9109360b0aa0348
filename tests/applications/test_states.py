"""The application life cycle's pure transition table (applications/states.py)."""
from __future__ import annotations

import itertools

import pytest

from kiosk_backend.applications import states
from kiosk_backend.applications.states import Action, State

LEGAL = {
    (State.RECEIVED, Action.ACCEPT): State.ACCEPTED,
    (State.RECEIVED, Action.REFUSE): State.NOT_ACCEPTED,
    (State.RECEIVED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.ACCEPTED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.ACCEPTED, Action.START): State.IN_PROGRESS,
    (State.ACCEPTED, Action.CONCLUDE): State.CONCLUDED,
    (State.SUPPLEMENT_REQUESTED, Action.SUPPLEMENT): State.SUPPLEMENTED,
    (State.SUPPLEMENT_REQUESTED, Action.REFUSE): State.NOT_ACCEPTED,
    (State.SUPPLEMENTED, Action.ACCEPT): State.ACCEPTED,
    (State.SUPPLEMENTED, Action.REFUSE): State.NOT_ACCEPTED,
    (State.SUPPLEMENTED, Action.START): State.IN_PROGRESS,
    (State.SUPPLEMENTED, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.SUPPLEMENTED, Action.CONCLUDE): State.CONCLUDED,
    (State.IN_PROGRESS, Action.REQUEST_SUPPLEMENT): State.SUPPLEMENT_REQUESTED,
    (State.IN_PROGRESS, Action.SUSPEND): State.SPECIAL_PROCEDURE,
    (State.IN_PROGRESS, Action.CONCLUDE): State.CONCLUDED,
    (State.SPECIAL_PROCEDURE, Action.RESUME): State.IN_PROGRESS,
    (State.CONCLUDED, Action.DELIVER): State.DELIVERED,
    (State.CONCLUDED, Action.RATE): State.RATED,
    (State.DELIVERED, Action.RATE): State.RATED,
}


@pytest.mark.parametrize(("state", "action"), sorted(LEGAL))
def test_every_legal_move_leads_where_the_domain_says(state, action):
    assert states.target_of(state, action) == LEGAL[(state, action)]


ILLEGAL = sorted(pair for pair in itertools.product(State, Action) if pair not in LEGAL)


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_other_move_is_illegal_and_says_what_is_allowed(state, action):
    with pytest.raises(states.IllegalAction) as caught:
        states.target_of(state, action)
    assert caught.value.allowed == [a for (s, a) in LEGAL if s == state] or caught.value.allowed == \
        states.allowed_actions(state)
    assert set(caught.value.allowed) == {a for (s, a) in LEGAL if s == state}


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
    for (state, _action), target in LEGAL.items():
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
