"""The console's identity pages through the test client (identity/admin.py): login,
lockout, server-side sessions, logout, the CSRF token, the audit log page."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet.models import EnrolmentCode, Kiosk
from kiosk_backend.identity.models import AdminSession, LoginThrottle, StaffUser
from tests.conftest import PASSWORD, catalog_file, csrf_of, login, site_form

# ===================================================================== CSRF

def test_another_sessions_csrf_token_is_refused(app, db, world, make_staff):
    make_staff("admin2")
    mine, theirs = app.test_client(), app.test_client()
    login(mine, "admin")
    their_token = login(theirs, "admin2")
    url = f"/admin/kiosks/{world.own_kiosk.id}/revoke"
    assert mine.post(url, data={"csrf_token": their_token}).status_code == 400
    assert db.session.get(Kiosk, world.own_kiosk.id).state == "authorized"


def test_the_csrf_token_may_come_in_a_header_and_is_on_every_form(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    page = client.get(f"/admin/kiosks/{world.own_kiosk.id}").text
    forms = re.findall(r"<form method=\"post\".*?</form>", page, re.S)
    assert forms and all(f'name="csrf_token" value="{csrf}"' in form for form in forms)
    assert csrf_of(page) == csrf
    response = client.post(f"/admin/kiosks/{world.own_kiosk.id}/rotate", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 302
    assert db.session.get(Kiosk, world.own_kiosk.id).rotate_requested is True

# ===================================================================== login, lockout, sessions

@pytest.fixture
def staff(make_staff):
    return make_staff("admin")


def _audit_actions(db, actor=None):
    db.session.expire_all()
    return [e.action for e in reversed(audit.search(db.session, actor=actor))]


def test_logging_in_sets_an_httponly_strict_cookie_whose_hash_only_is_stored(app, db, staff):
    client = app.test_client()
    page = client.get("/admin/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    response = client.post("/admin/login", data={"username": "admin", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    assert len(token) >= 22
    record = db.session.scalar(sa.select(AdminSession))
    assert record.token_hash == token_hash(token) and token not in record.token_hash
    assert record.ip == "10.1.2.3" and len(record.csrf_token) >= 22
    assert client.get("/admin/").status_code == 200
    assert audit.search(db.session, action="login")[0].ip == "10.1.2.3"


def test_every_login_gets_a_new_session_token(app, db, staff):
    tokens = set()
    for _ in range(2):
        client = app.test_client()
        response = client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
        tokens.add(response.headers["Set-Cookie"].split(";", 1)[0])
    assert len(tokens) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdminSession)) == 2


@pytest.mark.parametrize("target,expected", [
    ("/admin/sites", "/admin/sites"), ("https://evil.example/", "/admin/"), ("//evil.example/admin/", "/admin/"),
    ("/kiosk/", "/admin/"),
])
def test_login_goes_back_only_to_console_pages(app, staff, target, expected):
    client = app.test_client()
    response = client.post("/admin/login", query_string={"next": target},
                           data={"username": "admin", "password": PASSWORD})
    assert response.headers["Location"] == expected


def test_an_anonymous_visit_is_sent_to_login_and_returns_afterwards(app, staff):
    client = app.test_client()
    response = client.get("/admin/sites?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/sites")


def test_wrong_password_and_unknown_user_get_the_same_answer(app, db, staff):
    client = app.test_client()
    wrong = client.post("/admin/login", data={"username": "admin", "password": "not the password"})
    unknown = client.post("/admin/login", data={"username": "ghost", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    message = re.compile(r'<p class="form-error" role="alert">(.*?)</p>', re.S)
    assert message.search(wrong.text).group(1) == message.search(unknown.text).group(1)
    assert "Set-Cookie" not in wrong.headers
    assert _audit_actions(db) == ["login.failed", "login.failed"]


def test_five_failures_lock_the_account_from_that_address_even_against_the_right_password(app, db, staff):
    """More in tests/identity/test_login_throttle.py."""
    client = app.test_client()
    for _ in range(5):
        assert client.post("/admin/login", data={"username": "admin", "password": "guess guess"}).status_code == 401
    locked = client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
    assert locked.status_code == 401 and "尝试次数过多" in locked.text
    assert "kiosk_admin" not in locked.headers.get("Set-Cookie", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdminSession)) == 0
    row = db.session.get(LoginThrottle, ("admin", "127.0.0.1"))
    assert row.locked_until is not None and row.locked_until > utcnow() + timedelta(seconds=50)
    assert _audit_actions(db, actor="admin") == ["login.failed"] * 4 + ["login.lockout", "login.failed", "login.locked"]


def test_the_lock_ends_after_its_time_and_a_good_login_resets_the_count(app, db, staff):
    client = app.test_client()
    for _ in range(5):
        client.post("/admin/login", data={"username": "admin", "password": "guess guess"})
    db.session.get(LoginThrottle, ("admin", "127.0.0.1")).locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 302
    db.session.expire_all()
    assert db.session.get(LoginThrottle, ("admin", "127.0.0.1")) is None


def test_four_failures_then_success_do_not_lock(app, db, staff):
    client = app.test_client()
    for _ in range(4):
        client.post("/admin/login", data={"username": "admin", "password": "guess guess"})
    assert client.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 302
    for _ in range(4):  # the count started again
        client.post("/admin/login", data={"username": "admin", "password": "guess guess"})
    assert client.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 302


def test_a_deactivated_account_cannot_log_in_and_its_sessions_end(app, db, staff):
    client = app.test_client()
    login(client, "admin")
    db.session.scalar(sa.select(StaffUser)).active = False
    db.session.commit()
    assert client.get("/admin/").status_code == 302
    assert client.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 401


def _session_row(db) -> AdminSession:
    db.session.expire_all()
    return db.session.scalar(sa.select(AdminSession).order_by(AdminSession.id.desc()).limit(1))


def test_an_idle_session_expires_on_the_server(app, db, staff):
    client = app.test_client()
    login(client, "admin")
    _session_row(db).last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_session_ends_at_its_absolute_limit_however_active(app, db, staff):
    client = app.test_client()
    login(client, "admin")
    _session_row(db).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert "/admin/login" in client.get("/admin/sites").headers["Location"]


def test_browsing_pages_that_write_nothing_keeps_the_session_alive(app, db, staff):
    client = app.test_client()
    login(client, "admin")
    twenty_minutes_ago = utcnow() - timedelta(minutes=20)
    _session_row(db).last_seen_at = twenty_minutes_ago
    db.session.commit()
    assert client.get("/admin/sites").status_code == 200
    assert _session_row(db).last_seen_at > twenty_minutes_ago + timedelta(minutes=19)


def test_a_wrong_password_under_an_old_console_cookie_is_a_quick_401_and_is_counted(app, db, staff):
    """The login page must not touch the cookie's session: on SQLite that pending write
    would hold the lock the failure count needs (busy timeout, then a 503, uncounted)."""
    client = app.test_client()
    login(client, "admin")
    five_minutes_ago = utcnow() - timedelta(minutes=5)
    _session_row(db).last_seen_at = five_minutes_ago
    db.session.commit()
    started = time.monotonic()
    response = client.post("/admin/login", data={"username": "admin", "password": "not the password"})
    assert response.status_code == 401 and time.monotonic() - started < 5
    db.session.expire_all()
    assert db.session.get(LoginThrottle, ("admin", "127.0.0.1")).failures == 1
    assert _audit_actions(db, actor="admin")[-1] == "login.failed"
    assert _session_row(db).last_seen_at == five_minutes_ago


def test_logout_revokes_the_session_on_the_server_and_clears_the_browser(app, db, staff):
    client = app.test_client()
    csrf = login(client, "admin")
    token = client.get_cookie("kiosk_admin", path="/admin").value
    response = client.post("/admin/logout", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/login")
    assert '"cookies"' in response.headers["Clear-Site-Data"] and '"storage"' in response.headers["Clear-Site-Data"]
    assert re.search(r"kiosk_admin=;.*Path=/admin", response.headers["Set-Cookie"])
    assert _session_row(db).revoked_at is not None
    assert "logout" in _audit_actions(db, actor="admin")
    replay = app.test_client()
    replay.set_cookie("kiosk_admin", token, path="/admin")
    assert "/admin/login" in replay.get("/admin/").headers["Location"]


def test_a_helper_may_log_out_of_the_console_it_cannot_use(app, db, make_staff):
    make_staff("helper", role="helper")
    client = app.test_client()
    csrf = login(client, "helper")
    assert client.get("/admin/").status_code == 403
    assert client.post("/admin/logout", data={"csrf_token": csrf}).status_code == 302
    assert _session_row(db).revoked_at is not None

# ===================================================================== audit log

def test_console_actions_are_audited_with_who_what_and_from_where(app, db, world, make_kiosk):
    client = app.test_client()
    csrf = login(client, "admin")
    env = {"REMOTE_ADDR": "10.9.8.7"}
    pending, _ = make_kiosk(authorized=False, site=world.own_site)
    kiosk = world.own_kiosk

    def post(url, **data):
        response = client.post(url, data={"csrf_token": csrf, **data}, environ_base=env,
                               content_type="multipart/form-data")
        assert response.status_code in (200, 302, 303), (url, response.status_code, response.text[:300])

    post(f"/admin/kiosks/{pending.id}/authorize")
    post(f"/admin/kiosks/{kiosk.id}/rotate")
    post(f"/admin/kiosks/{kiosk.id}/commands", kind="reload", force="1")
    post(f"/admin/alerts/{world.own_alert.id}/ack")
    post("/admin/sites/new", **site_form(code="JZ09"))
    post(f"/admin/sites/{world.own_site.id}/codes", valid_hours="48", pre_authorized="1")
    post("/admin/catalog/import", file=catalog_file())
    post(f"/admin/kiosks/{kiosk.id}/revoke")
    db.session.expire_all()
    entries = {e.action: e for e in audit.search(db.session, actor="admin")}
    expected = {
        "kiosk.authorize": f"kiosk:{pending.number}", "kiosk.rotate_request": f"kiosk:{kiosk.number}",
        "command.reload": f"kiosk:{kiosk.number}", "alert.acknowledge": f"kiosk:{kiosk.number}",
        "site.create": "site:JZ09", "enrolment_code.create": "site:JZ01", "catalog.import": "items.json",
        "kiosk.revoke": f"kiosk:{kiosk.number}",
    }
    for action, target in expected.items():
        assert action in entries, action
        assert (entries[action].target, entries[action].ip) == (target, "10.9.8.7"), action
    assert entries["command.reload"].details["force"] is True
    assert entries["enrolment_code.create"].details == {
        "hint": db.session.scalar(sa.select(EnrolmentCode.hint).where(EnrolmentCode.site_id == world.own_site.id)
                                  .order_by(EnrolmentCode.id.desc()).limit(1)),
        "pre_authorized": True, "valid_hours": 48}
    assert entries["catalog.import"].details["created"] == 1


@pytest.fixture
def audit_entries(db, make_staff):
    make_staff("admin")
    for i in range(3):
        audit.record(db.session, actor="wang", action="kiosk.revoke", target=f"kiosk:JZ01-0{i + 1}")
    audit.record(db.session, actor="li", action="kiosk.authorize", target="kiosk:JZ02-01")
    audit.record(db.session, actor="li", action="site.create", target="site:JZ02")
    db.session.commit()


def _audit_rows(html: str) -> list[tuple[str, str, str]]:
    """(actor, action code, target) per row; the action is shown in words, its code in the title."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr><td>.*?</td><td>(.*?)</td><td><span title="(.*?)">.*?</span></td><td>(.*?)</td>', body)


def test_the_audit_log_lists_entries_newest_first(app, audit_entries):
    client = app.test_client()
    login(client, "admin")
    rows = [r for r in _audit_rows(client.get("/admin/audit").text) if r[0] != "admin"]
    assert rows == [("li", "site.create", "site:JZ02"), ("li", "kiosk.authorize", "kiosk:JZ02-01"),
                    ("wang", "kiosk.revoke", "kiosk:JZ01-03"), ("wang", "kiosk.revoke", "kiosk:JZ01-02"),
                    ("wang", "kiosk.revoke", "kiosk:JZ01-01")]


@pytest.mark.parametrize("query,expected", [
    ("actor=li", [("li", "site.create", "site:JZ02"), ("li", "kiosk.authorize", "kiosk:JZ02-01")]),
    ("action=kiosk.authorize", [("li", "kiosk.authorize", "kiosk:JZ02-01")]),
    ("action=site.", [("li", "site.create", "site:JZ02")]),
    ("target=JZ02", [("li", "site.create", "site:JZ02"), ("li", "kiosk.authorize", "kiosk:JZ02-01")]),
    ("actor=wang&target=JZ01-02", [("wang", "kiosk.revoke", "kiosk:JZ01-02")]),
    ("actor=nobody", []),
    ("action=%", []), ("target=_", []), ("action=kiosk_", []),  # typed text, not LIKE patterns
])
def test_the_audit_log_filters_by_actor_action_prefix_and_target(app, audit_entries, query, expected):
    client = app.test_client()
    login(client, "admin")
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 200
    assert _audit_rows(response.text) == expected


def test_the_audit_log_pages_back_through_older_entries(app, db, make_staff):
    make_staff("admin")
    for i in range(105):
        audit.record(db.session, actor="bulk", action="kiosk.rotate", target=f"kiosk:{i:03d}")
    db.session.commit()
    client = app.test_client()
    login(client, "admin")
    first = client.get("/admin/audit?actor=bulk").text
    assert len(_audit_rows(first)) == 100 and _audit_rows(first)[0][2] == "kiosk:104"
    more = re.search(r'href="\?([^"]*before=\d+)"', first).group(1).replace("&amp;", "&")
    rest = _audit_rows(client.get(f"/admin/audit?{more}").text)
    assert [r[2] for r in rest] == [f"kiosk:{i:03d}" for i in range(4, -1, -1)]

# ===================================================================== odd bytes

NUL = "a\x00b"


def test_nul_bytes_in_the_login_form_are_a_failed_login_not_a_500(app, db, staff):
    client = app.test_client()
    assert client.post("/admin/login", data={"username": NUL, "password": NUL}).status_code == 401
    assert client.post("/admin/login", data={"username": "admin", "password": NUL}).status_code == 401


@pytest.mark.parametrize("query", [f"actor={NUL}", f"action={NUL}", f"target={NUL}", "before=x"])
def test_odd_audit_filters_are_not_a_500(app, db, staff, query):
    client = app.test_client()
    login(client, "admin")
    assert client.get("/admin/audit", query_string=dict([query.split("=", 1)])).status_code == 200


def test_an_overlong_username_is_a_failed_login_not_a_500(app, db, staff):
    client = app.test_client()
    response = client.post("/admin/login", data={"username": "a" * 5000, "password": PASSWORD})
    assert response.status_code == 401 and "用户名或密码错误" in response.text


@pytest.mark.parametrize("target", ["/admin/%0d%0aSet-Cookie:%20x=1", "/admin/\r\nX: y", "https://evil.example/admin/"])
def test_a_next_address_that_is_not_a_plain_console_page_goes_to_the_grid(app, db, make_staff, target):
    from urllib.parse import quote

    make_staff("admin")
    client = app.test_client()
    response = client.post("/admin/login?next=" + quote(target, safe="%/:"),
                           data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/") and "\n" not in response.headers["Location"]


def test_the_audit_log_shows_actions_and_details_in_words_not_codes_and_json(app, db, make_staff):
    make_staff("admin")
    audit.record(db.session, actor="wang", action="enrolment_code.create", target="site:JZ01",
                 details={"hint": "K7Q", "pre_authorized": True, "valid_hours": 48})
    audit.record(db.session, actor="wang", action="command.maintenance_on", target="kiosk:JZ01-01",
                 details={"command": 7, "force": False, "reason": "换纸"})
    audit.record(db.session, actor="JZ01-01", action="kiosk.activate", target="site:JZ01",
                 details={"profile": "community-tablet", "code_hint": "K7Q", "state": "pending"})
    audit.record(db.session, actor="li", action="something.new", details={"odd_key": ["a", "b"]})
    db.session.commit()
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/audit").text
    body = page.split("<tbody>", 1)[1]
    for words in ("生成激活码", "激活码尾号：K7Q", "预授权：是", "有效小时：48",
                  "发送指令：进入维护（暂停服务）", "立即执行：否", "原因：换纸",
                  "终端激活", "状态：待授权", "odd_key：a、b"):
        assert words in body, words
    assert "{&#34;" not in body and '{"' not in body       # no raw JSON
    assert ">enrolment_code.create<" not in body and ">kiosk.activate<" not in body
    assert 'title="something.new">something.new<' in body  # an action without words yet keeps its code
    english = client.get("/admin/audit?lang=en").text.split("<tbody>", 1)[1]
    assert "Enrolment code created" in english and "pre-authorized: yes" in english
    assert "Command sent: Start maintenance (pause service)" in english


def test_every_action_the_code_audits_has_words_in_both_languages():
    from pathlib import Path

    from kiosk_backend.core.i18n import LANGUAGES, catalogue

    source = Path(audit.__file__).resolve().parent.parent
    written = set()
    for path in source.rglob("*.py"):
        written.update(re.findall(r'action="([a-z_]+(?:\.[a-z_]+)*)"', path.read_text(encoding="utf-8")))
    assert {"kiosk.revoke", "enrolment_code.create", "kiosk.credential_revoke"} <= written
    missing = sorted(a for a in written
                     if not all(catalogue().get(f"admin.audit_action.{a}", {}).get(lang) for lang in LANGUAGES))
    assert not missing, missing


def test_resident_login_and_qr_challenge_actions_have_words_in_both_languages():
    """The QR challenge's actions are written as identity.challenge.<move> (not found by the
    source scan above), the residents' by name."""
    from kiosk_backend.core.i18n import LANGUAGES, catalogue

    actions = [f"identity.challenge.{move}" for move in ("create", "scan", "confirm", "deny", "consume", "expire")]
    actions += ["identity.resident.create", "identity.resident.update", "identity.resident.login_refused",
                "identity.session.start", "identity.session.end"]
    missing = [a for a in actions if not all(catalogue().get(f"admin.audit_action.{a}", {}).get(lang)
                                             for lang in LANGUAGES)]
    assert not missing, missing


# ---------------------------------------------------------------- resident logins page

def _challenge(db, kiosk, *, resident=None, flagged=True, at=None, scan_ip="10.1.1.1", decision_ip="10.1.1.2"):
    from datetime import timedelta

    from kiosk_backend.core.clock import utcnow
    from kiosk_backend.core.tokens import new_token, token_hash
    from kiosk_backend.identity.models import LoginChallenge

    at = at or utcnow()
    challenge = LoginChallenge(token_hash=token_hash(new_token()), kiosk_id=kiosk.id, match_code="4821",
                               state="denied" if flagged else "consumed", created_at=at,
                               expires_at=at + timedelta(seconds=120), decided_at=at, resident=resident,
                               flagged=flagged, scan_ip=scan_ip, decision_ip=decision_ip)
    db.session.add(challenge)
    db.session.commit()
    return challenge


def test_the_logins_page_lists_flagged_challenges_masked_and_scoped_to_the_managers_sites(app, db, world,
                                                                                          make_resident):
    from kiosk_backend.identity.models import Resident

    resident = make_resident("欧阳娜娜")
    _challenge(db, world.own_kiosk, resident=db.session.get(Resident, resident.id), scan_ip="10.7.7.7")
    _challenge(db, world.other_kiosk, resident=None, decision_ip="10.8.8.8")
    _challenge(db, world.own_kiosk, flagged=False, scan_ip="10.9.9.9")
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/logins")
    assert page.status_code == 200
    assert 'href="/admin/logins"' in page.text  # in the console's navigation
    assert world.own_kiosk.number in page.text and world.other_kiosk.number in page.text
    assert "欧**娜" in page.text and "欧阳娜娜" not in page.text and "138****8000" in page.text
    assert "10.7.7.7" in page.text and "10.8.8.8" in page.text and "10.9.9.9" not in page.text  # flagged only
    manager = app.test_client()
    login(manager, "manager")
    mine = manager.get("/admin/logins")
    assert world.own_kiosk.number in mine.text and world.other_kiosk.number not in mine.text
    helper = app.test_client()
    login(helper, "helper")
    assert helper.get("/admin/logins").status_code == 403


def test_the_logins_page_counts_sessions_today_and_this_week_by_channel_and_reason(app, db, world, make_resident):
    from datetime import timedelta

    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.core.clock import utcnow
    from kiosk_backend.identity import admin as identity_admin
    from kiosk_backend.identity import sessions

    resident = make_resident()
    now = utcnow()
    ago = lambda **delta: (lambda: now - timedelta(**delta))  # noqa: E731
    for channel, kiosk, when in [("kiosk", world.own_kiosk, ago(minutes=1)), ("mobile", None, ago(minutes=2)),
                                 ("api", None, ago(minutes=3)), ("kiosk", world.other_kiosk, ago(days=3)),
                                 ("mobile", None, ago(days=9))]:
        record, _ = sessions.start(db.session, channel=channel, resident=resident, actor=SYSTEM, idle_seconds=60,
                                   absolute_seconds=3600, kiosk_id=kiosk.id if kiosk else None, now=when)
        if channel == "mobile":
            sessions.end(db.session, record, reason="logout", actor=SYSTEM, now=when)
    db.session.commit()
    today, week = identity_admin.session_counts(db.session, site_ids=None, now=lambda: now)
    assert (today["name"], week["name"]) == ("today", "week")
    assert week["started"] == 4 and week["by_channel"] == {"kiosk": 2, "mobile": 1, "api": 1}
    assert week["ended"] == 1 and week["by_reason"] == {"logout": 1}
    assert today["started"] <= week["started"]
    own = identity_admin.session_counts(db.session, site_ids={world.own_site.id}, now=lambda: now)
    assert own[1]["by_channel"] == {"kiosk": 1} and own[1]["ended"] == 0
    client = app.test_client()
    login(client, "admin")
    page = client.get("/admin/logins?lang=en")
    assert "Last 7 days" in page.text and "Mini-app" in page.text and "Logged out" in page.text
