"""The fleet's console pages through the test client (fleet/admin.py): the grid, kiosk pages
and their actions and commands, site pages with their kiosks and enrolment codes, alerts,
usage. Access per role over every /admin route is in tests/test_admin_access.py."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.i18n import LANGUAGES, catalogue
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import services
from kiosk_backend.fleet.models import Alert, EnrolmentCode, Kiosk, KioskCommand
from kiosk_backend.fleet.schemas import PeripheralStatus
from kiosk_backend.fleet.states import DEVICE_STATES, PRINTER_STATES, CommandState
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
                           data={"csrf_token": csrf, "valid_hours": "2", "profile": "community-tablet"},
                           follow_redirects=True)
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


# ===================================================================== one-time codes (post/redirect/get)

def _codes(db):
    return db.session.scalar(sa.select(sa.func.count()).select_from(EnrolmentCode))


def _shown_code(html: str) -> str | None:
    match = re.search(r'<p class="code">([A-Z0-9-]+)</p>', html)
    return match.group(1) if match else None


def test_a_new_enrolment_code_is_shown_at_a_get_address_once_and_a_reload_makes_no_other(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    before = _codes(db)
    response = client.post(f"/admin/sites/{world.own_site.id}/codes", data={"csrf_token": csrf, "valid_hours": "2"})
    assert response.status_code == 303  # not a page at the POST address that a reload re-submits
    assert response.location.startswith(f"/admin/sites/{world.own_site.id}")
    assert _shown_code(response.text) is None and "kiosk_admin_notice" in response.headers.get("Set-Cookie", "")
    page = client.get(response.location)
    code = _shown_code(page.text)
    assert code and page.status_code == 200 and "&lt;time" not in page.text
    reload = client.get(response.location)
    assert _shown_code(reload.text) is None and code not in reload.text
    assert _codes(db) == before + 1
    record = db.session.scalar(sa.select(EnrolmentCode).order_by(EnrolmentCode.id.desc()).limit(1))
    assert record.code_hash == token_hash(services.normalize_code(code))


def test_a_waiting_code_is_shown_only_on_the_page_it_belongs_to(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    client.post(f"/admin/sites/{world.own_site.id}/codes", data={"csrf_token": csrf})
    assert _shown_code(client.get(f"/admin/sites/{world.other_site.id}").text) is None
    assert _shown_code(client.get(f"/admin/kiosks/{world.own_kiosk.id}").text) is None
    assert _shown_code(client.get(f"/admin/sites/{world.own_site.id}").text)


# ===================================================================== revoke now and re-enrol

def test_revoke_now_and_re_enrol_needs_the_confirmation_and_the_csrf_token(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    kiosk_client = app.test_client()
    kiosk, credential = world.own_kiosk, _credential_of(app, db, world.own_kiosk)
    kiosk_client.set_cookie("kiosk_credential", credential)
    url = f"/admin/kiosks/{kiosk.id}/reenrol"
    assert client.post(url, data={}).status_code == 400                                 # no CSRF token
    assert client.post(url, data={"csrf_token": csrf}).status_code == 422               # not confirmed
    assert client.post(url, data={"csrf_token": csrf, "confirm": "0"}).status_code == 422
    assert kiosk_client.get("/kiosk/").status_code == 200
    assert "kiosk.credential_revoke" not in _actions(db)


def test_revoke_now_stops_the_kiosk_at_once_and_its_one_time_code_re_enrols_the_same_kiosk(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    kiosk = world.own_kiosk
    kiosk_client = app.test_client()
    kiosk_client.set_cookie("kiosk_credential", _credential_of(app, db, kiosk))
    page = client.get(f"/admin/kiosks/{kiosk.id}").text
    assert "立即吊销凭证并重新激活" in page and f'action="/admin/kiosks/{kiosk.id}/reenrol"' in page
    before = _codes(db)
    response = client.post(f"/admin/kiosks/{kiosk.id}/reenrol", data={"csrf_token": csrf, "confirm": "1"})
    assert response.status_code == 302
    # The old credential is dead now: the kiosk lands on its activation screen, its agent gets 401.
    refused = kiosk_client.get("/kiosk/")
    assert refused.status_code == 302 and refused.location.endswith("/kiosk/activate")
    assert kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 9}).status_code == 401
    shown = client.get(response.location)
    code = _shown_code(shown.text)
    assert code and kiosk.number in shown.text and "旧凭证已吊销" in shown.text
    assert _shown_code(client.get(response.location).text) is None  # once
    assert _codes(db) == before + 1
    activated = app.test_client().post("/kiosk/activate", data={"code": code, "profile": kiosk.profile})
    assert activated.status_code == 302
    db.session.rollback()  # end this session's read transaction: see what the requests committed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk).where(Kiosk.site_id == world.own_site.id)) == 1
    assert db.session.get(Kiosk, kiosk.id).credential_hash is not None
    assert {"kiosk.credential_revoke", "kiosk.reenrol"} <= set(_actions(db))
    assert "待重新激活" not in _grid_row(client.get("/admin/").text, kiosk.number)  # enrolled again


def test_a_kiosk_waiting_for_re_enrolment_says_so_in_the_grid_and_on_its_page(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    kiosk = world.own_kiosk
    client.post(f"/admin/kiosks/{kiosk.id}/reenrol", data={"csrf_token": csrf, "confirm": "1"})
    row = _grid_row(client.get("/admin/").text, kiosk.number)
    assert "待重新激活" in row and "在线" not in row and "异常" not in row
    assert kiosk.number in client.get("/admin/?status=reenrol").text
    assert kiosk.number not in client.get("/admin/?status=offline").text
    assert "待重新激活" in client.get(f"/admin/kiosks/{kiosk.id}").text.split("</h1>", 1)[0]


def _grid_row(html: str, number: str) -> str:
    return next(row for row in html.split("<tr>") if f">{number}</a>" in row)


def test_revoke_now_is_refused_for_a_revoked_kiosk_and_offered_only_while_it_is_not(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    client.post(f"/admin/kiosks/{world.own_kiosk.id}/revoke", data={"csrf_token": csrf})
    assert "/reenrol" not in client.get(f"/admin/kiosks/{world.own_kiosk.id}").text
    response = client.post(f"/admin/kiosks/{world.own_kiosk.id}/reenrol", data={"csrf_token": csrf, "confirm": "1"})
    assert response.status_code == 409


def test_a_site_manager_cannot_re_enrol_another_sites_kiosk(app, db, world):
    client = app.test_client()
    csrf = login(client, "manager")
    response = client.post(f"/admin/kiosks/{world.other_kiosk.id}/reenrol", data={"csrf_token": csrf, "confirm": "1"})
    assert response.status_code == 404
    assert db.session.get(Kiosk, world.other_kiosk.id).credential_hash is not None


def _credential_of(app, db, kiosk) -> str:
    """A fresh credential for ``kiosk`` (the world's kiosks' own are not kept)."""
    credential = services.rotate_credential(db.session, kiosk)
    db.session.commit()
    return credential


def _actions(db):
    from kiosk_backend.core.audit import AuditEntry

    db.session.rollback()  # see what the requests committed
    return list(db.session.scalars(sa.select(AuditEntry.action)))


# ===================================================================== the console in words

def test_the_kiosk_page_says_things_in_words_not_codes(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    client.post(f"/admin/kiosks/{world.own_kiosk.id}/commands", data={"csrf_token": csrf, "kind": "reload"})
    response = client.get(f"/admin/kiosks/{world.own_kiosk.id}?done=reload")
    page = response.text
    assert "已完成：重新加载页面" in page and "done=reload" not in page.split("<main>", 1)[1]
    history = page.split("心跳记录", 1)[1]
    assert "异常" in history and "打印机：缺纸" in history          # status and peripherals in words
    for code in (">degraded<", ">online<", "paper_out<", "printer:", ">pending<", ">reload<"):
        assert code not in page, code
    assert "等待发送" in page and "重新加载页面" in page            # the command log


def test_an_offline_kiosk_is_not_said_to_be_in_use(app, db, world, clock):
    from .conftest import beat

    kiosk = world.own_kiosk
    beat(db, kiosk, seq=5, session_active=True)
    client = app.test_client()
    login(client, "admin")
    assert "有居民正在使用" in client.get(f"/admin/kiosks/{kiosk.id}").text
    db.session.get(Kiosk, kiosk.id).last_seen_at = utcnow() - timedelta(hours=2)  # silent since
    db.session.commit()
    page = client.get(f"/admin/kiosks/{kiosk.id}").text
    assert "离线" in page and "有居民正在使用" not in page


def test_the_grid_names_the_model_and_explains_an_empty_peripherals_column(app, db, world, make_kiosk):
    make_kiosk(site=world.own_site, profile="community-tablet")  # never sent a heartbeat
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/").text
    profiles = app.extensions["device_profiles"]
    assert profiles["community-tablet"].name in page and profiles["post-office-portrait"].name in page
    assert "<td>community-tablet</td>" not in page and "<td>post-office-portrait</td>" not in page
    assert "未上报" in page and "终端还没有在心跳中报告外设" in page
    assert "打印机：缺纸" in page
    english = client.get("/admin/?lang=en").text
    assert "Not reported yet" in english and "Printer: out of paper" in english


@pytest.mark.parametrize("prefix,values", [
    ("admin.command_state.", [state.value for state in CommandState]),
    ("admin.peripheral.", sorted(PeripheralStatus().fields)),
    ("admin.peripheral_state.", sorted({*PRINTER_STATES, *DEVICE_STATES})),
    ("admin.done.", ["authorize", "revoke", "rotate", "reenrol"]),
])
def test_words_exist_for_every_code_the_console_shows(prefix, values):
    missing = [prefix + value for value in values
               if not all(catalogue().get(prefix + value, {}).get(lang) for lang in LANGUAGES)]
    assert not missing, missing


def test_alert_details_are_in_words(app, db, world, clock):
    from .conftest import beat

    beat(db, world.own_kiosk, seq=7, peripherals={"printer": "ok", "card_reader": "error", "camera": "error"})
    services.evaluate_offline_alerts(db.session, minutes=10, now=lambda: utcnow() + timedelta(hours=1))
    db.session.commit()
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/alerts?all=1").text
    body = page.split("<tbody>", 1)[1]
    assert "<td>打印机</td>" in body                        # the world's paper-out alert
    assert "<td>摄像头、读卡器</td>" in body                  # the peripheral fault (camera, card_reader)
    assert "超过 10 分钟没有心跳" in body                     # the offline alert
    for code in (">printer<", "card_reader", "min<"):
        assert code not in body, code
