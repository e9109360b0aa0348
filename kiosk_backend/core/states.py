"""Life cycles: the states of a thing and the only moves allowed between them.

Each domain declares its states as a ``StrEnum`` (stored as plain strings, so the
database and the JSON API see ``"pending"``, not an enum type) and one :class:`Lifecycle`
table per thing. Services ask the table instead of scattering ``if state == …`` checks,
and move a row with :meth:`Lifecycle.advance`: one conditional UPDATE whose WHERE clause
lists the states allowed to reach the target, so of two racing requests exactly one
wins, on SQLite as on PostgreSQL (``SELECT … FOR UPDATE`` does nothing on SQLite).

    class KioskState(StrEnum):
        PENDING = "pending"; AUTHORIZED = "authorized"; REVOKED = "revoked"

    KIOSK = Lifecycle("kiosk", {KioskState.PENDING: {KioskState.AUTHORIZED, KioskState.REVOKED},
                                KioskState.AUTHORIZED: {KioskState.REVOKED},
                                KioskState.REVOKED: set()})
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .errors import Conflict

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(Conflict):
    """A move the life cycle does not allow (409), or one another request made first."""


class Lifecycle(Generic[S]):
    """The transition table of one life cycle."""

    def __init__(self, name: str, transitions: Mapping[S, Iterable[S]]):
        self.name = name
        self.transitions: dict[S, frozenset[S]] = {state: frozenset(targets) for state, targets in transitions.items()}
        states = set(self.transitions) | {t for targets in self.transitions.values() for t in targets}
        missing = states - set(self.transitions)
        if missing:  # every state must say where it may go, even if nowhere
            raise ValueError(f"{name}: no transitions given for {sorted(missing)}")
        self.states: frozenset[S] = frozenset(states)

    def allows(self, old: str, new: str) -> bool:
        return new in self.transitions.get(old, frozenset())  # type: ignore[call-overload]

    def sources(self, new: S) -> frozenset[S]:
        """The states from which ``new`` may be reached."""
        return frozenset(state for state, targets in self.transitions.items() if new in targets)

    def terminal(self) -> frozenset[S]:
        return frozenset(state for state, targets in self.transitions.items() if not targets)

    def check(self, old: str, new: str) -> None:
        """Raise IllegalTransition unless ``old`` → ``new`` is allowed."""
        if not self.allows(old, new):
            raise IllegalTransition(f"A {self.name} cannot go from {old} to {new}.",
                                    f"状态不能从 {old} 变为 {new}（{self.name}）。",
                                    errors={"state": [f"{old} → {new}"]})

    def advance(self, session: Session, model: Any, row_id: Any, new: S, *, where: Iterable[Any] = (),
                **values: Any) -> bool:
        """Move row ``row_id`` of ``model`` to ``new`` if its current state allows it, in one
        conditional UPDATE (also setting ``values``, under the extra ``where`` conditions).

        Returns whether this call made the move; False means the row was in another state
        (or was moved by a concurrent request first). The ORM object, if loaded, is not
        refreshed: call ``session.refresh`` when you need it.
        """
        columns = getattr(model, "c", model)  # a mapped class, or a Table
        statement = (sa.update(model)
                     .where(columns.id == row_id, columns.state.in_([str(s) for s in self.sources(new)]), *where)
                     .values(state=str(new), **values)
                     .execution_options(synchronize_session=False))
        return session.execute(statement).rowcount == 1
