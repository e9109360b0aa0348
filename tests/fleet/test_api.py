"""The kiosk's JSON API (/api/v1/kiosk) and the gate in front of every kiosk page, through
the test client."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import services
from kiosk_backend.fleet.models import Alert, EnrolmentCode, Heartbeat, Kiosk, KioskCommand, UsageEvent

PROFILE = "post-office-portrait"


def header(credential: str) -> dict:
    return {"Authorization": f"Kiosk {credential}"}


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def issue(db, kiosk, kind="reload", **kw):
    command = services.issue_command(db.session, db.session.get(Kiosk, kiosk.id), kind=kind, actor="wang", **kw)
    db.session.commit()
    return command.id


def named_fields(body: dict) -> set:
    """Fields an error names: schema errors nest under their location ("json"), domain errors do not."""
    errors = body["errors"]
    return set(errors) | set(errors.get("json") or {})


def assert_error_shape(body: dict, code: int):
    assert set(body) == {"code", "status", "message", "message_zh", "errors"}
    assert body["code"] == code and body["message"] and body["message_zh"]


# ===================================================================== heartbeat

def test_a_heartbeat_with_the_cookie_answers_status_and_interval(kiosk_client, db):
    response = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1, "app_version": "1.4.0",
                                                                  "peripherals": {"printer": "ok"}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "online" and body["interval"] == 30 and body["commands"] == []
    assert body["maintenance"] is False and body["rotate_credential"] is False and body["server_time"]
    kiosk = db.session.get(Kiosk, kiosk_client.kiosk.id)
    assert kiosk.last_seq == 1 and kiosk.app_version == "1.4.0" and kiosk.last_seen_at is not None


def test_a_heartbeat_with_the_authorization_header_works_without_a_cookie(app, make_kiosk):
    kiosk, credential = make_kiosk()
    response = app.test_client().post("/api/v1/kiosk/heartbeat", json={"seq": 7}, headers=header(credential))
    assert response.status_code == 200 and response.get_json()["status"] == "online"


def test_the_header_wins_over_a_stale_cookie(app, make_kiosk):
    _, credential = make_kiosk()
    client = app.test_client()
    client.set_cookie("kiosk_credential", "stale")
    assert client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=header(credential)).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Kiosk nonsense"}, {"Authorization": "Kiosk "},
                                     {"Authorization": "Bearer something"}])
def test_unknown_or_missing_credentials_get_401_in_both_languages(client, db, make_kiosk, headers):
    make_kiosk()
    response = client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=headers)
    assert response.status_code == 401
    assert_error_shape(response.get_json(), 401)
    assert count(db, Heartbeat) == 0


def test_a_revoked_kiosk_gets_401_everywhere(app, db, make_kiosk):
    kiosk, credential = make_kiosk()
    command_id = issue(db, kiosk)
    services.revoke(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    client = app.test_client()
    assert client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=header(credential)).status_code == 401
    assert client.post(f"/api/v1/kiosk/commands/{command_id}/ack", headers=header(credential)).status_code == 401
    assert client.post("/api/v1/kiosk/credential", headers=header(credential)).status_code == 401


def test_a_pending_kiosk_may_beat_but_gets_no_commands_and_cannot_ack(app, db, make_kiosk):
    kiosk, credential = make_kiosk(authorized=False)
    command_id = issue(db, kiosk, "show_message", payload={"text": "你好"})
    client = app.test_client()
    response = client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=header(credential))
    assert response.status_code == 200 and response.get_json()["commands"] == []
    assert db.session.get(Kiosk, kiosk.id).last_seen_at is not None
    ack = client.post(f"/api/v1/kiosk/commands/{command_id}/ack", headers=header(credential))
    assert ack.status_code == 403
    assert_error_shape(ack.get_json(), 403)
    assert client.post("/api/v1/kiosk/credential", headers=header(credential)).status_code == 403
    db.session.expire_all()
    assert db.session.get(KioskCommand, command_id).state == "pending"


def test_commands_arrive_with_the_heartbeat_and_are_acknowledged_once(kiosk_client, db):
    command_id = issue(db, kiosk_client.kiosk, "apply_settings", payload={"idle_timeout_seconds": 90})
    body = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}).get_json()
    assert [(c["id"], c["kind"], c["payload"]) for c in body["commands"]] == [
        (command_id, "apply_settings", {"idle_timeout_seconds": 90})]
    first = kiosk_client.post(f"/api/v1/kiosk/commands/{command_id}/ack")
    assert first.status_code == 200
    assert first.get_json()["id"] == command_id and first.get_json()["state"] == "acked"
    again = kiosk_client.post(f"/api/v1/kiosk/commands/{command_id}/ack")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 2}).get_json()["commands"] == []
    assert db.session.get(Kiosk, kiosk_client.kiosk.id).settings == {"idle_timeout_seconds": 90}


def test_acknowledging_maintenance_on_puts_the_kiosk_into_maintenance(kiosk_client, db):
    command_id = issue(db, kiosk_client.kiosk, "maintenance_on")
    assert kiosk_client.post(f"/api/v1/kiosk/commands/{command_id}/ack").status_code == 200
    assert kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}).get_json()["maintenance"] is True


def test_acknowledging_another_kiosks_or_an_unknown_command_is_404(kiosk_client, db, make_kiosk):
    other, _ = make_kiosk()
    command_id = issue(db, other, "maintenance_on")
    for url in (f"/api/v1/kiosk/commands/{command_id}/ack", "/api/v1/kiosk/commands/999999/ack"):
        response = kiosk_client.post(url)
        assert response.status_code == 404
        assert_error_shape(response.get_json(), 404)
    db.session.expire_all()
    assert db.session.get(KioskCommand, command_id).state == "pending"
    assert db.session.get(Kiosk, other.id).maintenance is False


def test_acknowledging_an_expired_command_is_409(kiosk_client, db):
    from datetime import timedelta

    from kiosk_backend.core.clock import utcnow

    command_id = issue(db, kiosk_client.kiosk, "maintenance_on")
    db.session.get(KioskCommand, command_id).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert kiosk_client.post(f"/api/v1/kiosk/commands/{command_id}/ack").status_code == 409
    assert db.session.get(Kiosk, kiosk_client.kiosk.id).maintenance is False


def test_an_interrupting_command_waits_for_the_resident_unless_forced(kiosk_client, db):
    kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1, "session_active": True})
    waiting = issue(db, kiosk_client.kiosk, "reload")
    forced = issue(db, kiosk_client.kiosk, "reload", force=True)
    body = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 2, "session_active": True}).get_json()
    assert [c["id"] for c in body["commands"]] == [forced]
    body = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 3, "session_active": False}).get_json()
    assert [c["id"] for c in body["commands"]] == [waiting, forced]


def test_paper_out_reported_by_heartbeat_opens_an_alert_and_a_session_counts_as_usage(kiosk_client, db):
    kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1, "peripherals": {"printer": "paper_out"},
                                                        "session_active": True})
    assert [a.kind for a in db.session.scalars(sa.select(Alert))] == ["paper_out"]
    assert [e.kind for e in db.session.scalars(sa.select(UsageEvent))] == ["session"]


@pytest.mark.parametrize("body,field", [
    ({}, "seq"),
    ({"seq": -1}, "seq"),
    ({"seq": "abc"}, "seq"),
    ({"seq": 2**63}, "seq"),
    ({"seq": None}, "seq"),
    ({"seq": 1, "app_version": "9" * 33}, "app_version"),
    ({"seq": 1, "profile": "x" * 65}, "profile"),
    ({"seq": 1, "profile": "toaster-9000"}, "profile"),
    ({"seq": 1, "peripherals": {"printer": "on_fire"}}, "printer"),
    ({"seq": 1, "peripherals": {"fax": "ok"}}, "fax"),
    ({"seq": 1, "peripherals": "all good"}, "peripherals"),
    ({"seq": 1, "peripherals": {"camera": "paper_out"}}, "camera"),
    ({"seq": 1, "session_active": "perhaps"}, "session_active"),
    # JSON types exactly, as documented: no strings, floats or 0/1 for numbers and booleans
    ({"seq": "5"}, "seq"),
    ({"seq": 5.0}, "seq"),
    ({"seq": 2.589e-42}, "seq"),
    ({"seq": 1, "session_active": 0}, "session_active"),
    ({"seq": 1, "session_active": "yes"}, "session_active"),
    ({"seq": 1, "shell": "rm -rf /"}, "shell"),
])
def test_bad_heartbeats_get_422_naming_the_field_and_write_nothing(kiosk_client, db, body, field):
    response = kiosk_client.post("/api/v1/kiosk/heartbeat", json=body)
    assert response.status_code == 422, response.get_json()
    payload = response.get_json()
    assert_error_shape(payload, 422)
    assert field in payload["message"] and field in payload["message_zh"]
    db.session.expire_all()
    assert count(db, Heartbeat) == 0
    assert db.session.get(Kiosk, kiosk_client.kiosk.id).last_seen_at is None


@pytest.mark.parametrize("data,content_type", [
    ("not json", "application/json"), ("[1, 2]", "application/json"), ("seq=1", "application/x-www-form-urlencoded"),
    ("", "application/json"), ('{"seq": 1', "application/json"),
])
def test_heartbeats_that_are_not_a_json_object_get_a_4xx_not_a_500(kiosk_client, db, data, content_type):
    response = kiosk_client.post("/api/v1/kiosk/heartbeat", data=data, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert_error_shape(response.get_json(), response.status_code)
    assert count(db, Heartbeat) == 0


def test_ack_of_a_non_numeric_command_id_is_404(kiosk_client):
    assert kiosk_client.post("/api/v1/kiosk/commands/abc/ack").status_code == 404


# ===================================================================== credential rotation

def test_rotating_through_the_api_gives_a_new_credential_and_kills_the_old_one(app, db, make_kiosk):
    kiosk, old = make_kiosk()
    services.request_rotation(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    client = app.test_client()
    assert client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=header(old)).get_json()["rotate_credential"]
    response = client.post("/api/v1/kiosk/credential", headers=header(old))
    assert response.status_code == 200
    body = response.get_json()
    new = body["credential"]
    assert body["kiosk_number"] == kiosk.number and body["state"] == "authorized" and new != old
    cookie = response.headers["Set-Cookie"]
    assert f"kiosk_credential={new}" in cookie and "HttpOnly" in cookie
    fresh = app.test_client()
    assert fresh.post("/api/v1/kiosk/heartbeat", json={"seq": 2}, headers=header(old)).status_code == 401
    after = fresh.post("/api/v1/kiosk/heartbeat", json={"seq": 2}, headers=header(new))
    assert after.status_code == 200 and after.get_json()["rotate_credential"] is False


def test_a_browser_kiosk_keeps_working_after_rotation_through_its_cookie(kiosk_client):
    assert kiosk_client.post("/api/v1/kiosk/credential").status_code == 200
    assert kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}).status_code == 200
    assert kiosk_client.get("/kiosk/").status_code == 200


# ===================================================================== activation (device agents)

def make_code(db, make_site, **kw):
    site = make_site()
    code, _ = services.create_enrolment_code(db.session, site=site, actor="wang", **kw)
    db.session.commit()
    return code


def test_a_device_agent_activates_with_a_code_and_gets_its_credential_once(client, db, make_site):
    code = make_code(db, make_site, pre_authorized=True)
    response = client.post("/api/v1/kiosk/activate", json={"code": code, "profile": PROFILE, "app_version": "1.0"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["kiosk_number"] == "JZ01-01" and body["state"] == "authorized"
    assert client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers=header(body["credential"])).status_code == 200
    again = client.post("/api/v1/kiosk/activate", json={"code": code, "profile": PROFILE})
    assert again.status_code == 422 and count(db, Kiosk) == 1
    assert "code" in named_fields(again.get_json())


def test_activation_without_pre_authorization_gives_a_pending_kiosk(client, db, make_site):
    code = make_code(db, make_site)
    body = client.post("/api/v1/kiosk/activate", json={"code": code, "profile": PROFILE}).get_json()
    assert body["state"] == "pending"


@pytest.mark.parametrize("body,field", [
    ({"profile": PROFILE}, "code"),
    ({"code": "ABC", "profile": PROFILE}, "code"),
    ({"code": "A" * 33, "profile": PROFILE}, "code"),
    ({"code": "ACDEF-GHJKM", "profile": PROFILE}, "code"),
    ({"code": "{code}"}, "profile"),
    ({"code": "{code}", "profile": ""}, "profile"),
    ({"code": "{code}", "profile": "toaster-9000"}, "profile"),
    ({"code": "{code}", "profile": "community-tablet"}, "profile"),  # the code is for another model
    ({"code": "{code}", "profile": PROFILE, "app_version": "v" * 33}, "app_version"),
    ({"code": 12345678, "profile": PROFILE}, "code"),
])
def test_bad_activations_get_422_naming_the_field_and_write_nothing(client, db, make_site, body, field):
    code = make_code(db, make_site, profile=PROFILE)
    body = {k: (code if v == "{code}" else v) for k, v in body.items()}
    response = client.post("/api/v1/kiosk/activate", json=body)
    assert response.status_code == 422
    payload = response.get_json()
    assert_error_shape(payload, 422)
    assert field in named_fields(payload), payload
    assert count(db, Kiosk) == 0
    assert db.session.scalar(sa.select(EnrolmentCode.used_at)) is None


def test_concurrent_activations_with_one_code_over_http_make_one_kiosk(app, db, make_site):
    from .conftest import run_in_threads

    code = make_code(db, make_site, pre_authorized=True)

    def work(_i):
        return app.test_client().post("/api/v1/kiosk/activate", json={"code": code, "profile": PROFILE}).status_code

    statuses = run_in_threads(app, 5, work)
    assert sorted(statuses) == [201, 422, 422, 422, 422], statuses
    db.session.expire_all()
    assert count(db, Kiosk) == 1


# ===================================================================== the kiosk page gate

@pytest.mark.parametrize("path", ["/kiosk/", "/kiosk/search?q=sfz", "/kiosk/themes", "/kiosk/help"])
def test_a_browser_without_a_credential_is_sent_to_activation(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/kiosk/activate")


def test_an_unknown_cookie_is_cleared_on_the_way_to_activation(client):
    client.set_cookie("kiosk_credential", "forged")
    response = client.get("/kiosk/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk/activate")
    assert re.search(r"kiosk_credential=;.*(Max-Age=0|expires=Thu, 01 Jan 1970)", response.headers["Set-Cookie"],
                     re.IGNORECASE)


def test_a_revoked_kiosk_is_sent_back_to_activation(kiosk_client, db):
    assert kiosk_client.get("/kiosk/").status_code == 200
    services.revoke(db.session, db.session.get(Kiosk, kiosk_client.kiosk.id), actor="wang")
    db.session.commit()
    response = kiosk_client.get("/kiosk/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk/activate")


def test_the_pages_open_before_enrolment_need_no_credential(client):
    assert client.get("/kiosk/activate").status_code == 200
    assert client.get("/kiosk/offline").status_code == 200


def test_a_pending_kiosk_sees_the_waiting_page_with_its_number(app, make_kiosk):
    kiosk, credential = make_kiosk(authorized=False)
    client = app.test_client()
    client.set_cookie("kiosk_credential", credential)
    response = client.get("/kiosk/")
    assert response.status_code == 403
    assert kiosk.number in response.text and "九江浔阳路邮政营业所" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/kiosk/", headers=header(credential)).status_code == 403


def test_a_pending_kiosk_is_let_in_once_authorized(app, db, make_kiosk):
    kiosk, credential = make_kiosk(authorized=False)
    client = app.test_client()
    client.set_cookie("kiosk_credential", credential)
    services.authorize(db.session, db.session.get(Kiosk, kiosk.id), actor="wang")
    db.session.commit()
    assert client.get("/kiosk/").status_code == 200


def _maintenance(db, kiosk):
    row = db.session.get(Kiosk, kiosk.id)
    row.maintenance = True
    db.session.commit()


def test_maintenance_shows_the_pause_screen_naming_the_nearest_open_site(kiosk_client, db, make_site):
    always = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    make_site(code="JZ02", name="建设银行九江分行营业部", address="长虹大道 399 号", phone="0792-8556677",
              county_code="360402", opening_hours=always)
    make_site(code="JZ03", name="白水湖社区党群服务中心", address="湖滨路 26 号", opening_hours=always)
    make_site(code="JZ04", name="关门的网点", opening_hours={})
    _maintenance(db, kiosk_client.kiosk)
    response = kiosk_client.get("/kiosk/")
    assert response.status_code == 503 and response.headers["Retry-After"]
    text = response.text
    assert "暂停服务" in text
    assert "白水湖社区党群服务中心" in text and "湖滨路 26 号" in text  # same county first
    assert "建设银行九江分行营业部" in text and "0792-8556677" in text
    assert text.index("白水湖社区党群服务中心") < text.index("建设银行九江分行营业部")
    assert "关门的网点" not in text


def test_maintenance_without_any_open_site_points_to_the_counter(kiosk_client, db, make_site):
    make_site(code="JZ02", name="关门的网点", opening_hours={})
    _maintenance(db, kiosk_client.kiosk)
    response = kiosk_client.get("/kiosk/search?q=sfz")
    assert response.status_code == 503 and "暂停服务" in response.text and "关门的网点" not in response.text


def test_help_stays_reachable_during_maintenance(kiosk_client, db):
    _maintenance(db, kiosk_client.kiosk)
    assert kiosk_client.get("/kiosk/help").status_code == 200


def test_heartbeats_keep_working_during_maintenance_so_it_can_be_switched_off(kiosk_client, db):
    _maintenance(db, kiosk_client.kiosk)
    off = issue(db, kiosk_client.kiosk, "maintenance_off")
    body = kiosk_client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}).get_json()
    assert body["maintenance"] is True and [c["id"] for c in body["commands"]] == [off]
    assert kiosk_client.post(f"/api/v1/kiosk/commands/{off}/ack").status_code == 200
    assert kiosk_client.get("/kiosk/").status_code == 200


# ===================================================================== the activation screen

def test_the_activation_form_prefills_a_scanned_code(client):
    response = client.get("/kiosk/activate?code=ACDEF-GHJKM&profile=community-tablet")
    assert response.status_code == 200
    assert 'value="ACDEF-GHJKM"' in response.text
    assert re.search(r'<option value="community-tablet"\s+selected', response.text)


def test_activating_through_the_form_sets_an_httponly_cookie_and_opens_the_home_screen(client, db, make_site):
    code = make_code(db, make_site, pre_authorized=True)
    response = client.post("/kiosk/activate", data={"code": code, "profile": PROFILE, "app_version": "1.0"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/kiosk/")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("kiosk_credential=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    credential = cookie.split(";", 1)[0].split("=", 1)[1]
    kiosk = db.session.scalar(sa.select(Kiosk))
    assert kiosk.credential_hash == token_hash(credential) and kiosk.app_version == "1.0"
    assert client.get("/kiosk/").status_code == 200


def test_activating_with_a_plain_code_leads_to_the_waiting_page(client, db, make_site):
    code = make_code(db, make_site)
    client.post("/kiosk/activate", data={"code": code, "profile": PROFILE})
    assert client.get("/kiosk/").status_code == 403


@pytest.mark.parametrize("form", [
    {"code": "ACDEF-GHJKM", "profile": PROFILE},
    {"code": "", "profile": PROFILE},
    {"code": "{code}", "profile": "toaster-9000"},
    {"code": "{code}", "profile": ""},
    {"profile": PROFILE},
])
def test_a_wrong_code_or_profile_shows_an_error_and_writes_nothing(client, db, make_site, form):
    code = make_code(db, make_site)
    form = {k: (code if v == "{code}" else v) for k, v in form.items()}
    response = client.post("/kiosk/activate", data=form)
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "Set-Cookie" not in response.headers or "kiosk_credential" not in response.headers["Set-Cookie"]
    assert count(db, Kiosk) == 0
    assert db.session.scalar(sa.select(EnrolmentCode.used_at)) is None


def test_an_expired_code_on_the_form_says_so(client, db, make_site):
    from datetime import timedelta

    from kiosk_backend.core.clock import utcnow

    code = make_code(db, make_site)
    db.session.scalar(sa.select(EnrolmentCode)).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.post("/kiosk/activate", data={"code": code, "profile": PROFILE})
    assert response.status_code == 422 and "已过期" in response.text
    assert count(db, Kiosk) == 0


def test_an_enrolled_kiosk_can_be_moved_to_a_new_browser_with_a_re_enrolment_code(app, db, kiosk_client):
    kiosk = db.session.get(Kiosk, kiosk_client.kiosk.id)
    code, _ = services.create_reenrolment_code(db.session, kiosk=kiosk, actor="wang")
    db.session.commit()
    new_browser = app.test_client()
    response = new_browser.post("/kiosk/activate", data={"code": code, "profile": kiosk.profile})
    assert response.status_code == 302
    assert new_browser.get("/kiosk/").status_code == 200
    assert kiosk_client.get("/kiosk/").status_code == 302  # the old browser's credential is gone
    assert count(db, Kiosk) == 1



# ===================================================================== odd bytes

NUL = "a\x00b"


@pytest.mark.parametrize("body", [
    {"seq": 1, "app_version": NUL}, {"seq": 1, "profile": NUL}, {"seq": 1, "peripherals": {"printer": NUL}},
])
def test_nul_bytes_in_a_heartbeat_get_422_not_500(kiosk_client, db, body):
    response = kiosk_client.post("/api/v1/kiosk/heartbeat", json=body)
    assert response.status_code == 422
    assert count(db, Heartbeat) == 0


@pytest.mark.parametrize("field", ["code", "profile", "app_version"])
def test_nul_bytes_in_an_activation_get_422_not_500(client, db, make_site, field):
    body = {"code": make_code(db, make_site), "profile": PROFILE, field: NUL}
    assert client.post("/api/v1/kiosk/activate", json=body).status_code == 422
    assert client.post("/kiosk/activate", data=body).status_code == 422
    assert count(db, Kiosk) == 0


def test_nul_bytes_in_a_kiosk_credential_are_just_an_unknown_credential(client):
    assert client.post("/api/v1/kiosk/heartbeat", json={"seq": 1}, headers={"Authorization": "Kiosk a\x00b"}).status_code == 401


def test_the_activation_form_checks_lengths_like_the_api(client, db, make_site):
    code = make_code(db, make_site)
    response = client.post("/kiosk/activate", data={"code": code, "profile": PROFILE, "app_version": "v" * 33})
    assert response.status_code == 422 and "app_version" in response.text
    assert count(db, Kiosk) == 0


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_refused_activation_is_audited_with_the_address_and_a_code_hint(app, db, client, via):
    from kiosk_backend.core import audit

    if via == "page":
        response = client.post("/kiosk/activate", data={"code": "ACDEF-GHJKM", "profile": "post-office-portrait"},
                               environ_base={"REMOTE_ADDR": "10.9.8.7"})
    else:
        response = client.post("/api/v1/kiosk/activate", json={"code": "ACDEF-GHJKM", "profile": "post-office-portrait"},
                               environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert response.status_code == 422
    db.session.expire_all()
    entries = audit.search(db.session, action="kiosk.activate_refused")
    assert len(entries) == 1
    assert entries[0].ip == "10.9.8.7" and entries[0].details["code_hint"] == "JKM"
    assert "ACDEFGHJKM" not in str(entries[0].details)
