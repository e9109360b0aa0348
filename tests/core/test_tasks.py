"""The app's task queue: which Huey storage, the periodic jobs it runs, immediate mode, and
the outbox over Redis as the queue's storage."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from huey import RedisHuey, SqliteHuey

from kiosk_backend.core import outbox, tasks
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.outbox import DONE, PENDING, OutboxMessage
from kiosk_backend.extensions import db as _db

REDIS_URL = os.environ.get("KIOSK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> str:
    """Redis for the queue; skipped only when it is unreachable and this is not CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def redis_app(make_app):
    """An app whose queue is RedisHuey under a queue name of its own."""
    app = make_app(KIOSK_REDIS_URL=redis_or_skip(), KIOSK_QUEUE_NAME=f"kiosk-test-{uuid.uuid4().hex[:8]}")
    yield app
    app.extensions["huey"].storage.flush_all()


def drain(app) -> list:
    huey, results = app.extensions["huey"], []
    while (task := huey.dequeue()) is not None:
        results.append(huey.execute(task))
    return results


def test_the_queue_is_sqlite_in_the_instance_folder_by_default(app):
    huey = app.extensions["huey"]
    assert isinstance(huey, SqliteHuey)
    assert Path(huey.storage.filename) == Path(app.instance_path) / "tasks.db"


def test_a_redis_url_gives_a_redis_queue(redis_app):
    assert isinstance(redis_app.extensions["huey"], RedisHuey)


def test_every_periodic_job_is_a_queue_task_due_on_its_minutes(app):
    registered = app.extensions["periodic_tasks"]
    assert {"outbox.sweep", "outbox.purge", "fleet.offline_alerts", "identity.ended_sessions"} <= set(registered)
    huey = app.extensions["huey"]
    on_the_hour = datetime(2026, 3, 2, 2, 0)  # naive UTC, as Huey asks
    due = {task.name for task in huey.read_periodic(on_the_hour)}
    assert {"periodic.outbox.sweep", "periodic.outbox.purge", "periodic.identity.ended_sessions"} <= due
    due = {task.name for task in huey.read_periodic(on_the_hour + timedelta(minutes=7))}
    assert "periodic.outbox.sweep" in due and "periodic.outbox.purge" not in due


def test_a_periodic_job_runs_in_an_app_context_and_core_commits(app, db):
    seen = []

    @tasks.periodic("test.touch", every=timedelta(minutes=5))
    def touch(session, config):
        outbox.enqueue(session, "test.touched", {}, key=str(len(seen)))
        seen.append(config["KIOSK_QUEUE_NAME"])
        return "touched"

    try:
        job = tasks._run_periodic(tasks.periodic_jobs()["test.touch"])
        with app.app_context():  # as a worker thread would, with a session of its own
            assert tasks._in_app_context(app, job)() == "touched"
    finally:
        tasks._periodic.pop("test.touch")
    db.session.expire_all()
    assert seen == ["kiosk"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


def test_periodic_due_times_are_whole_minutes_since_the_epoch():
    job = tasks.Periodic("x", lambda s, c: None, timedelta(minutes=15))
    assert job.is_due(datetime(2026, 1, 1, 10, 45, tzinfo=UTC))
    assert not job.is_due(datetime(2026, 1, 1, 10, 46))
    assert tasks.Periodic("y", lambda s, c: None, timedelta(seconds=10)).minutes == 1


def test_in_immediate_mode_a_message_is_performed_at_commit(make_app):
    app = make_app(KIOSK_TASKS_IMMEDIATE=True)
    done = []
    outbox.handler("test.immediate")(lambda payload, *, key, session: done.append(key))
    with app.app_context():
        outbox.enqueue(_db.session, "test.immediate", {}, key="now")
        _db.session.commit()
        assert done == ["now"]
        assert _db.session.scalar(sa.select(OutboxMessage.state)) == DONE
        _db.session.remove()


def test_over_redis_a_committed_message_is_performed_once_and_a_lost_relay_is_swept(redis_app, monkeypatch):
    calls = []
    outbox.handler("test.redis")(lambda payload, *, key, session: calls.append(key))
    with redis_app.app_context():
        outbox.enqueue(_db.session, "test.redis", {}, key="r1")
        _db.session.commit()
        assert redis_app.extensions["huey"].pending_count() == 1
        tasks.relay([1])  # and a duplicate delivery
        assert drain(redis_app) == [DONE, "skipped"]

        monkeypatch.setattr(tasks, "relay", lambda ids: 0)  # crash between commit and relay
        outbox.enqueue(_db.session, "test.redis", {}, key="r2")
        _db.session.commit()
        monkeypatch.undo()
        assert redis_app.extensions["huey"].pending_count() == 0
        assert _db.session.scalar(sa.select(OutboxMessage.state).where(OutboxMessage.key == "r2")) == PENDING
        assert tasks.sweep_outbox(_db.session, {**redis_app.config, "KIOSK_OUTBOX_SWEEP_GRACE_SECONDS": 0}) == 1
        assert drain(redis_app) == [DONE]
        assert calls == ["r1", "r2"]
        _db.session.remove()


def test_spent_nonces_of_signed_requests_are_purged_hourly_by_the_worker(app, db):
    from kiosk_backend.core.signing import RequestNonce

    assert "signing.purge_nonces" in app.extensions["periodic_tasks"]
    past, future = utcnow() - timedelta(minutes=1), utcnow() + timedelta(minutes=5)
    db.session.add_all([RequestNonce(key_id="dept", nonce="old", expires_at=past),
                        RequestNonce(key_id="dept", nonce="live", expires_at=future)])
    db.session.commit()
    job = tasks._run_periodic(tasks.periodic_jobs()["signing.purge_nonces"])
    with app.app_context():
        assert tasks._in_app_context(app, job)() == 1
    db.session.expire_all()
    assert db.session.scalars(sa.select(RequestNonce.nonce)).all() == ["live"]
