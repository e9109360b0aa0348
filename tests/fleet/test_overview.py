"""The fleet overview (fleet/overview.py): each kiosk's status for the console, searched and
scoped to a manager's sites. Times come from a settable clock (tests/conftest.py Clock)."""
from __future__ import annotations

from datetime import timedelta

from kiosk_backend.fleet import overview, states

from .conftest import beat


def test_the_fleet_view_computes_online_degraded_and_offline_from_the_last_beat(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    never, _ = make_kiosk()
    pending, _ = make_kiosk(authorized=False)
    beat(db, kiosk, clock, seq=1)

    def status_at(seconds):
        rows = overview.fleet(db.session, now=lambda: clock() + timedelta(seconds=seconds))
        return {row["kiosk"].number: row["status"] for row in rows}

    assert status_at(5) == {kiosk.number: "online", never.number: "never", pending.number: "pending"}
    assert status_at(60)[kiosk.number] == "degraded"
    assert status_at(3 * states.HEARTBEAT_SECONDS + 1)[kiosk.number] == "offline"
    rows = overview.fleet(db.session, status="offline", now=lambda: clock() + timedelta(minutes=5))
    assert [r["kiosk"].number for r in rows] == [kiosk.number]


def test_the_fleet_view_searches_numbers_as_typed_text(db, make_kiosk):
    kiosk, _ = make_kiosk()
    assert [r["kiosk"].number for r in overview.fleet(db.session, q="jz01-0")] == [kiosk.number]
    assert overview.fleet(db.session, q="%") == overview.fleet(db.session, q="JZ01_01") == []


def test_the_fleet_view_is_scoped_to_a_managers_sites(db, make_kiosk, site, site2):
    make_kiosk(site=site)
    other, _ = make_kiosk(site=site2)
    assert [r["kiosk"].number for r in overview.fleet(db.session, site_ids={site2.id})] == [other.number]
    assert overview.fleet(db.session, site_ids=set()) == []


def test_a_kiosk_whose_credential_was_revoked_now_waits_for_re_enrolment(db, make_kiosk, clock):
    from kiosk_backend.fleet import enrolment

    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1)
    assert overview.status_of(kiosk, clock()) == "online"
    code, _ = enrolment.revoke_credential_and_reenrol(db.session, kiosk, actor="wang", now=clock)
    db.session.commit()
    assert overview.status_of(kiosk, clock()) == "reenrol"  # not "online" on a beat it can no longer send
    assert [row["kiosk"].id for row in overview.fleet(db.session, status="reenrol", now=clock)] == [kiosk.id]
    enrolment.activate(db.session, code=code, profile=kiosk.profile, now=clock)
    db.session.commit()
    assert overview.status_of(kiosk, clock()) == "online"
    enrolment.revoke(db.session, kiosk, actor="wang")
    assert overview.status_of(kiosk, clock()) == "revoked"
