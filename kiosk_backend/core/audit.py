"""Append-only audit log of who did what.

Rows are only ever inserted: the ORM refuses updates and deletes of AuditEntry, and no
route offers either. Services record entries in the same transaction as the change, so
an action and its audit entry are committed together or not at all.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .actors import Actor
from .clock import utcnow


class AuditEntry(db.Model):
    __tablename__ = "core_audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(100), index=True)   # staff username, "kiosk:<number>", "system"
    action: Mapped[str] = mapped_column(sa.String(64), index=True)   # e.g. "kiosk.revoke"
    target: Mapped[str | None] = mapped_column(sa.String(200))        # e.g. "kiosk:JZ-0001"
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.actor} {self.action} {self.target}>"


class AuditLogIsAppendOnly(Exception):
    pass


@sa.event.listens_for(Session, "before_flush")
def _refuse_changes(session, _context, _instances):
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("audit entries are never changed or deleted")


@sa.event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state):
    """``session.execute(update(AuditEntry))`` and ``delete(AuditEntry)`` skip the flush check above."""
    if (state.is_update or state.is_delete) and any(
            m.class_ is AuditEntry for m in state.all_mappers):
        raise AuditLogIsAppendOnly("audit entries are never changed or deleted")


def record(session: Session, *, actor: Actor | str, action: str, target: str | None = None,
           details: dict | None = None, ip: str | None = None, now=utcnow) -> AuditEntry:
    """Add an audit entry to the session (committed with the change it records).

    ``actor`` is an :class:`~kiosk_backend.core.actors.Actor`; its ip is used unless
    ``ip`` is given. A helper acting for a resident is recorded with the resident.
    """
    details = dict(details or {})
    if isinstance(actor, Actor):
        ip = ip or actor.ip
        if actor.on_behalf_of is not None:
            details["on_behalf_of"] = actor.on_behalf_of.label
        actor = actor.label
    entry = AuditEntry(at=now(), actor=actor, action=action, target=target, details=details, ip=ip)
    session.add(entry)
    return entry


def search(session: Session, *, actor: str | None = None, action: str | None = None, target: str | None = None,
           limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        query = query.where(AuditEntry.target.contains(target, autoescape=True))
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))
