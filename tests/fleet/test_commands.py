"""Commands to kiosks (fleet/commands.py): the fixed list and its payloads, delivery at the
next beat, waiting for a resident's session, expiry, acknowledgement. Times come from a
settable clock (tests/conftest.py Clock)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit
from kiosk_backend.core.errors import Conflict, Invalid, NotFound
from kiosk_backend.fleet import commands, services
from kiosk_backend.fleet.models import Kiosk, KioskCommand

from .conftest import beat, run_in_threads


def test_only_commands_from_the_fixed_list_are_accepted(db, make_kiosk):
    kiosk, _ = make_kiosk()
    with pytest.raises(Invalid):
        commands.issue_command(db.session, kiosk, kind="shell", actor="wang", payload={"cmd": "rm -rf /"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)) == 0


def test_a_command_is_delivered_at_the_next_beat_and_audited(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = commands.issue_command(db.session, kiosk, kind="show_message", actor="wang",
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
    command = commands.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
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
    command = commands.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", ttl_minutes=1, now=clock)
    db.session.commit()
    clock.advance(minutes=1, seconds=1)
    assert beat(db, kiosk, clock, seq=1)["commands"] == []
    assert command.state == "expired" and command.delivered_at is None


def test_interrupting_commands_wait_while_a_resident_is_using_the_kiosk(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, session_active=True)
    reload_ = commands.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    maintenance = commands.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", now=clock)
    message = commands.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload={"text": "稍后维护"},
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
    forced = commands.issue_command(db.session, kiosk, kind="reload", actor="wang", force=True, now=clock)
    db.session.commit()
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2, session_active=True)["commands"]] == [forced.id]


def test_acknowledging_twice_is_harmless(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = commands.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    beat(db, kiosk, clock, seq=1)
    first = commands.ack_command(db.session, kiosk, command.id, now=clock)
    acked_at = first.acked_at
    clock.advance(seconds=5)
    again = commands.ack_command(db.session, kiosk, command.id, now=clock)
    assert (again.state, again.acked_at) == ("acked", acked_at)
    assert beat(db, kiosk, clock, seq=2)["commands"] == []


def test_an_acknowledged_command_stays_acknowledged_after_its_expiry(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = commands.issue_command(db.session, kiosk, kind="reload", actor="wang", now=clock)
    commands.ack_command(db.session, kiosk, command.id, now=clock)
    clock.advance(hours=1)
    assert commands.ack_command(db.session, kiosk, command.id, now=clock).state == "acked"


def test_acknowledging_an_expired_command_is_refused(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    command = commands.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", now=clock)
    db.session.commit()
    clock.advance(hours=2)
    with pytest.raises(Conflict):
        commands.ack_command(db.session, kiosk, command.id, now=clock)
    assert kiosk.maintenance is False


def test_acknowledging_another_kiosks_command_is_not_found(db, make_kiosk):
    kiosk, _ = make_kiosk()
    other, _ = make_kiosk()
    command = commands.issue_command(db.session, other, kind="maintenance_on", actor="wang")
    with pytest.raises(NotFound):
        commands.ack_command(db.session, kiosk, command.id)
    with pytest.raises(NotFound):
        commands.ack_command(db.session, kiosk, command.id + 1000)
    assert command.state == "pending" and other.maintenance is False


def test_acknowledging_maintenance_on_and_off_sets_the_kiosks_flag(db, make_kiosk):
    kiosk, _ = make_kiosk()
    on = commands.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang", payload={"reason": "换纸"})
    assert on.payload == {"reason": "换纸"}
    assert beat(db, kiosk, seq=1)["maintenance"] is False
    commands.ack_command(db.session, kiosk, on.id)
    db.session.commit()
    assert db.session.get(Kiosk, kiosk.id).maintenance is True
    assert beat(db, kiosk, seq=2)["maintenance"] is True
    off = commands.issue_command(db.session, kiosk, kind="maintenance_off", actor="wang")
    commands.ack_command(db.session, kiosk, off.id)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Kiosk, kiosk.id).maintenance is False


def test_a_repeated_ack_does_not_apply_the_command_again(db, make_kiosk):
    kiosk, _ = make_kiosk()
    on = commands.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang")
    off = commands.issue_command(db.session, kiosk, kind="maintenance_off", actor="wang")
    commands.ack_command(db.session, kiosk, on.id)
    commands.ack_command(db.session, kiosk, off.id)
    commands.ack_command(db.session, kiosk, on.id)  # a late duplicate of the first ack
    assert kiosk.maintenance is False


def test_concurrent_acks_of_one_command_all_succeed_and_apply_it_once(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    command = commands.issue_command(db.session, kiosk, kind="apply_settings", actor="wang",
                                     payload={"font_scale": 1.5})
    db.session.commit()
    command_id = command.id  # threads must not touch the main thread's objects

    def work(_i):
        me = services.authenticate(db.session, credential)
        acked = commands.ack_command(db.session, me, command_id)
        db.session.commit()
        return acked.state

    assert run_in_threads(app, 4, work) == ["acked"] * 4
    db.session.expire_all()
    assert db.session.get(Kiosk, kiosk.id).settings == {"font_scale": 1.5}


def test_concurrent_acks_of_different_settings_commands_keep_every_key(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    payloads = [{"idle_timeout_seconds": 90}, {"idle_warning_seconds": 45}, {"elder_mode_default": True},
                {"font_scale": 1.5}]
    command_ids = [commands.issue_command(db.session, kiosk, kind="apply_settings", actor="wang", payload=p).id
                   for p in payloads]
    db.session.commit()

    def work(i):
        me = services.authenticate(db.session, credential)
        acked = commands.ack_command(db.session, me, command_ids[i])
        db.session.commit()
        return acked.state

    assert run_in_threads(app, 4, work) == ["acked"] * 4
    db.session.expire_all()
    assert db.session.get(Kiosk, kiosk.id).settings == {
        "idle_timeout_seconds": 90, "idle_warning_seconds": 45, "elder_mode_default": True, "font_scale": 1.5}


def test_acknowledging_apply_settings_merges_them_into_the_kiosks_settings(db, make_kiosk):
    kiosk, _ = make_kiosk()
    first = commands.issue_command(db.session, kiosk, kind="apply_settings", actor="wang",
                                   payload={"idle_timeout_seconds": "90", "elder_mode_default": "true"})
    assert first.payload == {"idle_timeout_seconds": 90, "elder_mode_default": True}
    second = commands.issue_command(db.session, kiosk, kind="apply_settings", actor="wang", payload={"font_scale": "1.25"})
    commands.ack_command(db.session, kiosk, first.id)
    commands.ack_command(db.session, kiosk, second.id)
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
        commands.issue_command(db.session, kiosk, kind="apply_settings", actor="wang", payload=payload)
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
        commands.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload=payload)
    assert field in caught.value.errors


def test_a_command_for_a_pending_kiosk_waits_until_it_is_authorized(db, make_kiosk, clock):
    kiosk, _ = make_kiosk(authorized=False)
    command = commands.issue_command(db.session, kiosk, kind="show_message", actor="wang", payload={"text": "你好"},
                                     now=clock)
    db.session.commit()
    assert beat(db, kiosk, clock, seq=1)["commands"] == []
    db.session.expire_all()
    assert db.session.get(KioskCommand, command.id).state == "pending"
    services.authorize(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    kiosk = db.session.get(Kiosk, kiosk.id)
    assert [c["id"] for c in beat(db, kiosk, clock, seq=2)["commands"]] == [command.id]
