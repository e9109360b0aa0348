"""The kiosk session through the kiosk surface (identity/kiosk.py): the cookie, the server's
idle and absolute ends, 退出, the end of a visit at /kiosk/reset, no-store, another kiosk's
cookie, and staff logging in at a kiosk (allowed and refused by site and role, throttled)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.identity import kiosk as identity_kiosk
from kiosk_backend.identity import sessions, throttle
from kiosk_backend.identity.models import ResidentSession

from ..conftest import PASSWORD
from ..core import test_ratelimit
from ..core.test_ratelimit import client_at

COOKIE = "kiosk_session"
# The rate limit tests' apps (small limits on memory and on Redis storage) as fixtures here too.
limited_app, limited = test_ratelimit.limited_app, test_ratelimit.limited


def log_in(db, client, resident, *, idle=145, absolute=900):
    """A resident's session on ``client``'s kiosk (as the QR login's consume makes one)."""
    record, token = sessions.start(db.session, channel="kiosk", resident=resident, kiosk_id=client.kiosk.id,
                                   idle_seconds=idle, absolute_seconds=absolute, actor=SYSTEM)
    db.session.commit()
    client.set_cookie(COOKIE, token, path="/kiosk")
    return record.id, token


def session_row(db, session_id) -> ResidentSession:
    db.session.expire_all()
    return db.session.get(ResidentSession, session_id)


def set_cookie_header(response, name=COOKIE) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def assert_cookie_deleted(response):
    header = set_cookie_header(response)
    assert header.startswith(f"{COOKIE}=;") and "Max-Age=0" in header and "Path=/kiosk" in header, header


def assert_wiped(response):
    assert_cookie_deleted(response)
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'  # never "cookies": the credential stays
    assert response.headers["Cache-Control"] == "no-store"
    assert not any(h.startswith("kiosk_credential=") for h in response.headers.getlist("Set-Cookie"))


def audit_actions(db, action) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# ---------------------------------------------------------------- logged in

def test_a_logged_in_page_greets_by_masked_name_with_logout_and_is_not_stored(db, kiosk_client, make_resident):
    log_in(db, kiosk_client, make_resident("欧阳娜娜"))
    response = kiosk_client.get("/kiosk/search")
    page = response.text
    assert response.status_code == 200
    assert "您好，欧**娜" in page and "欧阳娜娜" not in page
    assert 'action="/kiosk/logout"' in page and ">退出</button>" in page
    assert 'data-session="1"' in page and 'data-idle-active="1"' in page
    assert response.headers["Cache-Control"] == "no-store"
    # Home counts down too while someone is logged in (it does not otherwise).
    assert 'data-idle-active="1"' in kiosk_client.get("/kiosk/").text
    kiosk_client.delete_cookie(COOKIE, path="/kiosk")
    assert 'data-idle-active="0"' in kiosk_client.get("/kiosk/").text


def test_json_answers_during_a_session_are_not_stored_either(db, kiosk_client, make_resident):
    log_in(db, kiosk_client, make_resident())
    response = kiosk_client.post("/kiosk/session/extend")
    assert response.json["live"] is True
    assert response.headers["Cache-Control"] == "no-store"


def test_the_current_resident_is_in_the_kiosk_template_context(app, db, kiosk_client, make_resident):
    resident = make_resident("张三")
    _, token = log_in(db, kiosk_client, resident)
    with app.test_request_context("/kiosk/", headers={"Cookie": f"kiosk_credential=x; {COOKIE}={token}"}):
        from flask import g

        g.kiosk, g.actor = kiosk_client.kiosk, SYSTEM
        assert identity_kiosk.load_kiosk_session() is None
        context = identity_kiosk.session_context()
        assert context["current_resident"].id == resident.id and context["staff_at_kiosk"] is None
        assert context["session_who"] == "张*" and 0 < context["session_ends_in"] <= 900


def test_the_cookie_is_httponly_samesite_strict_on_kiosk_pages_and_secure_over_https(app):
    from flask import Response

    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        with app.test_request_context("/kiosk/", base_url=base):
            header = identity_kiosk.set_session_cookie(Response(), "t0ken").headers["Set-Cookie"]
            assert header.startswith("kiosk_session=t0ken;")
            assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/kiosk" in header
            assert ("Secure" in header) is secure
            assert "Max-Age" not in header and "Expires" not in header  # gone with the browser
            cleared = identity_kiosk.clear_session_cookie(Response()).headers["Set-Cookie"]
            assert cleared.startswith("kiosk_session=;") and "Max-Age=0" in cleared and "Path=/kiosk" in cleared


def test_a_new_login_in_the_answer_that_found_the_old_session_over_keeps_its_cookie(app):
    """The QR poll may find the old session over (deleting its cookie) and log the next
    resident in (setting a new one) in the same answer: the new cookie stays."""
    from flask import Response, g

    with app.test_request_context("/kiosk/login/challenges/1"):
        g.kiosk_session, g.kiosk_session_over = None, True
        response = identity_kiosk.session_headers(identity_kiosk.set_session_cookie(Response(), "n3w"))
        [header] = response.headers.getlist("Set-Cookie")
        assert header.startswith("kiosk_session=n3w;")
        assert response.headers["Cache-Control"] == "no-store"
    with app.test_request_context("/kiosk/login/challenges/1"):
        g.kiosk_session, g.kiosk_session_over = None, True
        response = identity_kiosk.session_headers(Response())
        assert_cookie_deleted(response)


# ---------------------------------------------------------------- 退出

def test_logout_ends_the_session_on_the_server_wipes_the_browser_and_goes_home(db, kiosk_client, make_resident):
    session_id, token = log_in(db, kiosk_client, make_resident("张三"))
    kiosk_client.get("/kiosk/search?lang=en&elder=1")
    response = kiosk_client.post("/kiosk/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/?signed_out=1"
    assert_wiped(response)
    for name in ("lang", "elder"):  # what the resident chose goes too, as at /kiosk/reset
        assert "Max-Age=0" in set_cookie_header(response, name)
    record = session_row(db, session_id)
    assert record.ended_at is not None and record.end_reason == "logout"
    [end] = audit_actions(db, "identity.session.end")
    assert (end.target, end.details["reason"]) == (f"session:{session_id}", "logout")
    assert end.actor.startswith("resident:")

    home = kiosk_client.get(response.headers["Location"])
    assert "已退出登录" in home.text and "张" not in home.text.split("<main", 1)[1]
    # The old token is worth nothing now, even presented again.
    kiosk_client.set_cookie(COOKIE, token, path="/kiosk")
    assert "session-who" not in kiosk_client.get("/kiosk/").text


def test_logout_from_another_site_is_refused(db, kiosk_client, make_resident):
    session_id, _ = log_in(db, kiosk_client, make_resident())
    response = kiosk_client.post("/kiosk/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert session_row(db, session_id).ended_at is None


def test_logout_without_a_session_just_goes_home(kiosk_client):
    response = kiosk_client.post("/kiosk/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/?signed_out=1"


# ---------------------------------------------------------------- the server's own ends

def age(db, session_id, **changes):
    db.session.execute(sa.update(ResidentSession).where(ResidentSession.id == session_id).values(**changes))
    db.session.commit()


@pytest.mark.parametrize(("changes", "reason"), [
    (lambda now: {"last_seen_at": now - timedelta(seconds=146)}, "idle"),
    (lambda now: {"expires_at": now - timedelta(seconds=1)}, "expired"),
])
def test_the_server_ends_an_idle_or_expired_session_and_the_next_page_is_home(db, kiosk_client, make_resident,
                                                                              changes, reason):
    session_id, _ = log_in(db, kiosk_client, make_resident("张三"), idle=145)
    kiosk_client.get("/kiosk/search?lang=en")
    age(db, session_id, **changes(utcnow()))
    response = kiosk_client.get("/kiosk/search?q=社保")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/?signed_out=1"
    assert_wiped(response)
    assert "Max-Age=0" in set_cookie_header(response, "lang")
    record = session_row(db, session_id)
    assert record.end_reason == reason
    [end] = audit_actions(db, "identity.session.end")
    assert end.details["reason"] == reason and end.actor == f"kiosk:{kiosk_client.kiosk.number}"
    home = kiosk_client.get("/kiosk/?signed_out=1")
    assert "已退出登录" in home.text and "session-who" not in home.text and 'data-session="1"' not in home.text


def test_a_live_session_is_kept_by_pages_and_extend_but_not_by_the_screens_own_requests(db, kiosk_client,
                                                                                         make_resident):
    session_id, _ = log_in(db, kiosk_client, make_resident())
    long_ago = utcnow() - timedelta(seconds=100)

    def seen():
        return session_row(db, session_id).last_seen_at

    for passive in (lambda: kiosk_client.get("/kiosk/session"),
                    lambda: kiosk_client.get("/kiosk/ping"),
                    lambda: kiosk_client.get("/kiosk/sw.js", headers={"Service-Worker": "script"}),
                    lambda: kiosk_client.get("/kiosk/help", headers={"Sec-Fetch-Dest": "serviceworker"})):
        age(db, session_id, last_seen_at=long_ago)
        assert passive().status_code < 400
        assert seen() == long_ago
    assert kiosk_client.get("/kiosk/session").json["live"] is True

    for active in (lambda: kiosk_client.get("/kiosk/help"), lambda: kiosk_client.post("/kiosk/session/extend")):
        age(db, session_id, last_seen_at=long_ago)
        assert active().status_code == 200
        assert seen() > long_ago + timedelta(seconds=90)


def test_the_offline_page_the_service_worker_keeps_knows_no_one(db, kiosk_client, make_resident):
    session_id, _ = log_in(db, kiosk_client, make_resident("张三"))
    long_ago = utcnow() - timedelta(seconds=100)
    age(db, session_id, last_seen_at=long_ago)
    page = kiosk_client.get("/kiosk/offline").text
    assert "张*" not in page and "session-bar" not in page and 'data-session="1"' not in page
    assert session_row(db, session_id).last_seen_at == long_ago
    assert "张*" in kiosk_client.get("/kiosk/help").text


def test_a_view_marked_not_activity_does_not_extend(db, app, kiosk_client, make_resident):
    view = app.view_functions["kiosk.session.status"]
    assert view.not_kiosk_activity is True  # what helper Q's QR poll uses: identity.kiosk.not_activity
    session_id, _ = log_in(db, kiosk_client, make_resident())
    long_ago = utcnow() - timedelta(seconds=100)
    age(db, session_id, last_seen_at=long_ago)
    status = kiosk_client.get("/kiosk/session").json
    assert status["live"] is True and 0 < status["idle_left"] <= 45
    assert session_row(db, session_id).last_seen_at == long_ago


def test_extend_after_the_server_ended_it_says_so(db, kiosk_client, make_resident):
    session_id, _ = log_in(db, kiosk_client, make_resident())
    age(db, session_id, last_seen_at=utcnow() - timedelta(hours=1))
    response = kiosk_client.post("/kiosk/session/extend")
    assert response.status_code == 200 and response.json == {"live": False}  # 200: the end is committed
    assert_wiped(response)
    assert session_row(db, session_id).end_reason == "idle"


@pytest.mark.parametrize(("query", "reason"), [("?end=idle", "idle"), ("?end=expired", "expired"), ("", "idle"),
                                               ("?end=logout", "idle")])
def test_the_screens_countdown_ends_the_session_at_reset(db, kiosk_client, make_resident, query, reason):
    session_id, _ = log_in(db, kiosk_client, make_resident())
    response = kiosk_client.get(f"/kiosk/reset{query}")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/?signed_out=1"
    assert_wiped(response)
    assert "Max-Age=0" in set_cookie_header(response, "lang")  # once
    assert session_row(db, session_id).end_reason == reason


def test_reset_without_a_session_keeps_the_offline_page(kiosk_client):
    response = kiosk_client.get("/kiosk/reset")
    assert response.headers["Location"] == "/kiosk/"
    assert response.headers["Clear-Site-Data"] == '"cache"'  # the service worker and its offline page stay
    assert not any(h.startswith(f"{COOKIE}=") for h in response.headers.getlist("Set-Cookie"))


def test_another_kiosks_cookie_is_refused_and_cleared(db, app, kiosk_client, make_kiosk, make_resident):
    session_id, token = log_in(db, kiosk_client, make_resident("张三"))
    other, credential = make_kiosk()
    thief = app.test_client()
    thief.set_cookie("kiosk_credential", credential)
    thief.set_cookie(COOKIE, token, path="/kiosk")
    response = thief.get("/kiosk/search")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/?signed_out=1"
    assert_cookie_deleted(response)
    home = thief.get("/kiosk/")
    assert "session-who" not in home.text
    assert session_row(db, session_id).ended_at is None  # its own kiosk keeps it
    assert "您好，张*" in kiosk_client.get("/kiosk/").text


def test_a_new_login_on_the_kiosk_replaces_the_old_one(db, kiosk_client, make_resident):
    first, _ = log_in(db, kiosk_client, make_resident("张三"))
    log_in(db, kiosk_client, make_resident("李四"))
    assert session_row(db, first).end_reason == "replaced"
    assert "您好，李*" in kiosk_client.get("/kiosk/").text


# ---------------------------------------------------------------- limits

def test_the_servers_idle_time_outlasts_the_screens_countdown(app, kiosk_client):
    kiosk = kiosk_client.kiosk
    profile = app.extensions["device_profiles"][kiosk.profile]
    idle, absolute = identity_kiosk.session_limits(kiosk, profile)
    assert idle == profile.idle_seconds + profile.idle_warning_seconds + identity_kiosk.SERVER_GRACE_SECONDS
    assert identity_kiosk.SERVER_GRACE_SECONDS > identity_kiosk.KEEPALIVE_SECONDS
    assert absolute == 15 * 60
    kiosk.settings = {"idle_timeout_seconds": 60, "idle_warning_seconds": 30}  # apply_settings wins
    app.config["KIOSK_KIOSK_SESSION_MAX_MINUTES"] = 5
    try:
        assert identity_kiosk.session_limits(kiosk, profile) == (60 + 30 + identity_kiosk.SERVER_GRACE_SECONDS, 300)
    finally:
        app.config["KIOSK_KIOSK_SESSION_MAX_MINUTES"] = 15


def test_the_page_tells_the_screen_how_long_the_session_may_last(db, kiosk_client, make_resident):
    log_in(db, kiosk_client, make_resident(), absolute=600)
    page = kiosk_client.get("/kiosk/help").text
    assert 'data-extend-url="/kiosk/session/extend"' in page
    ends_in = int(page.split('data-session-ends-in="', 1)[1].split('"', 1)[0])
    assert 590 <= ends_in <= 600
    assert "本次登录即将结束" in page  # the countdown's words for the absolute limit
    assert "秒后将自动退出登录并返回首页" in page


# ---------------------------------------------------------------- staff at a kiosk

def staff_login(client, username, password=PASSWORD):
    return client.post("/kiosk/staff-login", data={"username": username, "password": password})


@pytest.mark.parametrize(("role", "own_site"), [("helper", True), ("site_manager", True), ("admin", False)])
def test_staff_of_the_kiosks_site_and_admins_log_in_at_a_kiosk(db, site, site2, kiosk_client, make_staff,
                                                              role, own_site):
    user = make_staff("zhou", role=role, sites=[site if own_site else site2] if role != "admin" else [])
    user.display_name = "周明明"
    db.session.commit()
    assert 'href="/kiosk/staff-login"' in kiosk_client.get("/kiosk/help").text  # 人工帮助 leads there
    assert "工作人员登录" in kiosk_client.get("/kiosk/staff-login").text
    response = staff_login(kiosk_client, "zhou")
    assert response.status_code == 303 and response.headers["Location"] == "/kiosk/"
    header = set_cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/kiosk" in header
    db.session.expire_all()
    record = db.session.scalar(sa.select(ResidentSession).where(ResidentSession.staff_id == user.id))
    assert (record.channel, record.kiosk_id, record.resident_id) == ("kiosk", kiosk_client.kiosk.id, None)
    role_word = {"helper": "帮办员", "site_manager": "网点负责人", "admin": "管理员"}[role]
    home = kiosk_client.get("/kiosk/").text
    assert f"{role_word} 周*明" in home and "周明明" not in home
    [entry] = audit_actions(db, "kiosk.staff_login")
    assert entry.actor == "zhou" and entry.target == f"kiosk:{kiosk_client.kiosk.number}"
    assert audit_actions(db, "identity.session.start")[-1].actor == "zhou"
    # 退出 ends it like a resident's.
    assert kiosk_client.post("/kiosk/logout").status_code == 303
    db.session.expire_all()
    assert db.session.get(ResidentSession, record.id).end_reason == "logout"


@pytest.mark.parametrize("role", ["helper", "site_manager"])
def test_staff_of_another_site_are_refused_at_this_kiosk(db, site, site2, kiosk_client, make_staff, role):
    make_staff("wang", role=role, sites=[site2])
    response = staff_login(kiosk_client, "wang")
    assert response.status_code == 403
    assert "此账号不能在本机登录" in response.text
    assert COOKIE not in response.headers.get("Set-Cookie", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 0
    [refusal] = audit_actions(db, "kiosk.staff_login_refused")  # recorded although the request rolled back
    assert (refusal.actor, refusal.details["role"]) == ("wang", role)


def test_a_wrong_password_or_an_inactive_account_is_refused_alike(db, site, kiosk_client, make_staff):
    user = make_staff("li", role="helper", sites=[site])
    wrong = staff_login(kiosk_client, "li", "not the password")
    assert wrong.status_code == 401 and "用户名或密码" in wrong.text
    user.active = False
    db.session.commit()
    inactive = staff_login(kiosk_client, "li")
    assert inactive.status_code == 401 and inactive.text == wrong.text
    assert len(audit_actions(db, "login.failed")) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 0


def test_kiosk_staff_login_is_throttled_like_the_console(db, site, kiosk_client, make_staff):
    make_staff("li", role="helper", sites=[site])
    for _ in range(throttle.FREE_PER_USERNAME):
        assert staff_login(kiosk_client, "li", "guess").status_code == 401
    # Locked now: even the right password is refused, with the same answer.
    locked = staff_login(kiosk_client, "li")
    assert locked.status_code == 401
    assert audit_actions(db, "login.locked") and audit_actions(db, "login.lockout")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 0


def test_a_deactivated_helper_is_logged_out_at_the_kiosk(db, site, kiosk_client, make_staff):
    user = make_staff("zhao", role="helper", sites=[site])
    assert staff_login(kiosk_client, "zhao").status_code == 303
    user.active = False
    db.session.commit()
    response = kiosk_client.get("/kiosk/help")
    assert response.status_code == 303
    assert_wiped(response)
    db.session.expire_all()
    assert db.session.scalar(sa.select(ResidentSession.end_reason)) == "revoked"


def test_kiosk_staff_login_posts_are_rate_limited_like_the_console(limited):
    """The console's login limits (KIOSK_RATELIMIT_LOGIN_*) hold on the kiosk's staff login,
    on memory and Redis storage (tests/core/test_ratelimit.py's apps)."""
    limited.config["KIOSK_RATELIMIT_LOGIN_USERNAME"] = "3/minute"
    client = client_at(limited, "10.0.5.1")
    client.set_cookie("kiosk_credential", limited.credentials[0])
    assert client.get("/kiosk/staff-login").status_code == 200
    for _ in range(3):
        assert staff_login(client, "wang", "guess").status_code == 401
    assert staff_login(client, "wang", "guess").status_code == 429
    assert client.get("/kiosk/staff-login").status_code == 200  # only POSTs count
    assert staff_login(client, "li", "guess").status_code == 401
