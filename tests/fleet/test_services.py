"""Fleet services: enrolment and credentials, status, commands, alerts, usage. Times come from a settable clock (see conftest.Clock)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import actors
from kiosk_backend.core import audit
from kiosk_backend.core.clock import LOCAL_TZ
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Conflict, Forbidden, Invalid, NotFound
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import heartbeats, services, states
from kiosk_backend.fleet.models import EnrolmentCode, Kiosk, KioskCommand, Site
from kiosk_backend.fleet.services import EnrolmentRefused

from .conftest import MONDAY_10, SITE2, UTC, WEEKDAY_HOURS, run_in_threads

PROFILE = "post-office-portrait"
KNOWN = ("post-office-portrait", "bank-lobby-landscape", "community-tablet")


@pytest.fixture
def site(make_site):
    return make_site()


def new_code(db, site, **kw):
    code, record = services.create_enrolment_code(db.session, site=site, actor="test", **kw)
    db.session.commit()
    return code, record


def beat(db, kiosk, clock=None, *, seq, peripherals=None, session_active=False, app_version="1.0.0", profile=None):
    kw = {"now": clock} if clock else {}
    result = heartbeats.record_heartbeat(db.session, kiosk, seq=seq, app_version=app_version, profile=profile,
                                         peripherals=peripherals or {}, session_active=session_active, **kw)
    db.session.commit()
    return result


def actions(db):
    return [e.action for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]


# ===================================================================== enrolment codes

def test_an_enrolment_code_is_stored_only_as_a_hash_with_a_short_hint(db, site):
    code, record = new_code(db, site)
    plain = services.normalize_code(code)
    assert len(plain) == services.CODE_LENGTH and set(plain) <= set(services.CODE_ALPHABET)
    assert record.code_hash == token_hash(plain) and plain not in record.code_hash
    assert record.hint == plain[-3:]
    assert "enrolment_code.create" in actions(db)


def test_an_enrolment_code_expires_after_the_hours_it_was_made_for(db, site, clock):
    code, record = new_code(db, site, valid_hours=2, now=clock)
    assert record.expires_at == clock() + timedelta(hours=2)
    clock.advance(hours=2)
    with pytest.raises(EnrolmentRefused, match="expired"):
        services.activate(db.session, code=code, profile=PROFILE, now=clock)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 0


def test_a_code_just_before_expiry_still_works(db, site, clock):
    code, _ = new_code(db, site, valid_hours=2, now=clock)
    clock.advance(hours=2, seconds=-1)
    kiosk, _ = services.activate(db.session, code=code, profile=PROFILE, now=clock)
    assert kiosk.id


@pytest.mark.parametrize("hours", [0, -1, 24 * 14 + 1])
def test_validity_outside_one_hour_to_fourteen_days_is_refused(db, site, hours):
    with pytest.raises(Invalid):
        services.create_enrolment_code(db.session, site=site, actor="test", valid_hours=hours)


def test_a_code_is_single_use(db, site):
    code, _ = new_code(db, site)
    services.activate(db.session, code=code, profile=PROFILE)
    db.session.commit()
    with pytest.raises(EnrolmentRefused, match="already been used"):
        services.activate(db.session, code=code, profile=PROFILE)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1


def test_an_unknown_code_is_refused_and_names_the_code_field(db, site):
    new_code(db, site)
    with pytest.raises(EnrolmentRefused) as caught:
        services.activate(db.session, code="ACDEF-GHJKM", profile=PROFILE)
    assert "code" in caught.value.errors


def test_codes_are_read_without_case_spaces_or_dashes(db, site):
    code, _ = new_code(db, site)
    typed = " " + code.lower().replace("-", " ") + " "
    kiosk, _ = services.activate(db.session, code=typed, profile=PROFILE)
    assert kiosk.site_id == site.id


def test_a_code_made_for_one_model_refuses_another(db, site):
    code, _ = new_code(db, site, profile="community-tablet")
    with pytest.raises(EnrolmentRefused, match="community-tablet") as caught:
        services.activate(db.session, code=code, profile=PROFILE)
    assert "profile" in caught.value.errors
    db.session.rollback()
    kiosk, _ = services.activate(db.session, code=code, profile="community-tablet")
    assert kiosk.profile == "community-tablet"


def test_a_profile_not_in_the_shipped_list_is_refused_without_using_the_code(db, site):
    code, record = new_code(db, site)
    with pytest.raises(EnrolmentRefused) as caught:
        services.activate(db.session, code=code, profile="toaster-9000", known_profiles=KNOWN)
    assert "profile" in caught.value.errors
    db.session.rollback()
    assert db.session.get(EnrolmentCode, record.id).used_at is None


def test_a_pre_authorized_code_gives_an_authorized_kiosk(db, site):
    code, _ = new_code(db, site, pre_authorized=True)
    kiosk, _ = services.activate(db.session, code=code, profile=PROFILE)
    assert kiosk.state == "authorized" and kiosk.authorized_at is not None


def test_a_plain_code_gives_a_kiosk_waiting_for_authorization(db, site):
    code, _ = new_code(db, site)
    kiosk, _ = services.activate(db.session, code=code, profile=PROFILE)
    assert kiosk.state == "pending" and kiosk.authorized_at is None


def test_activation_marks_the_code_used_by_the_new_kiosk_and_is_audited(db, site):
    code, record = new_code(db, site)
    kiosk, _ = services.activate(db.session, code=code, profile=PROFILE)
    db.session.commit()
    db.session.expire_all()
    record = db.session.get(EnrolmentCode, record.id)
    assert record.used_at is not None and record.kiosk_id == kiosk.id
    entry = audit.search(db.session, action="kiosk.activate")[0]
    assert entry.actor == f"kiosk:{kiosk.number}" and entry.target == f"site:{site.code}"


def test_the_credential_is_stored_only_as_a_hash(db, site):
    code, _ = new_code(db, site)
    kiosk, credential = services.activate(db.session, code=code, profile=PROFILE)
    assert len(credential) >= 22  # ≥ 128 bits, URL-safe base64
    assert kiosk.credential_hash == token_hash(credential) and credential not in kiosk.credential_hash
    assert services.authenticate(db.session, credential).id == kiosk.id


@pytest.mark.parametrize("credential", [None, "", "not-a-credential"])
def test_unknown_or_missing_credentials_authenticate_nobody(db, make_kiosk, credential):
    make_kiosk()
    assert services.authenticate(db.session, credential) is None


def test_kiosks_are_numbered_per_site_in_order(db, site, site2):
    numbers = []
    for where in (site, site, site2, site):
        code, _ = new_code(db, where)
        kiosk, _ = services.activate(db.session, code=code, profile=PROFILE)
        db.session.commit()
        numbers.append(kiosk.number)
    assert numbers == ["JZ01-01", "JZ01-02", "JZ02-01", "JZ01-03"]


def test_a_revoked_kiosk_keeps_its_number_and_the_next_one_gets_a_new_number(db, site):
    first, _ = services.activate(db.session, code=new_code(db, site)[0], profile=PROFILE)
    services.revoke(db.session, first, actor="test")
    db.session.commit()
    second, _ = services.activate(db.session, code=new_code(db, site)[0], profile=PROFILE)
    assert (first.number, second.number) == ("JZ01-01", "JZ01-02")


# ------------------------------------------------------------------ races

def test_two_kiosks_racing_with_one_code_give_exactly_one_kiosk(app, db, site):
    code, record = new_code(db, site, pre_authorized=True)

    def work(_i):
        kiosk, credential = services.activate(db.session, code=code, profile=PROFILE)
        db.session.commit()
        return kiosk.number

    results = run_in_threads(app, 6, work)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, EnrolmentRefused) for r in losers), losers
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1
    assert db.session.get(EnrolmentCode, record.id).kiosk_id is not None
    assert actions(db).count("kiosk.activate") == 1


def test_kiosks_activating_at_the_same_site_at_once_get_distinct_numbers(app, db, site):
    codes = [new_code(db, site, pre_authorized=True)[0] for _ in range(5)]

    def work(i):
        kiosk, _ = services.activate(db.session, code=codes[i], profile=PROFILE)
        db.session.commit()
        return kiosk.number

    results = run_in_threads(app, 5, work)
    assert sorted(results) == [f"JZ01-0{i}" for i in range(1, 6)], results


# ------------------------------------------------------------------ re-enrolment

def test_a_re_enrolment_code_moves_the_kiosk_to_new_hardware(db, make_kiosk):
    kiosk, old = make_kiosk()
    code, record = services.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    db.session.commit()
    assert record.kiosk_id == kiosk.id and record.profile == kiosk.profile
    moved, new = services.activate(db.session, code=code, profile=kiosk.profile, app_version="2.0")
    db.session.commit()
    assert (moved.id, moved.number, moved.state) == (kiosk.id, "JZ01-01", "authorized")
    assert services.authenticate(db.session, old) is None
    assert services.authenticate(db.session, new).id == kiosk.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1
    assert "kiosk.reenrol" in actions(db)


def test_a_re_enrolment_code_is_single_use_too(db, make_kiosk):
    kiosk, _ = make_kiosk()
    code, _ = services.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    services.activate(db.session, code=code, profile=kiosk.profile)
    db.session.commit()
    with pytest.raises(EnrolmentRefused):
        services.activate(db.session, code=code, profile=kiosk.profile)


def test_a_pending_kiosk_stays_pending_after_re_enrolment(db, make_kiosk):
    kiosk, _ = make_kiosk(authorized=False)
    code, _ = services.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    moved, _ = services.activate(db.session, code=code, profile=kiosk.profile)
    assert moved.state == "pending"


def test_a_revoked_kiosk_gets_no_re_enrolment_code(db, make_kiosk):
    kiosk, _ = make_kiosk()
    services.revoke(db.session, kiosk, actor="test")
    with pytest.raises(Conflict):
        services.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")


def test_a_re_enrolment_code_stops_working_when_its_kiosk_is_revoked(db, make_kiosk):
    kiosk, _ = make_kiosk()
    code, _ = services.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    services.revoke(db.session, kiosk, actor="test")
    db.session.commit()
    with pytest.raises(EnrolmentRefused, match="revoked"):
        services.activate(db.session, code=code, profile=kiosk.profile)
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).state == "revoked"
    assert db.session.get(Kiosk, kiosk.id).credential_hash is None


# ===================================================================== authorize, revoke, rotate

def test_authorizing_a_pending_kiosk_is_recorded_once(db, make_kiosk):
    kiosk, _ = make_kiosk(authorized=False)
    services.authorize(db.session, kiosk, actor=actors.staff("wang", ip="10.0.0.1"))
    services.authorize(db.session, kiosk, actor="wang")
    assert kiosk.state == "authorized" and kiosk.authorized_at is not None
    entries = audit.search(db.session, action="kiosk.authorize")
    assert [(e.actor, e.target, e.ip) for e in entries] == [("wang", "kiosk:JZ01-01", "10.0.0.1")]


def test_a_revoked_credential_stops_working_at_once(db, make_kiosk):
    kiosk, credential = make_kiosk()
    services.revoke(db.session, kiosk, actor="wang")
    db.session.commit()
    assert services.authenticate(db.session, credential) is None
    assert kiosk.state == "revoked" and kiosk.revoked_at is not None and kiosk.credential_hash is None
    services.revoke(db.session, kiosk, actor="wang")
    assert actions(db).count("kiosk.revoke") == 1


def test_a_revoked_kiosk_cannot_be_authorized_rotated_or_commanded(db, make_kiosk):
    kiosk, _ = make_kiosk()
    services.revoke(db.session, kiosk, actor="wang")
    with pytest.raises(Conflict):
        services.authorize(db.session, kiosk, actor="wang")
    with pytest.raises(Conflict):
        services.request_rotation(db.session, kiosk, actor="wang")
    with pytest.raises(Forbidden):
        services.rotate_credential(db.session, kiosk)
    with pytest.raises(Conflict):
        services.issue_command(db.session, kiosk, kind="reload", actor="wang")


def test_rotation_is_asked_for_at_the_next_heartbeat_and_then_cleared(db, make_kiosk):
    kiosk, _ = make_kiosk()
    assert beat(db, kiosk, seq=1)["rotate_credential"] is False
    services.request_rotation(db.session, kiosk, actor="wang")
    db.session.commit()
    assert beat(db, kiosk, seq=2)["rotate_credential"] is True
    services.rotate_credential(db.session, kiosk)
    db.session.commit()
    assert beat(db, kiosk, seq=3)["rotate_credential"] is False
    assert {"kiosk.rotate_request", "kiosk.rotate"} <= set(actions(db))


def test_rotating_replaces_the_credential_old_stops_new_works(db, make_kiosk):
    kiosk, old = make_kiosk()
    new = services.rotate_credential(db.session, kiosk)
    db.session.commit()
    assert new != old
    assert services.authenticate(db.session, old) is None
    assert services.authenticate(db.session, new).id == kiosk.id


# ===================================================================== status rules (pure)

T = MONDAY_10


@pytest.mark.parametrize("seconds,expected", [(0, "online"), (89, "online"), (90, "online"), (91, "offline"),
                                              (3600, "offline")])
def test_connectivity_goes_offline_after_about_three_missed_beats(seconds, expected):
    assert states.connectivity(T, T + timedelta(seconds=seconds)) == expected


def test_a_kiosk_never_heard_from_is_never_not_offline():
    assert states.connectivity(None, T) == "never"
    assert states.kiosk_status(None, {}, T) == "never"


def test_the_offline_threshold_follows_the_heartbeat_interval():
    assert states.connectivity(T, T + timedelta(seconds=100), interval=60) == "online"
    assert states.connectivity(T, T + timedelta(seconds=181), interval=60) == "offline"


@pytest.mark.parametrize("seconds,expected", [(10, "online"), (45, "online"), (46, "degraded"), (90, "degraded"),
                                              (91, "offline")])
def test_a_late_beat_makes_a_kiosk_degraded_before_offline(seconds, expected):
    assert states.kiosk_status(T, {"printer": "ok"}, T + timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize("peripherals,expected", [
    ({"printer": "ok", "card_reader": "ok"}, "online"),
    ({"printer": "paper_low"}, "online"),
    ({"printer": "absent"}, "online"),
    ({"printer": "paper_out"}, "degraded"),
    ({"printer": "error"}, "degraded"),
    ({"printer": "ok", "scanner": "error"}, "degraded"),
])
def test_peripheral_faults_make_a_kiosk_degraded_but_paper_low_does_not(peripherals, expected):
    assert states.kiosk_status(T, peripherals, T) == expected


def test_an_offline_kiosk_is_offline_whatever_its_peripherals_say():
    assert states.kiosk_status(T, {"printer": "paper_out"}, T + timedelta(minutes=5)) == "offline"


def test_peripheral_problems_names_the_faulty_devices_in_order():
    assert states.peripheral_problems({"scanner": "error", "printer": "paper_out", "camera": "ok",
                                       "card_reader": "absent"}) == ["printer", "scanner"]


# ===================================================================== fleet view and alerts

def test_the_fleet_view_computes_online_degraded_and_offline_from_the_last_beat(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    never, _ = make_kiosk()
    pending, _ = make_kiosk(authorized=False)
    beat(db, kiosk, clock, seq=1)

    def status_at(seconds):
        rows = services.fleet(db.session, now=lambda: clock() + timedelta(seconds=seconds))
        return {row["kiosk"].number: row["status"] for row in rows}

    assert status_at(5) == {kiosk.number: "online", never.number: "never", pending.number: "pending"}
    assert status_at(60)[kiosk.number] == "degraded"
    assert status_at(3 * states.HEARTBEAT_SECONDS + 1)[kiosk.number] == "offline"
    rows = services.fleet(db.session, status="offline", now=lambda: clock() + timedelta(minutes=5))
    assert [r["kiosk"].number for r in rows] == [kiosk.number]


def test_the_fleet_view_searches_numbers_as_typed_text(db, make_kiosk):
    kiosk, _ = make_kiosk()
    assert [r["kiosk"].number for r in services.fleet(db.session, q="jz01-0")] == [kiosk.number]
    assert services.fleet(db.session, q="%") == services.fleet(db.session, q="JZ01_01") == []


def test_the_fleet_view_is_scoped_to_a_managers_sites(db, make_kiosk, site, site2):
    make_kiosk(site=site)
    other, _ = make_kiosk(site=site2)
    assert [r["kiosk"].number for r in services.fleet(db.session, site_ids={site2.id})] == [other.number]
    assert services.fleet(db.session, site_ids=set()) == []


def test_a_revoked_kiosk_raises_no_offline_alert(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1)
    services.revoke(db.session, kiosk, actor="wang")
    clock.advance(hours=1)
    assert services.evaluate_offline_alerts(db.session, minutes=10, now=clock) == 0


def test_acknowledging_an_alert_records_who_and_is_audited_once(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, peripherals={"printer": "paper_out"})
    [alert] = services.list_alerts(db.session)
    services.acknowledge_alert(db.session, alert.id, actor="wang", now=clock)
    services.acknowledge_alert(db.session, alert.id, actor="li", now=clock)
    assert (alert.acknowledged_by, alert.acknowledged_at) == ("wang", clock())
    assert actions(db).count("alert.acknowledge") == 1


def test_a_manager_cannot_acknowledge_another_sites_alert(db, make_kiosk, site, site2):
    kiosk, _ = make_kiosk(site=site2)
    beat(db, kiosk, seq=1, peripherals={"printer": "paper_out"})
    [alert] = services.list_alerts(db.session)
    with pytest.raises(NotFound):
        services.acknowledge_alert(db.session, alert.id, actor="li", site_ids={site.id})
    assert services.list_alerts(db.session, site_ids={site.id}) == []


# ===================================================================== commands

def test_only_commands_from_the_fixed_list_are_accepted(db, make_kiosk):
    kiosk, _ = make_kiosk()
    with pytest.raises(Invalid):
        services.issue_command(db.session, kiosk, kind="shell", actor="wang", payload={"cmd": "rm -rf /"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)) == 0


def test_a_command_is_delivered_at_the_next_beat_and_audited(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="show_message", actor="wang",
                                     payload={"text": " 今日打印机维修 ", "seconds": "60"}, now=clock)
    db.session.commit()
    result = beat(db, kiosk, clock, seq=1)
    assert result["commands"] == [{"id": command.id, "kind": "show_message",
                                   "payload": {"text": "今日打印机维修", "seconds": 60},
                                   "expires_at": clock() + timedelta(minutes=30)}]
    assert (command.state, command.delivered_at) == ("delivered", clock())
    entry = audit.search(db.session, action="command.")[0]
    assert (entry.action, entry.actor, entry.target, entry.details["command"]) == (
        "command.show_message", "wang", f"kiosk:{kiosk.number}", command.id)


def test_an_unacknowledged_command_is_sent_again_until_it_expires(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    db.session.commit()
    assert [c["id"] for c in beat(db, kiosk, clock, seq=1)["commands"]] == [command.id]
    clock.advance(minutes=5)
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2)["commands"]] == [command.id]
    clock.advance(minutes=5)  # reload lives 10 minutes
    assert beat(db, kiosk, clock, seq=3)["commands"] == []
    db.session.expire_all()
    assert db.session.get(KioskCommand, command.id).state == "expired"


def test_a_command_past_its_time_is_never_delivered(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", ttl_minutes=1, now=clock)
    db.session.commit()
    clock.advance(minutes=1, seconds=1)
    assert beat(db, kiosk, clock, seq=1)["commands"] == []
    assert command.state == "expired" and command.delivered_at is None


def test_interrupting_commands_wait_while_a_resident_is_using_the_kiosk(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, session_active=True)
    reload_ = services.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    maintenance = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", now=clock)
    message = services.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload={"text": "稍后维护"},
                                     now=clock)
    db.session.commit()
    clock.advance(seconds=30)
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2, session_active=True)["commands"]] == [message.id]
    assert (reload_.state, maintenance.state) == ("pending", "pending")
    clock.advance(seconds=30)
    delivered = beat(db, kiosk, clock, seq=3, session_active=False)["commands"]
    assert [c["id"] for c in delivered] == [reload_.id, maintenance.id, message.id]


def test_a_forced_command_interrupts_an_active_session(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, session_active=True)
    forced = services.issue_command(db.session, kiosk, kind="reload", actor="wang", force=True, now=clock)
    db.session.commit()
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2, session_active=True)["commands"]] == [forced.id]


def test_acknowledging_twice_is_harmless(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    beat(db, kiosk, clock, seq=1)
    first = services.ack_command(db.session, kiosk, command.id, now=clock)
    acked_at = first.acked_at
    clock.advance(seconds=5)
    again = services.ack_command(db.session, kiosk, command.id, now=clock)
    assert (again.state, again.acked_at) == ("acked", acked_at)
    assert beat(db, kiosk, clock, seq=2)["commands"] == []


def test_an_acknowledged_command_stays_acknowledged_after_its_expiry(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    services.ack_command(db.session, kiosk, command.id, now=clock)
    clock.advance(hours=1)
    assert services.ack_command(db.session, kiosk, command.id, now=clock).state == "acked"


def test_acknowledging_an_expired_command_is_refused(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", now=clock)
    db.session.commit()
    clock.advance(hours=2)
    with pytest.raises(Conflict):
        services.ack_command(db.session, kiosk, command.id, now=clock)
    assert kiosk.maintenance is False


def test_acknowledging_another_kiosks_command_is_not_found(db, make_kiosk):
    kiosk, _ = make_kiosk()
    other, _ = make_kiosk()
    command = services.issue_command(db.session, other, kind="maintenance_on", actor="wang")
    with pytest.raises(NotFound):
        services.ack_command(db.session, kiosk, command.id)
    with pytest.raises(NotFound):
        services.ack_command(db.session, kiosk, command.id + 1000)
    assert command.state == "pending" and other.maintenance is False


def test_acknowledging_maintenance_on_and_off_sets_the_kiosks_flag(db, make_kiosk):
    kiosk, _ = make_kiosk()
    on = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", payload={"reason": "换纸"})
    assert on.payload == {"reason": "换纸"}
    assert beat(db, kiosk, seq=1)["maintenance"] is False
    services.ack_command(db.session, kiosk, on.id)
    db.session.commit()
    assert db.session.get(Kiosk, kiosk.id).maintenance is True
    assert beat(db, kiosk, seq=2)["maintenance"] is True
    off = services.issue_command(db.session, kiosk, kind="maintenance_off", actor="wang")
    services.ack_command(db.session, kiosk, off.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Kiosk, kiosk.id).maintenance is False


def test_a_repeated_ack_does_not_apply_the_command_again(db, make_kiosk):
    kiosk, _ = make_kiosk()
    on = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang")
    off = services.issue_command(db.session, kiosk, kind="maintenance_off", actor="wang")
    services.ack_command(db.session, kiosk, on.id)
    services.ack_command(db.session, kiosk, off.id)
    services.ack_command(db.session, kiosk, on.id)  # a late duplicate of the first ack
    assert kiosk.maintenance is False


def test_concurrent_acks_of_one_command_all_succeed_and_apply_it_once(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="apply_settings", actor="wang",
                                     payload={"font_scale": 1.5})
    db.session.commit()
    command_id = command.id  # threads must not touch the main thread's objects

    def work(_i):
        me = services.authenticate(db.session, credential)
        acked = services.ack_command(db.session, me, command_id)
        db.session.commit()
        return acked.state

    assert run_in_threads(app, 4, work) == ["acked"] * 4
    db.session.expire_all()
    assert db.session.get(Kiosk, kiosk.id).settings == {"font_scale": 1.5}


def test_acknowledging_apply_settings_merges_them_into_the_kiosks_settings(db, make_kiosk):
    kiosk, _ = make_kiosk()
    first = services.issue_command(db.session, kiosk, kind="apply_settings", actor="wang",
                                   payload={"idle_timeout_seconds": "90", "elder_mode_default": "true"})
    assert first.payload == {"idle_timeout_seconds": 90, "elder_mode_default": True}
    second = services.issue_command(db.session, kiosk, kind="apply_settings", actor="wang", payload={"font_scale": "1.25"})
    services.ack_command(db.session, kiosk, first.id)
    services.ack_command(db.session, kiosk, second.id)
    assert kiosk.settings == {"idle_timeout_seconds": 90, "elder_mode_default": True, "font_scale": 1.25}


@pytest.mark.parametrize("payload,field", [
    ({"volume": 11}, "volume"),
    ({"idle_timeout_seconds": 10}, "idle_timeout_seconds"),
    ({"idle_timeout_seconds": 601}, "idle_timeout_seconds"),
    ({"idle_timeout_seconds": "soon"}, "idle_timeout_seconds"),
    ({"idle_warning_seconds": 5}, "idle_warning_seconds"),
    ({"font_scale": "huge"}, "font_scale"),
    ({"font_scale": 3}, "font_scale"),
    ({"font_scale": "nan"}, "font_scale"),
    ({"font_scale": None}, "font_scale"),
    ({}, None),
])
def test_apply_settings_refuses_unknown_settings_and_bad_values_naming_them(db, make_kiosk, payload, field):
    kiosk, _ = make_kiosk()
    with pytest.raises(Invalid) as caught:
        services.issue_command(db.session, kiosk, kind="apply_settings", actor="wang", payload=payload)
    if field:
        assert field in caught.value.errors
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)) == 0


@pytest.mark.parametrize("payload,field", [
    ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": "长" * 201}, "text"),
    ({"text": "好", "seconds": 4}, "seconds"), ({"text": "好", "seconds": 3601}, "seconds"),
    ({"text": "好", "seconds": "abc"}, "seconds"), ({"text": "好", "seconds": None}, "seconds"),
])
def test_show_message_refuses_empty_long_or_badly_timed_messages_naming_the_field(db, make_kiosk, payload, field):
    kiosk, _ = make_kiosk()
    with pytest.raises(Invalid) as caught:
        services.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload=payload)
    assert field in caught.value.errors


def test_a_command_for_a_pending_kiosk_waits_until_it_is_authorized(db, make_kiosk, clock):
    kiosk, _ = make_kiosk(authorized=False)
    command = services.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload={"text": "你好"},
                                     now=clock)
    db.session.commit()
    assert beat(db, kiosk, clock, seq=1)["commands"] == []
    db.session.expire_all()
    assert db.session.get(KioskCommand, command.id).state == "pending"
    services.authorize(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    kiosk = db.session.get(Kiosk, kiosk.id)
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2)["commands"]] == [command.id]


# ===================================================================== usage

def local(*args) -> datetime:
    """A wall-clock time in China Standard Time, as UTC."""
    return datetime(*args, tzinfo=LOCAL_TZ).astimezone(UTC)


def test_usage_is_counted_per_local_day_oldest_first(db, make_kiosk, site, site2):
    kiosk, _ = make_kiosk(site=site)
    other, _ = make_kiosk(site=site2)
    today = local(2026, 3, 4, 12, 0)
    for moment, kind, who in [
        (local(2026, 3, 4, 0, 30), "session", kiosk),   # 16:30 UTC on the 3rd: counts on the 4th
        (local(2026, 3, 3, 23, 59), "session", kiosk),
        (local(2026, 3, 3, 9, 0), "search", kiosk),
        (local(2026, 3, 3, 9, 5), "search", kiosk),
        (local(2026, 3, 2, 9, 0), "print", other),
        (local(2026, 2, 1, 9, 0), "session", kiosk),    # outside the window
    ]:
        services.record_usage(db.session, who, kind, now=lambda m=moment: m)
    db.session.commit()
    series = services.usage_series(db.session, days=3, now=lambda: today)
    assert series == {"dates": ["2026-03-02", "2026-03-03", "2026-03-04"],
                      "session": [0, 1, 1], "search": [0, 2, 0], "print": [1, 0, 0]}
    assert services.usage_series(db.session, days=3, site_id=site2.id, now=lambda: today)["print"] == [1, 0, 0]
    assert services.usage_series(db.session, days=3, kiosk_id=kiosk.id, now=lambda: today)["print"] == [0, 0, 0]
    scoped = services.usage_series(db.session, days=3, site_ids={site.id}, now=lambda: today)
    assert scoped["print"] == [0, 0, 0] and scoped["search"] == [0, 2, 0]


def test_usage_series_has_one_entry_per_day_even_without_events(db):
    series = services.usage_series(db.session, days=14, now=lambda: MONDAY_10)
    assert len(series["dates"]) == 14 and series["dates"][-1] == "2026-03-02"
    assert series["session"] == series["search"] == series["print"] == [0] * 14
