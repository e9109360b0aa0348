"""The fleet's periodic job: offline alerts are opened by the worker, not by page views."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.fleet import jobs
from kiosk_backend.fleet.models import Alert, Kiosk


def _silent_kiosk(db, make_kiosk, minutes: int) -> Kiosk:
    kiosk, _ = make_kiosk()
    kiosk.last_seen_at = utcnow() - timedelta(minutes=minutes)
    db.session.commit()
    return kiosk


def test_the_queued_offline_check_opens_an_alert_for_a_silent_kiosk_and_commits_it(app, db, make_kiosk):
    kiosk = _silent_kiosk(db, make_kiosk, minutes=11)
    huey = app.extensions["huey"]
    task = app.extensions["periodic_tasks"]["fleet.offline_alerts"]
    assert huey.execute(task.s()) == 1  # as the worker runs it: its own app context and session
    db.session.expire_all()
    assert db.session.scalars(sa.select(Alert.kind).where(Alert.kiosk_id == kiosk.id)).all() == ["offline"]
    assert huey.execute(task.s()) == 0  # one open alert per kiosk, however often it runs


def test_the_offline_check_follows_the_configured_silence(app, db, make_kiosk):
    _silent_kiosk(db, make_kiosk, minutes=11)
    assert jobs.check_offline_kiosks(db.session, {**app.config, "KIOSK_OFFLINE_ALERT_MINUTES": 30}) == 0
    assert jobs.check_offline_kiosks(db.session, {**app.config, "KIOSK_OFFLINE_ALERT_MINUTES": 10}) == 1


def test_the_offline_check_runs_every_minute(app):
    from datetime import datetime

    huey = app.extensions["huey"]
    for minute in (0, 1, 37):
        due = {task.name for task in huey.read_periodic(datetime(2026, 3, 2, 2, minute))}
        assert "periodic.fleet.offline_alerts" in due
