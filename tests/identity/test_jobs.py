"""Identity's periodic job: console sessions that ended more than a day ago are deleted."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.tokens import new_token, token_hash
from kiosk_backend.identity import jobs
from kiosk_backend.identity.models import AdminSession, StaffUser


def _sessions(db) -> dict[str, AdminSession]:
    staff = StaffUser(username="li", password_hash="x", role="admin")
    db.session.add(staff)
    db.session.flush()
    now = utcnow()
    made = {}
    for name, expires, revoked in [("live", now + timedelta(hours=8), None),
                                   ("expired-an-hour-ago", now - timedelta(hours=1), None),
                                   ("expired-two-days-ago", now - timedelta(days=2), None),
                                   ("revoked-an-hour-ago", now + timedelta(hours=8), now - timedelta(hours=1)),
                                   ("revoked-two-days-ago", now + timedelta(hours=8), now - timedelta(days=2))]:
        made[name] = AdminSession(token_hash=token_hash(new_token()), staff_id=staff.id, csrf_token=name,
                                  created_at=now - timedelta(days=3), last_seen_at=now - timedelta(days=3),
                                  expires_at=expires, revoked_at=revoked)
        db.session.add(made[name])
    db.session.commit()
    return made


def _left(db) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(AdminSession.csrf_token)))


def test_sessions_ended_more_than_a_day_ago_are_deleted_the_others_kept(db):
    _sessions(db)
    assert jobs.delete_ended_sessions(db.session) == 2
    db.session.commit()
    assert _left(db) == {"live", "expired-an-hour-ago", "revoked-an-hour-ago"}


def test_the_cleanup_runs_as_a_periodic_queue_task(app, db):
    _sessions(db)
    huey = app.extensions["huey"]
    assert huey.execute(app.extensions["periodic_tasks"]["identity.ended_sessions"].s()) == 2
    assert _left(db) == {"live", "expired-an-hour-ago", "revoked-an-hour-ago"}


def test_day_old_login_throttle_rows_are_forgotten_by_a_periodic_queue_task(app, db):
    from kiosk_backend.identity.models import LoginThrottle

    now = utcnow()
    db.session.add_all([LoginThrottle(username="old", ip="10.0.0.1", failures=3, last_failure_at=now - timedelta(days=2)),
                        LoginThrottle(username="new", ip="10.0.0.1", failures=3, last_failure_at=now)])
    db.session.commit()
    huey = app.extensions["huey"]
    assert huey.execute(app.extensions["periodic_tasks"]["identity.login_throttle"].s()) == 1
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(LoginThrottle.username))) == {"new"}


def test_the_periodic_job_ends_overdue_resident_sessions_every_minute(db, make_resident):
    from kiosk_backend.core import tasks
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.core.audit import AuditEntry
    from kiosk_backend.identity import sessions
    from kiosk_backend.identity.models import ResidentSession

    job = tasks.periodic_jobs()["identity.overdue_sessions"]
    assert job.every == timedelta(minutes=1)
    resident = make_resident()
    live, _ = sessions.start(db.session, channel="mobile", resident=resident, actor=SYSTEM, idle_seconds=600,
                             absolute_seconds=3600)
    idle, _ = sessions.start(db.session, channel="api", resident=resident, actor=SYSTEM, idle_seconds=60,
                             absolute_seconds=3600)
    idle.last_seen_at = utcnow() - timedelta(seconds=61)
    db.session.commit()
    assert jobs.end_overdue_sessions(db.session, {}) == 1
    db.session.commit()
    assert jobs.end_overdue_sessions(db.session, {}) == 0  # ended once
    reasons = dict(db.session.execute(sa.select(ResidentSession.id, ResidentSession.end_reason)).all())
    assert reasons == {live.id: None, idle.id: "idle"}
    ends = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "identity.session.end")).all()
    assert [(entry.actor, entry.details["reason"]) for entry in ends] == [("system:system", "idle")]


def test_the_periodic_job_marks_overdue_login_challenges_expired_every_minute(db, make_kiosk):
    from kiosk_backend.core import tasks
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.identity import qr_login
    from kiosk_backend.identity.models import LoginChallenge

    job = tasks.periodic_jobs()["identity.expired_challenges"]
    assert job.every == timedelta(minutes=1)
    (old_kiosk, _), (new_kiosk, _) = make_kiosk(), make_kiosk()
    old, _ = qr_login.create_challenge(db.session, kiosk=old_kiosk, actor=SYSTEM,
                                    now=lambda: utcnow() - timedelta(minutes=5))
    new, _ = qr_login.create_challenge(db.session, kiosk=new_kiosk, actor=SYSTEM)
    db.session.commit()
    assert jobs.expire_login_challenges(db.session, {}) == 1
    db.session.commit()
    assert jobs.expire_login_challenges(db.session, {}) == 0
    states = dict(db.session.execute(sa.select(LoginChallenge.id, LoginChallenge.state)).all())
    assert states == {old.id: "expired", new.id: "pending"}
