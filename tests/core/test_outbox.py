"""The transactional outbox on the suite's database (SQLite or PostgreSQL) with the app's
real queue storage (SqliteHuey in the test instance folder): enqueue with the change,
relay after commit, sweep what the relay lost, claim once, retry with backoff, dead
letters and their retry from the console."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import outbox, tasks
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict
from kiosk_backend.core.outbox import DEAD, DONE, PENDING, RUNNING, OutboxMessage, Policy
from tests.conftest import Clock as _Clock
from tests.conftest import csrf_of, login

TOPIC = "test.remote"


class Clock(_Clock):
    def after(self, **delta) -> Clock:
        """Advance, and return the clock itself (for ``now=``)."""
        self.advance(**delta)
        return self


class Remote:
    """A remote system that fails ``failures`` times, then accepts; remembers keys it saw."""

    def __init__(self, failures: int = 0, error: str = "gateway timeout"):
        self.failures, self.error, self.calls, self.accepted = failures, error, 0, []

    def __call__(self, payload, *, key, session):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(self.error)
        self.accepted.append((key, payload))


@pytest.fixture
def remote():
    """Registers a fresh Remote as the handler of TOPIC for the test."""
    previous = outbox.handler_for(TOPIC)
    fake = Remote()
    outbox.handler(TOPIC)(fake)
    yield fake
    if previous is not None:
        outbox.handler(TOPIC)(previous)


def queued(app) -> int:
    return app.extensions["huey"].pending_count()


def drain(app) -> list:
    """Run every task waiting in the app's queue, as a worker would; returns their results."""
    huey, results = app.extensions["huey"], []
    while (task := huey.dequeue()) is not None:
        results.append(huey.execute(task))
    return results


def message(db, key="k1") -> OutboxMessage:
    db.session.expire_all()
    return db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.key == key))


@pytest.fixture(autouse=True)
def _empty_queue(app):
    app.extensions["huey"].flush()
    yield
    app.extensions["huey"].flush()


# ------------------------------------------------------------------ enqueue and relay

def test_enqueueing_the_same_key_twice_keeps_one_row(db, remote):
    first = outbox.enqueue(db.session, TOPIC, {"n": 1}, key="k1")
    second = outbox.enqueue(db.session, TOPIC, {"n": 2}, key="k1")
    db.session.commit()
    again = outbox.enqueue(db.session, TOPIC, {"n": 3}, key="k1")
    db.session.commit()
    assert first is second is again
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1
    assert message(db).payload == {"n": 1}


def test_the_same_key_on_another_topic_is_another_message(db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    outbox.enqueue(db.session, "test.other", {}, key="k1")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 2


def test_a_concurrent_duplicate_key_is_refused_by_the_database(app, db, remote):
    db.session.add(OutboxMessage(topic=TOPIC, key="k1", payload={}, state=PENDING, attempts=0,
                                 next_attempt_at=utcnow()))
    db.session.commit()
    db.session.add(OutboxMessage(topic=TOPIC, key="k1", payload={}, state=PENDING, attempts=0,
                                 next_attempt_at=utcnow()))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_commit_pushes_the_new_message_to_the_queue_and_a_worker_performs_it(app, db, remote):
    outbox.enqueue(db.session, TOPIC, {"order": "A1"}, key="k1")
    assert queued(app) == 0  # nothing leaves before the commit
    db.session.commit()
    assert queued(app) == 1
    assert drain(app) == [DONE]
    assert remote.accepted == [("k1", {"order": "A1"})]
    row = message(db)
    assert (row.state, row.attempts, row.lease_until, row.last_error) == (DONE, 1, None, None)
    assert row.done_at is not None


def test_a_rolled_back_change_sends_nothing(app, db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert queued(app) == 0
    assert message(db) is None


def test_commit_then_crash_before_the_relay_loses_nothing(app, db, remote, monkeypatch):
    # The process dies right after COMMIT: the relay never runs.
    monkeypatch.setattr(tasks, "relay", lambda ids: 0)
    outbox.enqueue(db.session, TOPIC, {"order": "A1"}, key="k1")
    db.session.commit()
    monkeypatch.undo()
    assert queued(app) == 0
    assert message(db).state == PENDING

    # The next sweep (a minute later: the grace period for relays in flight) delivers it.
    assert tasks.sweep_outbox(db.session, {**app.config, "KIOSK_OUTBOX_SWEEP_GRACE_SECONDS": 0}) == 1
    assert queued(app) == 1
    assert drain(app) == [DONE]
    assert remote.accepted == [("k1", {"order": "A1"})]


def test_a_queue_that_is_down_at_commit_time_loses_nothing(app, db, remote, monkeypatch):
    def down(*_a, **_kw):
        raise ConnectionError("queue unreachable")

    monkeypatch.setattr(app.extensions["huey"], "enqueue", down)
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()  # the commit itself succeeds
    monkeypatch.undo()
    assert message(db).state == PENDING
    assert tasks.sweep_outbox(db.session, {**app.config, "KIOSK_OUTBOX_SWEEP_GRACE_SECONDS": 0}) == 1
    assert drain(app) == [DONE]


def test_the_sweep_leaves_fresh_messages_to_the_relay(app, db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    assert outbox.sweep(db.session, grace_seconds=60) == []
    assert outbox.sweep(db.session, grace_seconds=60, now=lambda: utcnow() + timedelta(seconds=61)) == [message(db).id]


# ------------------------------------------------------------------ claiming

def test_a_duplicate_delivery_does_nothing_the_second_time(app, db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    tasks.relay([message(db).id])  # delivered twice (relay and sweep, or the queue's own retry)
    assert queued(app) == 2
    assert drain(app) == [DONE, "skipped"]
    assert remote.calls == 1
    assert outbox.run(db.session, message(db).id) == outbox.SKIPPED
    assert remote.calls == 1


def test_a_message_leased_by_a_live_worker_cannot_be_claimed(db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    clock = Clock(utcnow())
    assert outbox.claim(db.session, message(db).id, lease_seconds=60, now=clock) is not None
    assert outbox.claim(db.session, message(db).id, lease_seconds=60, now=clock.after(seconds=59)) is None
    taken = outbox.claim(db.session, message(db).id, lease_seconds=60, now=clock.after(seconds=2))
    assert (taken.state, taken.attempts) == (RUNNING, 2)


def test_a_worker_that_lost_its_lease_does_not_mark_the_message_done(app, db):
    """Worker A is slow; its lease expires and worker B performs the message. A's late
    result is discarded: the message is done once, by B."""
    seen = []

    def slow_then_overtaken(payload, *, key, session):
        seen.append(key)
        if len(seen) == 1:  # worker A, mid-job: time passes, worker B takes over
            clock.advance(seconds=120)
            with app.app_context():
                assert outbox.run(db.session, msg_id, policy=Policy(lease_seconds=60), now=clock).state == DONE

    outbox.handler("test.overtaken")(slow_then_overtaken)
    outbox.enqueue(db.session, "test.overtaken", {}, key="k1")
    db.session.commit()
    msg_id = message(db).id
    clock = Clock(utcnow())
    assert outbox.run(db.session, msg_id, policy=Policy(lease_seconds=60), now=clock) == outbox.SKIPPED
    row = message(db)
    assert (row.state, row.attempts) == (DONE, 2)


# ------------------------------------------------------------------ failures, backoff, dead letters

def test_backoff_doubles_up_to_the_cap_and_jitters_within_half_to_full():
    assert outbox.backoff(1, base=10, cap=3600, rand=lambda: 0.0) == 5
    assert outbox.backoff(1, base=10, cap=3600, rand=lambda: 1.0) == 10
    assert outbox.backoff(4, base=10, cap=3600, rand=lambda: 1.0) == 80
    assert outbox.backoff(20, base=10, cap=3600, rand=lambda: 1.0) == 3600
    assert outbox.backoff(20, base=10, cap=3600, rand=lambda: 0.0) == 1800


def test_a_remote_failing_four_times_then_succeeding_is_retried_on_a_growing_schedule(db, remote):
    remote.failures = 4
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    policy = Policy(max_attempts=8, backoff_base=10, backoff_cap=3600)
    clock = Clock(utcnow())
    delays = []
    for attempt in range(1, 5):
        outcome = outbox.run(db.session, message(db).id, policy=policy, now=clock)
        row = message(db)
        assert (outcome.state, row.state, row.attempts) == (PENDING, PENDING, attempt)
        assert row.last_error == "ConnectionError: gateway timeout"
        ceiling = 10 * 2 ** (attempt - 1)
        assert ceiling / 2 <= outcome.retry_in <= ceiling  # jitter stays within its bounds
        assert row.next_attempt_at == clock() + timedelta(seconds=outcome.retry_in) or \
            abs((row.next_attempt_at - clock()).total_seconds() - outcome.retry_in) < 0.001
        delays.append(outcome.retry_in)
        # Not due yet: an early delivery does nothing.
        assert outbox.run(db.session, row.id, policy=policy, now=clock) == outbox.SKIPPED
        clock.advance(seconds=outcome.retry_in)
    assert delays == sorted(delays) and len(set(delays)) == 4  # the schedule grows
    assert outbox.run(db.session, message(db).id, policy=policy, now=clock).state == DONE
    row = message(db)
    assert (row.state, row.attempts, row.last_error) == (DONE, 5, None)
    assert remote.calls == 5 and len(remote.accepted) == 1


def test_a_failure_in_the_queue_schedules_the_retry_in_the_queue(app, db, remote):
    remote.failures = 1
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    # The worker met the retry in the queue before it was due: the queue holds it until then.
    assert drain(app) == [PENDING, None]
    assert app.extensions["huey"].scheduled_count() == 1
    assert message(db).state == PENDING


def test_the_handlers_database_writes_are_rolled_back_with_a_failed_attempt(db):
    def half_done(payload, *, key, session):
        session.add(AuditEntry(actor="test", action="half.done"))
        session.flush()
        raise RuntimeError("remote said no")

    outbox.handler("test.half")(half_done)
    outbox.enqueue(db.session, "test.half", {}, key="k1")
    db.session.commit()
    assert outbox.run(db.session, message(db).id).state == PENDING
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_a_message_without_a_handler_fails_like_any_other(db):
    outbox.enqueue(db.session, "test.nobody-listens", {}, key="k1")
    db.session.commit()
    assert outbox.run(db.session, message(db).id).state == PENDING
    assert "no handler registered" in message(db).last_error


def test_after_the_last_attempt_a_message_is_dead_with_its_error_kept_short(db, remote):
    remote.failures, remote.error = 99, "x" * 5000
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    policy = Policy(max_attempts=3, backoff_base=1, backoff_cap=1)
    clock = Clock(utcnow())
    states = []
    for _ in range(3):
        states.append(outbox.run(db.session, message(db).id, policy=policy, now=clock).state)
        clock.advance(seconds=2)
    assert states == [PENDING, PENDING, DEAD]
    row = message(db)
    assert (row.state, row.attempts) == (DEAD, 3)
    assert len(row.last_error) == outbox.ERROR_LIMIT
    assert outbox.run(db.session, row.id, policy=policy, now=clock.after(days=1)) == outbox.SKIPPED
    assert remote.calls == 3


def test_a_worker_lost_on_the_last_attempt_leaves_a_dead_message(db, remote):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    clock = Clock(utcnow())
    outbox.claim(db.session, message(db).id, lease_seconds=10, now=clock)  # ... and the worker dies
    assert outbox.sweep(db.session, policy=Policy(max_attempts=1), now=clock.after(seconds=11)) == []
    row = message(db)
    assert row.state == DEAD and "lease expired" in row.last_error


def test_done_messages_are_purged_after_the_keep_period(db, remote):
    for key in ("old", "new", "waiting"):
        outbox.enqueue(db.session, TOPIC, {}, key=key)
    db.session.commit()
    clock = Clock(utcnow())
    outbox.run(db.session, message(db, "old").id, now=clock)
    outbox.run(db.session, message(db, "new").id, now=clock.after(days=6))
    assert outbox.purge_done(db.session, older_than=timedelta(days=7), now=clock.after(days=2)) == 1
    assert message(db, "old") is None and message(db, "new") is not None and message(db, "waiting") is not None


# ------------------------------------------------------------------ the console

def _dead_message(db, remote, key="k1") -> OutboxMessage:
    remote.failures = 99
    outbox.enqueue(db.session, TOPIC, {"order": "A1"}, key=key)
    db.session.commit()
    outbox.run(db.session, message(db, key).id, policy=Policy(max_attempts=1))
    return message(db, key)


def test_the_jobs_page_lists_dead_messages_and_an_admin_retry_delivers_them(app, db, remote, make_staff):
    dead = _dead_message(db, remote)
    app.extensions["huey"].flush()
    make_staff("admin", role="admin")
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/jobs/")
    assert page.status_code == 200
    html = page.text
    assert TOPIC in html and "k1" in html and "ConnectionError: gateway timeout" in html and "已停止重试" in html

    response = client.post("/admin/jobs/retry", data={"message_id": dead.id, "csrf_token": csrf_of(html)})
    assert response.status_code == 302
    row = message(db)
    assert (row.state, row.attempts) == (PENDING, 0)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "outbox.retry"))
    assert (entry.actor, entry.target, entry.details["key"]) == ("admin", f"outbox:{dead.id}", "k1")
    assert queued(app) == 1  # relayed when the request committed

    remote.failures = 0
    assert drain(app) == [DONE]
    assert remote.accepted == [("k1", {"order": "A1"})]


def test_only_dead_messages_can_be_retried(app, db, remote, make_staff):
    outbox.enqueue(db.session, TOPIC, {}, key="k1")
    db.session.commit()
    make_staff("admin", role="admin")
    client = app.test_client()
    csrf = login(client, "admin")
    assert client.post("/admin/jobs/retry", data={"message_id": message(db).id, "csrf_token": csrf}).status_code == 409
    assert client.post("/admin/jobs/retry", data={"message_id": 999999, "csrf_token": csrf}).status_code == 404
    assert client.post("/admin/jobs/retry", data={"csrf_token": csrf}).status_code == 404


def test_a_retry_without_the_csrf_token_is_refused(app, db, remote, make_staff):
    dead = _dead_message(db, remote)
    make_staff("admin", role="admin")
    client = app.test_client()
    login(client, "admin")
    assert client.post("/admin/jobs/retry", data={"message_id": dead.id}).status_code == 400
    assert message(db).state == DEAD


@pytest.mark.parametrize("role, expected", [("admin", 200), ("site_manager", 403), ("helper", 403)])
def test_the_jobs_page_is_for_admins_only(app, db, make_staff, role, expected):
    make_staff("someone", role=role)
    client = app.test_client()
    login(client, "someone")
    assert client.get("/admin/jobs/").status_code == expected


def test_anonymous_visitors_of_the_jobs_page_are_sent_to_login(client):
    response = client.get("/admin/jobs/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    response = client.post("/admin/jobs/retry", data={"message_id": 1})
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_site_managers_cannot_retry(app, db, remote, make_staff):
    dead = _dead_message(db, remote)
    make_staff("manager", role="site_manager")
    client = app.test_client()
    csrf = login(client, "manager")
    assert client.post("/admin/jobs/retry", data={"message_id": dead.id, "csrf_token": csrf}).status_code == 403
    assert message(db).state == DEAD


def test_the_console_nav_links_the_jobs_page_for_admins(app, db, make_staff):
    make_staff("admin", role="admin")
    client = app.test_client()
    login(client, "admin")
    assert 'href="/admin/jobs/"' in client.get("/admin/jobs/").text


def test_two_retries_of_one_dead_message_start_it_once(app, db, remote):
    dead = _dead_message(db, remote)
    outbox.retry(db.session, dead.id, actor="admin")
    with pytest.raises(Conflict):   # the second admin finds it pending already
        outbox.retry(db.session, dead.id, actor="li")
    db.session.commit()
    retries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "outbox.retry")).all()
    assert [entry.actor for entry in retries] == ["admin"] and message(db).state == PENDING


def test_a_commit_that_fails_after_the_handler_is_a_failed_attempt_not_a_stuck_message(db, remote, monkeypatch):
    outbox.enqueue(db.session, TOPIC, {"order": "A1"}, key="k1")
    db.session.commit()
    real_commit, calls = db.session.commit, []

    def flaky_commit():
        calls.append(1)
        if len(calls) == 2:   # the first commit claims; the second would save "done"
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return real_commit()

    monkeypatch.setattr(db.session, "commit", flaky_commit)
    outcome = outbox.run(db.session, message(db).id, policy=Policy(max_attempts=3))
    monkeypatch.undo()
    row = message(db)
    assert outcome.state == PENDING and (row.state, row.attempts) == (PENDING, 1)
    assert "server closed the connection" in row.last_error and row.lease_until is None
