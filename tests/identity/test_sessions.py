"""Sessions of residents and of staff at a kiosk (identity/sessions.py): server-side idle and
absolute limits, one live session per kiosk, one audited end. Times come from a settable clock."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.identity import sessions
from kiosk_backend.identity.models import ResidentSession


def start(db, clock, resident=None, *, kiosk=None, channel="kiosk", idle=120, absolute=900, staff=None):
    return sessions.start(db.session, channel=channel, idle_seconds=idle, absolute_seconds=absolute,
                          actor=SYSTEM, resident=resident, staff=staff,
                          kiosk_id=kiosk.id if kiosk else None, now=clock)


def ends(db) -> list[tuple[str, str]]:
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "identity.session.end")
                                 .order_by(AuditEntry.id))
    return [(e.target, e.details["reason"]) for e in entries]


def test_a_session_is_found_by_its_token_on_its_kiosk_only(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _), (other, _) = make_resident(), make_kiosk(), make_kiosk()
    record, token = start(db, clock, resident, kiosk=kiosk)
    assert len(token) >= 43 and record.token_hash != token  # 256 bits, only the hash stored
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is record
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=other.id, now=clock) is None
    assert sessions.lookup(db.session, token, channel="mobile", now=clock) is None
    assert sessions.lookup(db.session, token + "x", channel="kiosk", kiosk_id=kiosk.id, now=clock) is None
    assert sessions.lookup(db.session, None, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None


def test_the_server_ends_an_idle_session_and_activity_keeps_it(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _) = make_resident(), make_kiosk()
    record, token = start(db, clock, resident, kiosk=kiosk, idle=120)
    for _ in range(5):  # touched every 100 s: alive well past 120 s
        clock.advance(seconds=100)
        assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is record
    clock.advance(seconds=121)
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None
    assert (record.end_reason, ends(db)) == ("idle", [(f"session:{record.id}", "idle")])


def test_a_look_without_touch_does_not_extend_it(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _) = make_resident(), make_kiosk()
    _, token = start(db, clock, resident, kiosk=kiosk, idle=120)
    clock.advance(seconds=100)
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, touch=False, now=clock)
    clock.advance(seconds=30)
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None


def test_the_absolute_limit_holds_however_busy_the_session(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _) = make_resident(), make_kiosk()
    record, token = start(db, clock, resident, kiosk=kiosk, idle=120, absolute=600)
    for _ in range(9):
        clock.advance(seconds=60)
        assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock)
    clock.advance(seconds=60)
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None
    assert record.end_reason == "expired"


def test_a_new_login_on_a_kiosk_replaces_the_last_one(db, clock, make_resident, make_kiosk):
    first, second, (kiosk, _) = make_resident("张三"), make_resident("李四"), make_kiosk()
    old, old_token = start(db, clock, first, kiosk=kiosk)
    new, new_token = start(db, clock, second, kiosk=kiosk)
    assert sessions.lookup(db.session, old_token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None
    assert sessions.lookup(db.session, new_token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is new
    assert old.end_reason == "replaced" and new_token != old_token


def test_logout_ends_once_and_is_audited_once(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _) = make_resident(), make_kiosk()
    record, token = start(db, clock, resident, kiosk=kiosk)
    assert sessions.end(db.session, record, reason="logout", actor=SYSTEM, now=clock) is True
    assert sessions.end(db.session, record, reason="idle", actor=SYSTEM, now=clock) is False
    assert ends(db) == [(f"session:{record.id}", "logout")]
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None


def test_the_sweep_ends_sessions_nobody_came_back_to(db, clock, make_resident, make_kiosk):
    (kiosk, _), (other, _) = make_kiosk(), make_kiosk()
    idle_one, _ = start(db, clock, make_resident(), kiosk=kiosk, idle=120)
    clock.advance(seconds=100)
    live_one, _ = start(db, clock, make_resident(), kiosk=other, idle=120)
    clock.advance(seconds=60)
    assert sessions.end_overdue(db.session, actor=SYSTEM, now=clock) == 1
    assert (idle_one.end_reason, live_one.ended_at) == ("idle", None)
    assert sessions.end_overdue(db.session, actor=SYSTEM, now=clock) == 0


def test_a_residents_session_acts_as_the_resident_under_a_masked_name(db, clock, make_resident, make_kiosk):
    resident, (kiosk, _) = make_resident("欧阳娜娜"), make_kiosk()
    record, _ = start(db, clock, resident, kiosk=kiosk)
    actor = sessions.principal(record)
    assert (actor.label, actor.name) == (f"resident:{resident.id}", "欧**娜")


def test_a_deactivated_staff_members_session_ends(db, clock, make_staff, make_kiosk):
    helper, (kiosk, _) = make_staff("zhou", role="helper"), make_kiosk()
    record, token = start(db, clock, staff=helper, kiosk=kiosk)
    assert sessions.principal(record).label == "zhou"
    helper.active = False
    assert sessions.lookup(db.session, token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is None
    assert record.end_reason == "revoked"


@pytest.mark.parametrize("kwargs", [
    dict(channel="fax"), dict(resident=None), dict(both=True), dict(kiosk=None), dict(idle=0), dict(absolute=-1),
])
def test_bad_arguments_are_refused(db, clock, make_resident, make_staff, make_kiosk, kwargs):
    resident, (kiosk, _) = make_resident(), make_kiosk()
    args = dict(channel="kiosk", idle_seconds=120, absolute_seconds=900, actor=SYSTEM, resident=resident,
                kiosk_id=kiosk.id, now=clock)
    if kwargs.pop("both", False):
        args["staff"] = make_staff("wu", role="helper")
    if "kiosk" in kwargs:
        args["kiosk_id"] = kwargs.pop("kiosk")
    for short, name in (("idle", "idle_seconds"), ("absolute", "absolute_seconds")):
        if short in kwargs:
            args[name] = kwargs.pop(short)
    args.update(kwargs)
    with pytest.raises(ValueError):
        sessions.start(db.session, **args)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 0
