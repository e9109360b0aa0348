"""Residents on the phone pages: /m/login, the resident_session cookie, login_required, /m/logout."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import g

from kiosk_backend.identity import mobile
from kiosk_backend.identity.models import ResidentSession

SAME_ORIGIN = {"Origin": "http://localhost"}


def _login(client, subject="demo-1", next_url=None):
    data = {"subject": subject, **({"next": next_url} if next_url is not None else {})}
    return client.post("/m/login/demo", data=data, headers=SAME_ORIGIN)


def test_the_login_page_offers_the_demo_residents(client):
    page = client.get("/m/login")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for name in ("张三", "李小明", "欧阳娜娜"):
        assert name in page.text
    assert 'action="/m/login/demo"' in page.text
    english = client.get("/m/login?lang=en")
    assert "Demo residents" in english.text


def test_demo_login_sets_a_server_side_session_cookie_and_greets_by_masked_name(client, db):
    answer = _login(client, "demo-3", "/m/login")
    assert answer.status_code == 302 and answer.headers["Location"] == "/m/login"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("resident_session=") and "HttpOnly" in cookie and "Path=/m" in cookie
    assert "SameSite=Lax" in cookie
    record = db.session.scalar(sa.select(ResidentSession))
    assert record.channel == "mobile" and record.idle_seconds == 1800
    assert (record.expires_at - record.created_at).total_seconds() == 12 * 3600
    page = client.get("/m/login")
    assert "欧**娜" in page.text and "欧阳娜娜" not in page.text  # the picker is gone, the greeting is masked
    assert 'action="/m/logout"' in page.text


def test_login_goes_back_to_a_safe_next_only(client):
    assert _login(client, next_url="/m/login/abc?x=1").headers["Location"] == "/m/login/abc?x=1"
    for unsafe in ("https://evil.example.com/m/", "//evil.example.com/m/x", "/admin/fleet", "/m\\..\\x",
                   "/m/x\r\nSet-Cookie: a=b", "", "m/login"):
        assert _login(client, next_url=unsafe).headers["Location"] == "/m/login", unsafe


@pytest.mark.parametrize(("target", "expected"), [("/m/login/tok", "/m/login/tok"), ("/m/items/A1?x=1", "/m/items/A1?x=1"),
                                                  ("///evil", "/m/login"), ("/m/\\evil", "/m/login"),
                                                  ("https://x/m/", "/m/login"), (None, "/m/login")])
def test_safe_next(target, expected):
    assert mobile.safe_next(target) == expected


def test_login_required_sends_the_phone_to_login_and_back(app):
    @mobile.login_required
    def private():
        return "secret"

    with app.test_request_context("/m/login/abcd?lang=en"):
        g.resident = None
        answer = private()
        assert answer.status_code == 302
        assert answer.headers["Location"] == "/m/login?next=/m/login/abcd?lang%3Den"
    with app.test_request_context("/m/login/abcd"):
        g.resident = object()
        assert private() == "secret"


def test_a_second_login_on_the_phone_replaces_the_first(client, db):
    _login(client, "demo-1")
    _login(client, "demo-2")
    reasons = db.session.scalars(sa.select(ResidentSession.end_reason).order_by(ResidentSession.id)).all()
    assert reasons == ["replaced", None]
    assert "李*明" in client.get("/m/login").text


def test_logout_revokes_on_the_server_and_clears_the_phone(client, db):
    _login(client)
    answer = client.post("/m/logout", headers=SAME_ORIGIN)
    assert answer.status_code == 302 and answer.headers["Location"] == "/m/login"
    assert answer.headers["Clear-Site-Data"] == '"cookies", "storage"'
    assert answer.headers["Cache-Control"] == "no-store"
    assert "resident_session=;" in answer.headers["Set-Cookie"]
    assert db.session.scalar(sa.select(ResidentSession.end_reason)) == "logout"
    assert "张三" in client.get("/m/login").text  # the picker again: logged out


def test_a_stolen_cookie_is_dead_after_logout(client, app):
    _login(client)
    token = client.get_cookie("resident_session", path="/m").value
    client.post("/m/logout", headers=SAME_ORIGIN)
    other = app.test_client()
    other.set_cookie("resident_session", token, path="/m")
    assert "张*" not in other.get("/m/login").text


def test_logout_and_login_from_another_site_are_refused(client, db):
    _login(client)
    assert client.post("/m/logout", headers={"Origin": "https://evil.example.com"}).status_code == 403
    assert db.session.scalar(sa.select(ResidentSession.ended_at)) is None
    refused = client.post("/m/login/demo", data={"subject": "demo-2"}, headers={"Origin": "https://evil.example.com"})
    assert refused.status_code == 403
    assert client.get("/m/logout").status_code in (404, 405)  # a link cannot log anyone out
    assert db.session.scalar(sa.select(ResidentSession.ended_at)) is None


def test_a_refused_login_shows_the_page_with_the_reason(client, db):
    answer = _login(client, "demo-999")
    assert answer.status_code == 401 and "没有这位演示用户" in answer.text and "resident_session" not in str(answer.headers)
    oidc = client.post("/m/login/oidc", data={"id_token": "x"}, headers=SAME_ORIGIN)
    assert oidc.status_code == 422  # not configured in the tests


def test_oidc_login_on_the_phone_pages(make_app, tmp_path):
    import json

    from tests.identity.test_providers import AUDIENCE, ISSUER, JWKS, sign

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(JWKS))
    app = make_app(KIOSK_OIDC_ISSUER=ISSUER, KIOSK_OIDC_AUDIENCE=AUDIENCE, KIOSK_OIDC_JWKS_FILE=str(jwks))
    client = app.test_client()
    with app.app_context():
        page = client.get("/m/login")
        assert "统一身份认证" in page.text and "演示用户" in page.text  # tests: demo too
        answer = client.post("/m/login/oidc", data={"id_token": sign()}, headers=SAME_ORIGIN)
        assert answer.status_code == 302, answer.text
        assert "张*" in client.get("/m/login").text


def test_an_idle_phone_session_is_over(make_app):
    from datetime import timedelta

    from kiosk_backend.core.clock import utcnow
    from kiosk_backend.extensions import db

    app = make_app(KIOSK_PHONE_SESSION_IDLE_SECONDS=120)
    client = app.test_client()
    with app.app_context():
        _login(client)
        record = db.session.scalar(sa.select(ResidentSession))
        record.last_seen_at = utcnow() - timedelta(seconds=121)
        db.session.commit()
        assert "张*" not in client.get("/m/login").text
        db.session.expire_all()
        assert db.session.scalar(sa.select(ResidentSession.end_reason)) == "idle"


def test_other_phone_pages_show_who_is_logged_in_with_a_way_out(client, make_items):
    from tests.conftest import item_row

    make_items(item_row(task_code="GUIDE1"))
    assert "mobile.login" not in client.get("/m/items/GUIDE1").text and "退出登录" not in client.get("/m/items/GUIDE1").text
    _login(client)
    page = client.get("/m/items/GUIDE1")
    assert "已登录：张*" in page.text and 'action="/m/logout"' in page.text
    login_page = client.get("/m/login")
    assert login_page.text.count('action="/m/logout"') == 1  # the login page says it once, in its body
