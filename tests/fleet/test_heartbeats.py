"""Heartbeats: the transactional service (record_heartbeat), the one-statement quick path
(quick_beat) for beats where nothing changed or is due, and the route that picks one.
Times come from a settable clock (tests/conftest.py Clock)."""
from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from kiosk_backend.fleet import heartbeats, schemas, services, states
from kiosk_backend.fleet.models import Alert, Heartbeat, Kiosk, UsageEvent

from .conftest import beat, run_in_threads

URL = "/api/v1/kiosk/heartbeat"
OK = {"printer": "ok", "card_reader": "ok"}


def quick(db, credential, clock=None, *, seq, peripherals=None, session_active=False, app_version="1.0.0",
          profile=None):
    kw = {"now": clock} if clock else {}
    return heartbeats.quick_beat(db.engine, credential, {
        "seq": seq, "app_version": app_version, "profile": profile, "peripherals": peripherals or {},
        "session_active": session_active}, **kw)


def reload(db, kiosk) -> Kiosk:
    db.session.expire_all()
    return db.session.get(Kiosk, kiosk.id)


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def statements(db, monkeypatch):
    """``with statements() as seen``: SQL sent through the request's engine (SQLAlchemy's
    events) and by the quick path (its one DBAPI call, spied on), as two lists."""
    quick_run = heartbeats._Compiled.run

    @contextmanager
    def _watch():
        seen = {"transactional": [], "quick": []}

        def spy(self, engine, values):
            seen["quick"].append(self.sql)
            return quick_run(self, engine, values)

        def listener(conn, cursor, statement, *args):
            seen["transactional"].append(statement)

        monkeypatch.setattr(heartbeats._Compiled, "run", spy)
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            yield seen
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
            monkeypatch.setattr(heartbeats._Compiled, "run", quick_run)

    return _watch


# ===================================================================== the transactional service

def test_a_heartbeat_records_liveness_and_reported_state(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    result = beat(db, kiosk, clock, seq=1, peripherals={"printer": "ok"}, app_version="1.2.3",
                  profile="bank-lobby-landscape")
    assert result["status"] == "online" and result["interval"] == states.HEARTBEAT_SECONDS
    assert result["commands"] == [] and result["maintenance"] is False and result["server_time"] == clock()
    db.session.expire_all()
    kiosk = db.session.get(Kiosk, kiosk.id)
    assert (kiosk.last_seen_at, kiosk.last_seq, kiosk.app_version, kiosk.profile, kiosk.peripherals) == (
        clock(), 1, "1.2.3", "bank-lobby-landscape", {"printer": "ok"})
    history = heartbeats.heartbeat_history(db.session, kiosk)
    assert [(h.seq, h.status) for h in history] == [(1, "online")]


def test_a_heartbeat_with_a_peripheral_fault_answers_degraded(db, make_kiosk):
    kiosk, _ = make_kiosk()
    assert beat(db, kiosk, seq=1, peripherals={"printer": "paper_out"})["status"] == "degraded"


def test_an_out_of_order_beat_refreshes_liveness_but_not_the_reported_state(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=5, peripherals={"printer": "ok"}, app_version="1.0")
    clock.advance(seconds=30)
    beat(db, kiosk, clock, seq=4, peripherals={"printer": "paper_out"}, app_version="0.9", session_active=True)
    db.session.expire_all()
    kiosk = db.session.get(Kiosk, kiosk.id)
    assert kiosk.last_seen_at == clock()
    assert (kiosk.last_seq, kiosk.peripherals, kiosk.app_version, kiosk.session_active) == (5, {"printer": "ok"}, "1.0", False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent)) == 0


def test_a_restarted_kiosk_counting_from_one_again_is_believed(db, make_kiosk):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, seq=500, app_version="1.0")
    beat(db, kiosk, seq=1, app_version="1.1")
    db.session.expire_all()
    kiosk = db.session.get(Kiosk, kiosk.id)
    assert (kiosk.last_seq, kiosk.app_version) == (1, "1.1")


def test_history_keeps_every_change_but_only_a_sample_of_identical_beats(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    for seq in range(1, 6):  # five identical beats 30 s apart: one history row
        beat(db, kiosk, clock, seq=seq, peripherals={"printer": "ok"})
        clock.advance(seconds=30)
    beat(db, kiosk, clock, seq=6, peripherals={"printer": "paper_low"})  # a change: a row
    clock.advance(minutes=5)
    beat(db, kiosk, clock, seq=7, peripherals={"printer": "paper_low"})  # the 5-minute sample: a row
    assert [h.seq for h in heartbeats.heartbeat_history(db.session, kiosk)] == [7, 6, 1]


def test_paper_out_opens_one_alert_that_resolves_when_paper_is_back(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, peripherals={"printer": "ok"})
    clock.advance(seconds=30)
    beat(db, kiosk, clock, seq=2, peripherals={"printer": "paper_out"})
    opened_at = clock()
    clock.advance(seconds=30)
    beat(db, kiosk, clock, seq=3, peripherals={"printer": "paper_out", "scanner": "ok"})
    alerts = services.list_alerts(db.session)
    assert [(a.kind, a.detail, a.opened_at) for a in alerts] == [("paper_out", "printer", opened_at)]
    clock.advance(seconds=30)
    beat(db, kiosk, clock, seq=4, peripherals={"printer": "ok", "scanner": "ok"})
    db.session.expire_all()
    assert services.list_alerts(db.session) == []
    [alert] = services.list_alerts(db.session, open_only=False)
    assert alert.resolved_at == clock()


def test_a_peripheral_error_opens_its_own_alert_naming_the_device(db, make_kiosk):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, seq=1, peripherals={"printer": "ok", "card_reader": "error"})
    assert [(a.kind, a.detail) for a in services.list_alerts(db.session)] == [("peripheral_error", "card_reader")]


def test_silent_kiosks_get_one_offline_alert_that_resolves_on_the_next_beat(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    quiet_but_recent, _ = make_kiosk()
    make_kiosk()  # never seen: no alert
    pending, _ = make_kiosk(authorized=False)
    beat(db, kiosk, clock, seq=1)
    beat(db, pending, clock, seq=1)
    clock.advance(minutes=9)
    beat(db, quiet_but_recent, clock, seq=1)
    clock.advance(minutes=2)  # kiosk and pending silent 11 min, the other 2 min
    assert services.evaluate_offline_alerts(db.session, minutes=10, now=clock) == 1
    assert services.evaluate_offline_alerts(db.session, minutes=10, now=clock) == 0
    db.session.commit()
    [alert] = services.list_alerts(db.session)
    assert (alert.kiosk_id, alert.kind, alert.detail) == (kiosk.id, "offline", ">10 min")
    clock.advance(minutes=1)
    beat(db, kiosk, clock, seq=2)
    db.session.expire_all()
    assert services.list_alerts(db.session) == []


def test_a_session_starting_is_counted_once_as_usage(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, session_active=False)
    beat(db, kiosk, clock, seq=2, session_active=True)
    beat(db, kiosk, clock, seq=3, session_active=True)  # same session
    beat(db, kiosk, clock, seq=4, session_active=False)
    beat(db, kiosk, clock, seq=5, session_active=True)  # a new one
    events = db.session.scalars(sa.select(UsageEvent)).all()
    assert [(e.kind, e.kiosk_id, e.site_id) for e in events] == [("session", kiosk.id, kiosk.site_id)] * 2


def test_the_commands_pending_flag_follows_open_commands(db, make_kiosk):
    kiosk, _ = make_kiosk()
    beat = lambda seq: heartbeats.record_heartbeat(db.session, kiosk, seq=seq, app_version=None, profile=None,  # noqa: E731
                                                   peripherals={}, session_active=False)
    beat(1)
    assert kiosk.commands_pending is False
    command = services.issue_command(db.session, kiosk, kind="reload", actor="admin")
    assert kiosk.commands_pending is True
    assert [c["id"] for c in beat(2)["commands"]] == [command.id]
    assert kiosk.commands_pending is True  # delivered, not yet acknowledged
    services.ack_command(db.session, kiosk, command.id)
    assert beat(3)["commands"] == [] and kiosk.commands_pending is False


def test_two_changed_beats_of_one_kiosk_at_once_are_decided_one_after_the_other(app, db, make_kiosk):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, seq=1, peripherals=OK)
    kiosk_id = kiosk.id  # the threads have sessions of their own

    def work(i):
        mine = db.session.get(Kiosk, kiosk_id)
        heartbeats.record_heartbeat(db.session, mine, seq=2 + i, app_version="1.0.0", profile=None,
                                    peripherals={"printer": "paper_out"}, session_active=True)
        db.session.commit()

    assert run_in_threads(app, 4, work) == [None] * 4
    kiosk = reload(db, kiosk)
    assert kiosk.last_seq == 5 and kiosk.peripherals == {"printer": "paper_out"}
    assert [a.kind for a in services.list_alerts(db.session)] == ["paper_out"]
    assert count(db, UsageEvent) == 1  # one session start, not one per racing beat


# ===================================================================== the quick path

def test_an_unchanged_beat_is_one_statement_with_the_answer_the_service_gives(db, make_kiosk, clock, statements):
    kiosk, credential = make_kiosk()
    twin, _ = make_kiosk()
    for k in (kiosk, twin):
        beat(db, k, clock, seq=1, peripherals=OK)
    clock.advance(seconds=30)
    with statements() as seen:
        answer = quick(db, credential, clock, seq=2, peripherals=OK)
    assert seen["transactional"] == [] and len(seen["quick"]) == 1
    assert seen["quick"][0].lstrip().upper().startswith("UPDATE FLEET_KIOSK") and "RETURNING" in seen["quick"][0].upper()
    assert answer == beat(db, twin, clock, seq=2, peripherals=OK)
    kiosk, twin = reload(db, kiosk), reload(db, twin)
    columns = ("last_seen_at", "last_seq", "peripherals", "session_active", "app_version", "profile", "history_at",
               "commands_pending", "state")
    assert [getattr(kiosk, c) for c in columns] == [getattr(twin, c) for c in columns]
    assert kiosk.last_seen_at == clock() and kiosk.last_seq == 2
    assert len(heartbeats.heartbeat_history(db.session, kiosk)) == 1  # the first beat's; no sample due yet


def _bump(db, kiosk, clock, case):
    """Make the next beat (seq 6, 30 s later, same body unless the case changes it) need the service."""
    k = db.session.get(Kiosk, kiosk.id)
    if case == "history sample due":
        clock.advance(seconds=heartbeats.HISTORY_SAMPLE.total_seconds() - 30)
    elif case == "offline alert to resolve":
        clock.advance(seconds=heartbeats.OFFLINE_AFTER.total_seconds() + 1 - 30)
    elif case == "command pending":
        services.issue_command(db.session, k, kind="reload", actor="wang")
    elif case == "revoked":
        services.revoke(db.session, k, actor="wang")
    db.session.commit()


@pytest.mark.parametrize("case,changes", [
    ("peripherals changed", {"peripherals": {"printer": "paper_low", "card_reader": "ok"}}),
    ("peripheral added", {"peripherals": {**OK, "camera": "ok"}}),
    ("session started", {"session_active": True}),
    ("app updated", {"app_version": "1.0.1"}),
    ("profile changed", {"profile": "bank-lobby-landscape"}),
    ("stale seq", {"seq": 4}),
    ("restart at seq 1", {"seq": 1}),
    ("history sample due", {}),
    ("offline alert to resolve", {}),
    ("command pending", {}),
    ("revoked", {}),
    ("unknown credential", {"credential": "nonsense"}),
    ("no credential", {"credential": None}),
])
def test_the_quick_path_steps_aside_when_something_changed_or_is_due(db, make_kiosk, clock, case, changes):
    kiosk, credential = make_kiosk()
    beat(db, kiosk, clock, seq=5, peripherals=OK, profile="post-office-portrait")
    seen_at = clock()
    clock.advance(seconds=30)
    _bump(db, kiosk, clock, case)
    changes = dict(changes)
    body = {"seq": 6, "peripherals": OK, **changes}
    credential = body.pop("credential", credential)
    assert quick(db, credential, clock, **body) is None
    kiosk = reload(db, kiosk)
    assert (kiosk.last_seq, kiosk.last_seen_at) == (5, seen_at)  # nothing written: the service decides


def test_without_changes_the_quick_path_takes_the_beat(db, make_kiosk, clock):
    kiosk, credential = make_kiosk()
    beat(db, kiosk, clock, seq=5, peripherals=OK, profile="post-office-portrait")
    clock.advance(seconds=30)
    for seq, extra in ((6, {}), (7, {"profile": "post-office-portrait"}), (8, {"app_version": None})):
        assert quick(db, credential, clock, seq=seq, peripherals=OK, **extra) is not None
    assert reload(db, kiosk).last_seq == 8


def test_peripherals_reported_in_another_order_are_unchanged(db, make_kiosk, clock):
    kiosk, credential = make_kiosk()
    beat(db, kiosk, clock, seq=1, peripherals={"printer": "ok", "card_reader": "ok", "camera": "absent"})
    assert quick(db, credential, clock, seq=2, peripherals={"camera": "absent", "card_reader": "ok", "printer": "ok"})


def test_a_quick_answer_carries_rotation_maintenance_and_degraded_status(db, make_kiosk, clock):
    kiosk, credential = make_kiosk()
    beat(db, kiosk, clock, seq=1, peripherals={"printer": "paper_out"})
    services.request_rotation(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.get(Kiosk, kiosk.id).maintenance = True
    db.session.commit()
    answer = quick(db, credential, clock, seq=2, peripherals={"printer": "paper_out"})
    assert answer == {"status": "degraded", "server_time": clock(), "interval": states.HEARTBEAT_SECONDS,
                      "maintenance": True, "rotate_credential": True, "commands": []}


def test_a_pending_kiosk_beats_quickly_and_gets_no_commands(db, make_kiosk, clock):
    kiosk, credential = make_kiosk(authorized=False)
    beat(db, kiosk, clock, seq=1)
    assert quick(db, credential, clock, seq=2)["commands"] == []
    services.issue_command(db.session, db.session.get(Kiosk, kiosk.id), kind="reload", actor="wang")
    db.session.commit()
    assert quick(db, credential, clock, seq=3)["commands"] == []  # waits for authorization, as in the service


def test_quick_beats_of_one_kiosk_at_once_keep_the_newest_seq(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    beat(db, kiosk, seq=1, peripherals=OK)
    results = run_in_threads(app, 6, lambda i: quick(db, credential, seq=2 + i, peripherals=OK))
    assert not any(isinstance(r, Exception) for r in results), results
    assert reload(db, kiosk).last_seq == 7
    # A beat overtaken by a newer one matched nothing: it is left to the service, which
    # refreshes liveness only (stale seq).
    assert all(r is None or r["status"] == "online" for r in results)


# ===================================================================== the route

def _post(client, credential, **body):
    return client.post(URL, json={"seq": 1, "peripherals": OK, **body}, headers={"Authorization": f"Kiosk {credential}"})


def test_an_unchanged_beat_through_the_api_is_one_statement_and_no_orm(app, db, make_kiosk, statements):
    kiosk, credential = make_kiosk()
    client = app.test_client()
    first = _post(client, credential, seq=1)  # first beat: history, so the service
    with statements() as seen:
        second = _post(client, credential, seq=2)
    assert second.status_code == 200 and seen["transactional"] == [] and len(seen["quick"]) == 1
    assert set(second.get_json()) == set(first.get_json())
    assert {k: v for k, v in second.get_json().items() if k != "server_time"} == {
        k: v for k, v in first.get_json().items() if k != "server_time"}
    assert reload(db, kiosk).last_seq == 2


def test_a_changed_beat_through_the_api_goes_through_the_service(app, db, make_kiosk, statements):
    kiosk, credential = make_kiosk()
    client = app.test_client()
    _post(client, credential, seq=1)
    with statements() as seen:
        response = _post(client, credential, seq=2, peripherals={"printer": "paper_out"})
    assert response.status_code == 200 and response.get_json()["status"] == "degraded"
    assert len(seen["quick"]) == 1 and seen["transactional"]  # tried, matched nothing, then the service
    assert [a.kind for a in services.list_alerts(db.session)] == ["paper_out"]
    assert count(db, Heartbeat) == 2


def test_the_quick_answer_is_what_the_schema_would_dump(db, make_kiosk, clock):
    from kiosk_backend.fleet.api import _heartbeat_json

    kiosk, credential = make_kiosk()
    beat(db, kiosk, clock, seq=1)
    answer = quick(db, credential, clock, seq=2)
    assert _heartbeat_json(answer) == schemas.HeartbeatOut().dump(answer)


def test_a_kiosk_revoked_after_quick_beats_gets_401(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    client = app.test_client()
    assert [_post(client, credential, seq=n).status_code for n in (1, 2, 3)] == [200] * 3
    services.revoke(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    response = _post(client, credential, seq=4)
    assert response.status_code == 401 and response.get_json()["code"] == 401


def test_an_unknown_profile_gets_422_even_when_nothing_else_changed(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    client = app.test_client()
    _post(client, credential, seq=1)
    response = _post(client, credential, seq=2, profile="toaster-9000")
    assert response.status_code == 422 and "profile" in response.get_json()["message"]
    assert reload(db, kiosk).last_seq == 1


def test_the_openapi_document_describes_the_heartbeat_with_its_schemas(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/kiosk/heartbeat"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HeartbeatIn"}
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HeartbeatOut"}
    assert "422" in post["responses"]
    assert set(spec["components"]["schemas"]["HeartbeatIn"]["properties"]) == {
        "seq", "app_version", "profile", "peripherals", "session_active"}


# ---------------------------------------------------------------- the hand-written body check

@pytest.mark.parametrize("body", [
    {"seq": 1}, {"seq": 0}, {"seq": 2**62}, {"seq": 3, "app_version": None, "profile": None},
    {"seq": 3, "app_version": "v" * 32, "profile": "p" * 64, "session_active": True},
    {"seq": 9, "peripherals": {"printer": "paper_low", "card_reader": "error", "scanner": "absent",
                               "qr_scanner": "ok", "camera": "ok"}},
    {"seq": 9, "peripherals": {}}, {"seq": 1, "app_version": "版本 1.0"},
])
def test_plainly_valid_bodies_are_read_as_the_schema_reads_them(body):
    raw = json.dumps(body).encode()
    assert heartbeats.common_beat(raw) == schemas.HeartbeatIn().load(body)


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[1, 2]", b'{"seq": 1', b"null", b'"seq"', b"\xff\xfe", b"[" * 100_000,
    b"{}", b'{"seq": -1}', b'{"seq": "abc"}', b'{"seq": 9223372036854775808}', b'{"seq": null}',
    b'{"seq": 1, "app_version": "' + b"9" * 33 + b'"}', b'{"seq": 1, "profile": "' + b"x" * 65 + b'"}',
    b'{"seq": 1, "peripherals": {"printer": "on_fire"}}', b'{"seq": 1, "peripherals": {"fax": "ok"}}',
    b'{"seq": 1, "peripherals": "all good"}', b'{"seq": 1, "peripherals": {"camera": "paper_out"}}',
    b'{"seq": 1, "peripherals": {"printer": ["ok"]}}', b'{"seq": 1, "session_active": "perhaps"}',
    b'{"seq": 1, "shell": "rm -rf /"}', b'{"seq": 1, "app_version": "a\\u0000b"}', b'{"seq": 1, "profile": "a\\nb"}',
    # accepted by the schema, but not plainly: left to it
    b'{"seq": "5"}', b'{"seq": 5.0}', b'{"seq": true}', b'{"seq": 1, "session_active": "true"}',
    b'{"seq": 1, "session_active": 1}',
])
def test_anything_else_is_left_to_the_schema(raw):
    assert heartbeats.common_beat(raw) is None


def test_the_quick_beat_engine_gives_up_connecting_quickly_and_keeps_the_statement_timeout(app, db, kiosk_client):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("connect and statement timeouts are PostgreSQL settings")
    earlier = heartbeats._liveness_engines.pop(db.engine, None)   # made afresh by the next beat, as in a new worker
    if earlier is not None:
        earlier.dispose()
    assert kiosk_client.post(URL, json={"seq": 1}).status_code == 200
    assert kiosk_client.post(URL, json={"seq": 2}).status_code == 200
    quick = heartbeats._liveness_engines[db.engine]
    with quick.connect() as connection:
        timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar()
    expected = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"].rsplit("=", 1)[1]
    assert timeout == f"{int(expected) // 1000}s" or timeout == f"{expected}ms"
