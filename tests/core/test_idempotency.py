"""Idempotency-Key (core.idempotency): same key and body replays, another body 422, still
running 409, scoped per client, kept a day; the stored answer commits with the work or not
at all; 50 retries at once make one row, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Blueprint, redirect, request

from kiosk_backend.core import audit, idempotency, tasks
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Invalid
from kiosk_backend.core.idempotency import IdempotencyKey
from kiosk_backend.core.requests import independent_session
from kiosk_backend.extensions import db as _db
from tests.races import run_in_threads

KEY = "2f1c6a0e-booking-1"
BODY = {"name": "parcel", "pieces": 1}
KEEP, LEASE = timedelta(hours=24), timedelta(seconds=60)


def _scope() -> str:
    return f"client:{request.headers.get('X-Client', 'a')}"


def _probe_blueprint() -> Blueprint:
    bp = Blueprint("idem_probe", __name__, url_prefix="/api/v1/_idem")

    @bp.post("/things")
    @idempotency.idempotent(scope=_scope)
    def create_thing():
        body = request.get_json()
        if body.get("invalid"):
            raise Invalid("No.", "不行。", errors={"json": {"invalid": ["no"]}})
        if body.get("explode"):
            raise RuntimeError("the view broke")
        entry = audit.record(_db.session, actor=SYSTEM, action="probe.thing", target=body["name"])
        _db.session.flush()
        if body.get("duplicate_of"):
            # Found only when core commits: the answer becomes 409 and nothing is kept.
            _db.session.add(AuditEntry(id=body["duplicate_of"], at=utcnow(), actor="x", action="probe.dup",
                                       details={}))
        return {"id": entry.id, "name": body["name"]}, 201

    @bp.post("/required")
    @idempotency.idempotent(scope=_scope, required=True)
    def required():
        audit.record(_db.session, actor=SYSTEM, action="probe.thing", target="required")
        return {"ok": True}, 201

    def scope_after_a_write() -> str:
        audit.record(_db.session, actor=SYSTEM, action="probe.thing", target="early")
        _db.session.flush()  # the request writes before the claim (a mistake on SQLite)
        return _scope()

    @bp.post("/late-claim")
    @idempotency.idempotent(scope=scope_after_a_write)
    def late_claim():
        return {"ok": True}, 201

    @bp.post("/form")
    @idempotency.idempotent(scope=_scope)
    def form():
        entry = audit.record(_db.session, actor=SYSTEM, action="probe.thing", target=request.form["name"])
        _db.session.flush()
        return redirect(f"/api/v1/_idem/things/{entry.id}", code=303)

    return bp


@pytest.fixture(scope="module")
def probe_app(make_app):
    """A fresh app with probe views; the pool has room for the race's threads. Exceptions
    become 500 answers as in production (not raised into the test)."""
    app = make_app(PROPAGATE_EXCEPTIONS=False, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 0, "pool_timeout": 120,
                                              "pool_pre_ping": True})
    app.register_blueprint(_probe_blueprint())
    return app


@pytest.fixture
def probe(probe_app):
    with probe_app.app_context():
        with _db.engine.begin() as conn:  # the audit log refuses deletes through the ORM
            conn.execute(IdempotencyKey.__table__.delete())
            conn.execute(AuditEntry.__table__.delete())
    yield probe_app
    with probe_app.app_context():
        _db.engine.dispose()


def things(app) -> list[str]:
    with app.app_context():
        names = list(_db.session.scalars(sa.select(AuditEntry.target).where(AuditEntry.action == "probe.thing")
                                         .order_by(AuditEntry.id)))
        _db.session.remove()
        return names


def keys(app) -> list[IdempotencyKey]:
    with app.app_context():
        rows = list(_db.session.scalars(sa.select(IdempotencyKey).order_by(IdempotencyKey.id)))
        _db.session.remove()
        return rows


def post(client, body=BODY, *, key=KEY, client_id="a", path="/api/v1/_idem/things", raw: str | None = None):
    headers = {"X-Client": client_id}
    if key is not None:
        headers[idempotency.HEADER] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post(path, data=data, headers=headers, content_type="application/json")


# ===================================================================== replay, refuse, wait

def test_the_same_key_and_body_replay_the_first_answer_and_do_the_work_once(probe):
    client = probe.test_client()
    first = post(client)
    again = post(client)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.get_data() == first.get_data()
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert idempotency.REPLAYED_HEADER not in first.headers
    assert things(probe) == ["parcel"]
    [row] = keys(probe)
    assert (row.scope, row.key, row.state, row.status_code) == ("client:a", KEY, "done", 201)
    assert row.lease_until is None and row.expires_at - row.created_at >= timedelta(hours=24)


def test_the_body_is_compared_as_json_not_as_bytes(probe):
    client = probe.test_client()
    post(client, raw='{"name": "parcel", "pieces": 1}')
    again = post(client, raw='{ "pieces":1,\n "name":"parcel" }')
    assert again.status_code == 201 and again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert things(probe) == ["parcel"]


def test_the_same_key_with_another_body_is_refused_with_422_naming_the_header(probe):
    client = probe.test_client()
    post(client)
    other = post(client, {"name": "parcel", "pieces": 2})
    assert other.status_code == 422
    assert idempotency.HEADER in other.get_json()["errors"]["headers"]
    assert things(probe) == ["parcel"]


def test_the_same_key_on_another_path_is_another_request(probe):
    client = probe.test_client()
    post(client)
    assert post(client, path="/api/v1/_idem/required").status_code == 422


def test_a_key_still_in_progress_gives_409_with_retry_after(probe):
    with probe.app_context():
        with probe.test_request_context("/api/v1/_idem/things", method="POST", json=BODY):
            fingerprint = idempotency.request_hash()
        idempotency.begin("client:a", KEY, fingerprint, keep=KEEP, lease=LEASE)
    response = post(probe.test_client())
    assert response.status_code == 409
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert things(probe) == []


def test_a_claim_whose_request_died_is_taken_over_after_its_lease(probe):
    with probe.app_context():
        with probe.test_request_context("/api/v1/_idem/things", method="POST", json=BODY):
            fingerprint = idempotency.request_hash()
        # A request that claimed the key two minutes ago and never finished.
        idempotency.begin("client:a", KEY, fingerprint, keep=KEEP, lease=LEASE,
                          now=lambda: utcnow() - timedelta(minutes=2))
    response = post(probe.test_client())
    assert response.status_code == 201 and idempotency.REPLAYED_HEADER not in response.headers
    assert things(probe) == ["parcel"]
    assert [row.state for row in keys(probe)] == ["done"]


def test_keys_are_scoped_per_client(probe):
    client = probe.test_client()
    mine = post(client, client_id="a")
    theirs = post(client, client_id="b")
    assert mine.status_code == theirs.status_code == 201
    assert idempotency.REPLAYED_HEADER not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert things(probe) == ["parcel", "parcel"]


def test_an_expired_key_is_a_new_key(probe):
    client = probe.test_client()
    post(client)
    with probe.app_context():
        _db.session.execute(sa.update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        _db.session.commit()
        _db.session.remove()
    again = post(client, {"name": "other"})
    assert again.status_code == 201 and idempotency.REPLAYED_HEADER not in again.headers
    assert things(probe) == ["parcel", "other"]


# ===================================================================== failures give the key back

def test_a_refused_request_stores_nothing_and_the_key_may_be_used_again(probe):
    client = probe.test_client()
    assert post(client, {"name": "parcel", "invalid": True}).status_code == 422
    assert keys(probe) == []
    assert post(client).status_code == 201
    assert things(probe) == ["parcel"]


def test_a_view_that_raises_gives_the_key_back(probe):
    client = probe.test_client()
    assert post(client, {"name": "parcel", "explode": True}).status_code == 500
    assert keys(probe) == [] and things(probe) == []


def test_the_stored_answer_commits_with_the_work_or_not_at_all(probe):
    client = probe.test_client()
    first = post(client, {"name": "first"}, key="k-1")
    existing = first.get_json()["id"]
    failed = post(client, {"name": "second", "duplicate_of": existing}, key="k-2")
    assert failed.status_code == 409  # the commit failed: neither the row nor the answer is kept
    assert things(probe) == ["first"]
    assert [row.key for row in keys(probe)] == ["k-1"]
    assert post(client, {"name": "second"}, key="k-2").status_code == 201


def test_a_request_superseded_after_its_lease_is_refused_and_its_work_rolled_back(probe):
    with probe.app_context():
        slow = idempotency.begin("client:a", KEY, "f" * 64, keep=KEEP, lease=LEASE,
                                 now=lambda: utcnow() - timedelta(minutes=2))
        retry = idempotency.begin("client:a", KEY, "f" * 64, keep=KEEP, lease=LEASE)
        assert isinstance(retry, idempotency.Claim) and retry.token != slow.token
        with probe.test_request_context("/"):
            response = probe.make_response(({"id": 1}, 201))
            with pytest.raises(idempotency.KeyTakenOver):
                idempotency.complete(_db.session, slow, response)
            idempotency.complete(_db.session, retry, response)
            _db.session.commit()
        with independent_session() as side:
            assert idempotency.release(side, slow) == 0  # a finished key is never given back
        _db.session.remove()
    [row] = keys(probe)
    assert row.state == "done" and row.claim == retry.token


# ===================================================================== the header itself

@pytest.mark.parametrize("bad", ["x" * 256, "tab\tinside", "del\x7f"])
def test_a_malformed_key_is_a_400_naming_the_header(probe, bad):
    response = post(probe.test_client(), key=bad)
    assert response.status_code == 400
    assert idempotency.HEADER in response.get_json()["errors"]["headers"]
    assert things(probe) == []


def test_keys_of_printable_ascii_up_to_255_characters_are_accepted(probe):
    client = probe.test_client()
    assert post(client, key="a" * 255).status_code == 201
    assert post(client, key="~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}").status_code == 201


def test_without_a_key_the_view_runs_every_time(probe):
    client = probe.test_client()
    assert post(client, key=None).status_code == post(client, key=None).status_code == 201
    assert things(probe) == ["parcel", "parcel"] and keys(probe) == []


def test_a_view_may_require_the_key(probe):
    client = probe.test_client()
    missing = post(client, key=None, path="/api/v1/_idem/required")
    assert missing.status_code == 400 and idempotency.HEADER in missing.get_json()["errors"]["headers"]
    assert post(client, path="/api/v1/_idem/required").status_code == 201


def test_a_form_answered_by_a_redirect_is_replayed_with_its_location_whatever_the_csrf_token(probe):
    client = probe.test_client()
    headers = {idempotency.HEADER: KEY}
    first = client.post("/api/v1/_idem/form", data={"name": "parcel", "csrf_token": "one"}, headers=headers)
    again = client.post("/api/v1/_idem/form", data={"csrf_token": "two", "name": "parcel"}, headers=headers)
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    other = client.post("/api/v1/_idem/form", data={"name": "another"}, headers=headers)
    assert other.status_code == 422
    assert things(probe) == ["parcel"]


def test_a_claim_after_the_requests_first_write_fails_at_once_on_sqlite_and_works_elsewhere(probe, caplog):
    import time

    started = time.monotonic()
    response = post(probe.test_client(), path="/api/v1/_idem/late-claim")
    assert time.monotonic() - started < 5  # not the 15 s busy timeout
    with probe.app_context():
        dialect = _db.engine.dialect.name
    if dialect == "sqlite":
        assert response.status_code == 500 and keys(probe) == [] and things(probe) == []
        assert "claim it first" in caplog.text
    else:
        assert response.status_code == 201 and things(probe) == ["early"]


def test_a_scope_must_name_a_client(probe):
    with probe.app_context(), pytest.raises(ValueError):
        idempotency.begin("", KEY, "f" * 64, keep=KEEP, lease=LEASE)


# ===================================================================== keeping and forgetting

def test_keys_are_kept_at_least_a_day_and_purged_after(probe):
    post(probe.test_client())
    with probe.app_context():
        job = tasks.periodic_jobs()["idempotency.purge"]
        assert job.fn(_db.session, probe.config) == 0
        _db.session.commit()
        assert idempotency.purge_expired(_db.session, now=lambda: utcnow() + timedelta(hours=23)) == 0
        assert idempotency.purge_expired(_db.session, now=lambda: utcnow() + timedelta(hours=24, minutes=1)) == 1
        _db.session.commit()
        _db.session.remove()
    assert keys(probe) == []


def test_a_shorter_keeping_time_in_the_configuration_is_raised_to_a_day():
    keep, lease = idempotency.settings({"KIOSK_IDEMPOTENCY_HOURS": 1, "KIOSK_IDEMPOTENCY_LEASE_SECONDS": 30})
    assert keep == timedelta(hours=24) and lease == timedelta(seconds=30)
    assert idempotency.settings({"KIOSK_IDEMPOTENCY_HOURS": 48})[0] == timedelta(hours=48)


# ===================================================================== races

def test_fifty_retries_at_once_with_one_key_do_the_work_once(probe):
    def work(_i):
        response = post(probe.test_client())
        return response.status_code, response.headers.get(idempotency.REPLAYED_HEADER), response.get_json()

    results = run_in_threads(probe, 50, work, timeout=180)
    assert not [r for r in results if isinstance(r, Exception)], results
    fresh = [r for r in results if r[0] == 201 and r[1] is None]
    replayed = [r for r in results if r[0] == 201 and r[1] == "true"]
    waiting = [r for r in results if r[0] == 409]
    assert len(fresh) == 1
    assert len(fresh) + len(replayed) + len(waiting) == 50
    assert all(r[2] == fresh[0][2] for r in replayed)
    assert things(probe) == ["parcel"]
    assert [row.state for row in keys(probe)] == ["done"]
