"""The fleet's console pages through the test client (fleet/admin.py): the grid, kiosk pages
and their actions and commands, site pages with their kiosks and enrolment codes, alerts,
usage. Access per role over every /admin route is in tests/test_admin_access.py."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import services
from kiosk_backend.fleet.models import Alert, EnrolmentCode, Kiosk, KioskCommand
from tests.conftest import login

# ===================================================================== scoping

def test_a_site_manager_sees_only_their_own_sites_kiosks_alerts_and_usage(app, db, world):
    client = app.test_client()
    login(client, "manager")
    grid = client.get("/admin/").text
    assert world.own_kiosk.number in grid and world.other_kiosk.number not in grid
    alerts = client.get("/admin/alerts").text
    assert world.own_kiosk.number in alerts and world.other_kiosk.number not in alerts
    sites = client.get("/admin/sites").text
    assert world.own_site.name in sites and world.other_site.name not in sites
    usage = client.get("/admin/usage").text
    assert world.own_site.name in usage and world.other_site.name not in usage
    assert "审计日志" not in grid and "事项导入" not in grid

# ===================================================================== fleet pages

def test_the_fleet_grid_shows_status_in_words_and_filters(app, db, world, make_kiosk):
    make_kiosk(authorized=False, site=world.own_site)
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/").text
    assert "异常" in page and "待授权" in page  # paper out, and the pending kiosk
    pending_only = client.get("/admin/?status=pending").text
    assert "JZ01-02" in pending_only and world.other_kiosk.number not in pending_only
    by_site = client.get(f"/admin/?site={world.other_site.id}").text
    assert world.other_kiosk.number in by_site and world.own_kiosk.number not in by_site
    assert client.get("/admin/?site=abc&status=bogus&q=%25").status_code == 200


def test_viewing_the_grid_opens_no_alert_the_worker_does(app, db, world):
    """Offline alerts are opened by the periodic job (tests/fleet/test_jobs.py), not by a GET."""
    kiosk = db.session.get(Kiosk, world.own_kiosk.id)
    kiosk.last_seen_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    client = app.test_client()
    login(client, "admin")
    assert "离线" in client.get("/admin/").text  # the status rule still shows it offline
    kinds = db.session.scalars(sa.select(Alert.kind).where(Alert.kiosk_id == kiosk.id, Alert.resolved_at.is_(None)))
    assert sorted(kinds) == ["paper_out"]


def test_the_kiosk_page_shows_its_state_commands_and_heartbeats(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    client.post(f"/admin/kiosks/{world.own_kiosk.id}/commands", data={"csrf_token": csrf, "kind": "reload"})
    page = client.get(f"/admin/kiosks/{world.own_kiosk.id}").text
    assert world.own_kiosk.number in page and "reload" in page and "paper_out" in page
    assert "远程指令" in page  # authorized kiosks can be commanded


@pytest.mark.parametrize("form", [
    {"kind": "shell"}, {"kind": ""},
    {"kind": "show_message", "text": ""},
    {"kind": "show_message", "text": "你好", "seconds": "abc"},
    {"kind": "show_message", "text": "你好", "seconds": "2"},
    {"kind": "apply_settings"},
    {"kind": "apply_settings", "idle_timeout_seconds": "5"},
    {"kind": "apply_settings", "idle_timeout_seconds": "soon"},
])
def test_a_bad_command_form_gets_422_and_queues_nothing(app, db, world, form):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post(f"/admin/kiosks/{world.own_kiosk.id}/commands", data={"csrf_token": csrf, **form})
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)) == 0


def test_commands_to_a_revoked_kiosk_are_refused(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    client.post(f"/admin/kiosks/{world.own_kiosk.id}/revoke", data={"csrf_token": csrf})
    response = client.post(f"/admin/kiosks/{world.own_kiosk.id}/commands", data={"csrf_token": csrf, "kind": "reload"})
    assert response.status_code == 409
    assert client.post(f"/admin/kiosks/{world.own_kiosk.id}/rotate", data={"csrf_token": csrf}).status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)) == 0


def test_authorize_revoke_and_rotate_through_the_console(app, db, world, make_kiosk):
    pending, credential = make_kiosk(authorized=False, site=world.own_site)
    client = app.test_client()
    csrf = login(client, "manager")
    kiosk_client = app.test_client()
    kiosk_client.set_cookie("kiosk_credential", credential)
    assert kiosk_client.get("/kiosk/").status_code == 403
    assert client.post(f"/admin/kiosks/{pending.id}/authorize", data={"csrf_token": csrf}).status_code == 302
    assert kiosk_client.get("/kiosk/").status_code == 200
    client.post(f"/admin/kiosks/{pending.id}/rotate", data={"csrf_token": csrf})
    heartbeat = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}).get_json()
    assert heartbeat["rotate_credential"] is True
    assert client.post(f"/admin/kiosks/{pending.id}/revoke", data={"csrf_token": csrf}).status_code == 302
    assert kiosk_client.get("/kiosk/").status_code == 302
    assert kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 2}).status_code == 401


def test_an_enrolment_code_is_shown_once_and_stored_hashed(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    response = client.post(f"/admin/sites/{world.own_site.id}/codes",
                           data={"csrf_token": csrf, "valid_hours": "2", "profile": "community-tablet"})
    assert response.status_code == 200
    code = re.search(r'<p class="code">([A-Z0-9-]+)</p>', response.text).group(1)
    record = db.session.scalar(sa.select(EnrolmentCode).where(EnrolmentCode.site_id == world.own_site.id)
                               .order_by(EnrolmentCode.id.desc()).limit(1))
    assert record.code_hash == token_hash(services.normalize_code(code)) and record.profile == "community-tablet"
    assert record.expires_at - record.created_at == timedelta(hours=2)
    assert code not in client.get(f"/admin/sites/{world.own_site.id}").text
    qr = client.get(f"/admin/codes/qr.png?code={code}")
    assert qr.status_code == 200 and qr.mimetype == "image/png" and qr.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("form", [{"valid_hours": "0"}, {"valid_hours": "abc"}, {"valid_hours": "400"},
                                  {"valid_hours": "24", "profile": "toaster-9000"}])
def test_a_bad_enrolment_code_form_gets_422_and_makes_no_code(app, db, world, form):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post(f"/admin/sites/{world.own_site.id}/codes", data={"csrf_token": csrf, **form})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EnrolmentCode)) == 2  # the world's own


def test_alerts_are_acknowledged_by_name(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    assert client.post(f"/admin/alerts/{world.own_alert.id}/ack", data={"csrf_token": csrf}).status_code == 302
    alert = db.session.get(Alert, world.own_alert.id)
    assert alert.acknowledged_by == "manager" and alert.acknowledged_at is not None
    assert "manager" in client.get("/admin/alerts").text
    assert client.post("/admin/alerts/999999/ack", data={"csrf_token": csrf}).status_code == 404


def test_usage_json_gives_daily_series_for_the_chart(app, db, world):
    services.record_usage(db.session, world.own_kiosk, "search")
    services.record_usage(db.session, world.own_kiosk, "print")
    db.session.commit()
    client = app.test_client()
    login(client, "manager")
    body = client.get(f"/admin/usage.json?site={world.own_site.id}&days=7").get_json()
    assert len(body["dates"]) == 7 and body["search"][-1] == 1 and body["print"][-1] == 1
    assert client.get("/admin/usage.json?days=1000").get_json()["dates"].__len__() == 90
    assert client.get("/admin/usage.json?days=abc").status_code == 200

# ===================================================================== odd bytes

NUL = "a\x00b"


@pytest.mark.parametrize("query", [{"q": NUL}, {"profile": NUL}, {"status": NUL}, {"site": NUL}])
def test_odd_fleet_filters_are_not_a_500(app, db, world, query):
    client = app.test_client()
    login(client, "admin")
    assert client.get("/admin/", query_string=query).status_code == 200


@pytest.mark.parametrize("form", [{"kind": NUL}, {"kind": "show_message", "text": NUL},
                                  {"kind": "maintenance_on", "reason": NUL}])
def test_nul_bytes_in_a_command_are_not_a_500(app, db, world, form):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post(f"/admin/kiosks/{world.own_kiosk.id}/commands", data={"csrf_token": csrf, **form})
    assert response.status_code in (302, 422)


def test_nul_bytes_in_an_enrolment_code_form_are_not_a_500(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post(f"/admin/sites/{world.own_site.id}/codes",
                           data={"csrf_token": csrf, "valid_hours": NUL, "profile": NUL})
    assert response.status_code == 422
