"""Alerts (fleet/alerts.py): offline alerts, acknowledging by name, scoped to a manager's
sites. Times come from a settable clock (tests/conftest.py Clock)."""
from __future__ import annotations

import pytest

from kiosk_backend.core.errors import NotFound
from kiosk_backend.fleet import alerts, services

from .conftest import actions, beat


def test_a_revoked_kiosk_raises_no_offline_alert(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1)
    services.revoke(db.session, kiosk, actor="wang")
    clock.advance(hours=1)
    assert alerts.evaluate_offline_alerts(db.session, minutes=10, now=clock) == 0


def test_a_kiosk_waiting_for_re_enrolment_raises_no_offline_alert(db, make_kiosk, clock):
    from kiosk_backend.fleet import enrolment

    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1)
    enrolment.revoke_credential_and_reenrol(db.session, kiosk, actor="wang")
    clock.advance(hours=1)
    assert alerts.evaluate_offline_alerts(db.session, minutes=10, now=clock) == 0


def test_acknowledging_an_alert_records_who_and_is_audited_once(db, make_kiosk, clock):
    kiosk, _ = make_kiosk()
    beat(db, kiosk, clock, seq=1, peripherals={"printer": "paper_out"})
    [alert] = alerts.list_alerts(db.session)
    alerts.acknowledge_alert(db.session, alert.id, actor="wang", now=clock)
    alerts.acknowledge_alert(db.session, alert.id, actor="li", now=clock)
    assert (alert.acknowledged_by, alert.acknowledged_at) == ("wang", clock())
    assert actions(db).count("alert.acknowledge") == 1


def test_a_manager_cannot_acknowledge_another_sites_alert(db, make_kiosk, site, site2):
    kiosk, _ = make_kiosk(site=site2)
    beat(db, kiosk, seq=1, peripherals={"printer": "paper_out"})
    [alert] = alerts.list_alerts(db.session)
    with pytest.raises(NotFound):
        alerts.acknowledge_alert(db.session, alert.id, actor="li", site_ids={site.id})
    assert alerts.list_alerts(db.session, site_ids={site.id}) == []
