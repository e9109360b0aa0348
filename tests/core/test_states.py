"""core.states: transition tables and the one-statement compare-and-set."""
from __future__ import annotations

from enum import StrEnum

import pytest
import sqlalchemy as sa

from kiosk_backend.core.states import IllegalTransition, Lifecycle


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    LOCKED = "locked"
    GONE = "gone"


DOOR = Lifecycle("door", {Door.OPEN: {Door.CLOSED, Door.GONE}, Door.CLOSED: {Door.OPEN, Door.LOCKED, Door.GONE},
                          Door.LOCKED: {Door.CLOSED}, Door.GONE: set()})


def test_only_listed_moves_are_allowed():
    assert DOOR.allows(Door.OPEN, Door.CLOSED) and DOOR.allows("closed", "locked")
    assert not DOOR.allows(Door.OPEN, Door.LOCKED) and not DOOR.allows("gone", "open")
    assert not DOOR.allows("no such state", "open")


def test_sources_and_terminal_states_come_from_the_table():
    assert DOOR.sources(Door.CLOSED) == {Door.OPEN, Door.LOCKED}
    assert DOOR.sources(Door.GONE) == {Door.OPEN, Door.CLOSED}
    assert DOOR.terminal() == {Door.GONE}


def test_an_illegal_move_is_a_409_naming_both_states_in_both_languages():
    with pytest.raises(IllegalTransition) as caught:
        DOOR.check(Door.OPEN, Door.LOCKED)
    assert caught.value.status_code == 409
    assert "open" in caught.value.message and "locked" in caught.value.message_zh


def test_a_table_must_say_where_every_state_may_go():
    with pytest.raises(ValueError, match="closed"):
        Lifecycle("half", {Door.OPEN: {Door.CLOSED}})


def test_advance_moves_only_from_an_allowed_state_and_reports_whether_it_did(db):
    table = sa.Table("t_door", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("state", sa.String(10)), sa.Column("note", sa.String(20)))

    with db.engine.begin() as conn:
        table.create(conn)
    try:
        db.session.execute(table.insert().values(id=1, state="open"))
        assert DOOR.advance(db.session, table, 1, Door.LOCKED) is False          # open → locked not allowed
        assert DOOR.advance(db.session, table, 1, Door.CLOSED, note="x") is True
        assert DOOR.advance(db.session, table, 1, Door.CLOSED) is False          # already closed: nobody moves twice
        assert DOOR.advance(db.session, table, 1, Door.LOCKED, where=[table.c.note == "y"]) is False
        assert DOOR.advance(db.session, table, 1, Door.LOCKED, where=[table.c.note == "x"]) is True
        assert db.session.execute(sa.select(table.c.state, table.c.note)).one() == ("locked", "x")
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            table.drop(conn)
