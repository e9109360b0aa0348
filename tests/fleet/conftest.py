"""Fleet-only helpers: heartbeats and enrolment codes made in one line, the audit actions
written so far, and running work in several threads at once. Shared fixtures (clock,
sites, kiosks, staff, the logged-in console) are in tests/conftest.py."""
from __future__ import annotations

import sqlalchemy as sa

from tests.races import run_in_threads  # noqa: F401 - imported from here by the fleet's race tests


def new_code(db, site, **kw):
    """An enrolment code for ``site``, committed: ``code, record = new_code(db, site, pre_authorized=True)``."""
    from kiosk_backend.fleet import enrolment

    code, record = enrolment.create_enrolment_code(db.session, site=site, actor="test", **kw)
    db.session.commit()
    return code, record


def beat(db, kiosk, clock=None, *, seq, peripherals=None, session_active=False, app_version="1.0.0", profile=None):
    """One heartbeat through the transactional service, committed; returns its answer."""
    from kiosk_backend.fleet import heartbeats

    kw = {"now": clock} if clock else {}
    result = heartbeats.record_heartbeat(db.session, kiosk, seq=seq, app_version=app_version, profile=profile,
                                         peripherals=peripherals or {}, session_active=session_active, **kw)
    db.session.commit()
    return result


def actions(db):
    """The audit log's actions, oldest first."""
    from kiosk_backend.core.audit import AuditEntry

    return [e.action for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]
