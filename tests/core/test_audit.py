"""The audit log (core/audit.py) is append-only, through the ORM and in bulk, and an entry
is committed with the action it records. The console's audit log page is tested in
tests/identity/test_admin.py."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit
from kiosk_backend.core.audit import AuditEntry, AuditLogIsAppendOnly
from kiosk_backend.fleet import services
from kiosk_backend.fleet.models import Kiosk


def test_audit_entries_cannot_be_changed_or_deleted_through_the_orm(db):
    entry = audit.record(db.session, actor="wang", action="kiosk.revoke", target="kiosk:JZ01-01")
    db.session.commit()
    entry.actor = "someone else"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).actor == "wang"


@pytest.mark.parametrize("statement", [
    sa.update(AuditEntry).values(actor="someone else"),
    sa.delete(AuditEntry),
    sa.update(AuditEntry).where(AuditEntry.action == "kiosk.revoke").values(details={}),
])
def test_audit_entries_cannot_be_changed_or_deleted_in_bulk(db, statement):
    audit.record(db.session, actor="wang", action="kiosk.revoke", target="kiosk:JZ01-01")
    db.session.commit()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(statement)
    db.session.rollback()
    assert [(e.actor, e.details) for e in db.session.scalars(sa.select(AuditEntry))] == [("wang", {})]


def test_an_action_and_its_audit_entry_are_committed_together_or_not_at_all(db, make_kiosk):
    kiosk, _ = make_kiosk()
    services.revoke(db.session, kiosk, actor="wang")
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).state == "authorized"
    assert audit.search(db.session, action="kiosk.revoke") == []
