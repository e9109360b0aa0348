"""The admin console through the test client: an access matrix over every /admin route,
CSRF on every form, login lockout, server-side sessions, the audit log, the fleet pages
and the catalog import page."""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog.models import Item
from kiosk_backend.core import audit
from kiosk_backend.core.audit import AuditEntry, AuditLogIsAppendOnly
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import heartbeats, services
from kiosk_backend.fleet.models import Alert, EnrolmentCode, Kiosk, KioskCommand, Site
from kiosk_backend.identity.models import AdminSession, StaffUser
from tests.conftest import item_row

from .conftest import PASSWORD, SITE2, csrf_of, login

# ===================================================================== the world every matrix walk starts from


@dataclass
class World:
    own_site: Site
    other_site: Site
    own_kiosk: Kiosk
    other_kiosk: Kiosk
    own_alert: Alert
    other_alert: Alert

    def ids(self, scope: str) -> dict:
        own = scope == "own"
        return {"site_id": (self.own_site if own else self.other_site).id,
                "kiosk_id": (self.own_kiosk if own else self.other_kiosk).id,
                "alert_id": (self.own_alert if own else self.other_alert).id}


@pytest.fixture
def world(db, make_site, make_kiosk, make_staff) -> World:
    own_site = make_site()
    other_site = make_site(**SITE2)
    own_kiosk, _ = make_kiosk(site=own_site)
    other_kiosk, _ = make_kiosk(site=other_site)
    alerts = []
    for kiosk in (own_kiosk, other_kiosk):
        heartbeats.record_heartbeat(db.session, kiosk, seq=1, app_version="1.0", profile=None,
                                    peripherals={"printer": "paper_out"}, session_active=False)
        alerts.append(db.session.scalar(sa.select(Alert).where(Alert.kiosk_id == kiosk.id)))
    db.session.commit()
    make_staff("admin", role="admin")
    make_staff("manager", role="site_manager", sites=[own_site])
    make_staff("helper", role="helper")
    return World(own_site, other_site, own_kiosk, other_kiosk, *alerts)


def site_form(**overrides) -> dict:
    form = {"name": "九江浔阳路邮政支局", "kind": "post_office", "province_code": "36", "city_code": "3604",
            "county_code": "360403", "address": "浔阳路 120 号", "phone": "0792-8221234",
            "hours_mon": "08:30-12:00,14:00-17:30", "hours_sat": "09:00-12:00",
            "holidays": "2026-10-01 休 国庆节\n2026-10-11 班 调休上班"}
    form.update(overrides)
    return form


def catalog_file(*rows) -> tuple[io.BytesIO, str]:
    data = json.dumps(list(rows or [item_row(task_code="IMP1")]), ensure_ascii=False).encode()
    return io.BytesIO(data), "items.json"


# What a valid request to each route sends (besides the CSRF token).
def body_for(endpoint: str) -> dict:
    return {
        "admin.fleet.send_command": {"kind": "show_message", "text": "今日下午停电检修", "seconds": "60"},
        "admin.sites.edit": site_form(),
        "admin.sites.new": site_form(code="JZ09", name="新网点"),
        "admin.fleet.new_code": {"valid_hours": "24", "profile": "post-office-portrait"},
        "admin.catalog.import_page": {"file": catalog_file()},
        "admin.identity.login": {"username": "nobody", "password": "wrong password"},
    }.get(endpoint, {})


QUERIES = {"admin.fleet.usage_json": ["site={site_id}", "kiosk={kiosk_id}", ""],
           "admin.fleet.code_qr": ["code=ACDEF-GHJKM"]}

# endpoint, method → (admin, site manager on own site, site manager on another site, helper, anonymous).
# "login" = redirected to the login page. A 302 elsewhere means the action was done.
LOGIN = "login"
MATRIX = {
    ("admin.fleet.grid", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.alerts", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.ack_alert", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.identity.audit_log", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.catalog.import_page", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.catalog.import_page", "POST"): (200, 403, 403, 403, LOGIN),
    ("admin.fleet.code_qr", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.kiosk", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.fleet.kiosk_action", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.fleet.send_command", "POST"): (302, 302, 404, 403, LOGIN),
    ("admin.identity.login", "GET"): (200, 200, 200, 200, 200),
    ("admin.identity.login", "POST"): (401, 401, 401, 401, 401),
    ("admin.identity.logout", "POST"): (LOGIN, LOGIN, LOGIN, LOGIN, LOGIN),  # revoked: checked after the walk
    ("admin.fleet.sites", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.site", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.fleet.new_code", "POST"): (200, 200, 404, 403, LOGIN),
    ("admin.sites.edit", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.sites.edit", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.sites.new", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.sites.new", "POST"): (302, 403, 403, 403, LOGIN),
    ("admin.fleet.usage", "GET"): (200, 200, 200, 403, LOGIN),
    ("admin.fleet.usage_json", "GET"): (200, 200, 404, 403, LOGIN),
    ("admin.jobs.page", "GET"): (200, 403, 403, 403, LOGIN),
    ("admin.jobs.retry", "POST"): (404, 403, 403, 403, LOGIN),  # no message named: 404
}
COLUMNS = {"admin": 0, "manager-own": 1, "manager-other": 2, "helper": 3, "anonymous": 4}


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]


def requests_for(app, ids: dict):
    """(endpoint, method, url) for every method of every /admin rule, with real ids.

    Kiosk actions come in the order authorize, rotate, revoke; revoke and logout last so
    that they do not spoil the requests after them.
    """
    adapter = app.url_map.bind("localhost")
    out = []
    for rule in admin_rules(app):
        values = [{}]
        if "action" in rule.arguments:
            values = [{"action": a} for a in ("authorize", "rotate", "revoke")]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for extra in values:
                args = {k: ids[k] for k in rule.arguments if k in ids} | extra
                url = adapter.build(rule.endpoint, args, method=method)
                for query in QUERIES.get(rule.endpoint, [""]):
                    out.append((rule.endpoint, method, url + ("?" + query.format(**ids) if query else "")))

    def order(request):
        endpoint, method, url = request
        return (method != "GET", endpoint == "admin.identity.logout", url.endswith("/revoke"))

    return sorted(out, key=order)


def test_the_matrix_lists_every_admin_route_and_method(app):
    routes = {(rule.endpoint, m) for rule in admin_rules(app) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(MATRIX), "add new /admin routes to MATRIX"


def test_no_admin_route_accepts_put_patch_or_delete(app):
    for rule in admin_rules(app):
        assert not rule.methods & {"PUT", "PATCH", "DELETE"}, rule


@pytest.mark.parametrize("who", list(COLUMNS))
def test_access_matrix_over_every_admin_route(app, db, world, who):
    client = app.test_client()
    csrf = ""
    if who != "anonymous":
        csrf = login(client, {"manager-own": "manager", "manager-other": "manager"}.get(who, who))
    scope = "other" if who == "manager-other" else "own"
    ids = world.ids(scope)
    before = _state(db, world, scope)
    wrong = []
    for endpoint, method, url in requests_for(app, ids):
        expected = MATRIX[(endpoint, method)][COLUMNS[who]]
        if endpoint == "admin.fleet.usage_json" and "?" not in url:  # no site or kiosk named: like the usage page
            expected = MATRIX[("admin.fleet.usage", "GET")][COLUMNS[who]]
        if method == "POST":
            data = {**body_for(endpoint), "csrf_token": csrf}
            response = client.post(url, data=data, content_type="multipart/form-data")
        else:
            response = client.get(url)
        got = response.status_code
        if expected == LOGIN:
            ok = got == 302 and "/admin/login" in response.headers["Location"]
        elif expected == 302:
            ok = got == 302 and "/admin/login" not in response.headers["Location"]
        else:
            ok = got == expected
        if not ok:
            wrong.append(f"{method} {url}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)
    if who in ("manager-other", "helper", "anonymous"):
        assert _state(db, world, scope) == before, "a refused request changed something"
    if who != "anonymous":  # the walk ended with logout
        assert db.session.scalar(sa.select(AdminSession.revoked_at)) is not None
        assert "/admin/login" in client.get("/admin/").headers["Location"]


def _state(db, world, scope: str) -> dict:
    """What the requests of a matrix walk could change on the site they name."""
    db.session.expire_all()
    ids = world.ids(scope)
    kiosk = db.session.get(Kiosk, ids["kiosk_id"])
    return {
        "kiosk": (kiosk.state, kiosk.rotate_requested, kiosk.credential_hash),
        "commands": db.session.scalar(sa.select(sa.func.count()).select_from(KioskCommand)
                                      .where(KioskCommand.kiosk_id == kiosk.id)),
        "alert": db.session.get(Alert, ids["alert_id"]).acknowledged_at,
        "codes": db.session.scalar(sa.select(sa.func.count()).select_from(EnrolmentCode)
                                   .where(EnrolmentCode.site_id == ids["site_id"])),
        "site": db.session.get(Site, ids["site_id"]).name,
        "sites": db.session.scalar(sa.select(sa.func.count()).select_from(Site)),
        "items": db.session.scalar(sa.select(sa.func.count()).select_from(Item)),
    }


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


def test_every_admin_page_sends_security_headers_and_has_no_inline_script(app, db, world):
    client = app.test_client()
    login(client, "admin")
    ids = world.ids("own")
    pages = [url for endpoint, method, url in requests_for(app, ids)
             if method == "GET" and endpoint not in ("admin.fleet.code_qr", "admin.fleet.usage_json")]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), f"inline script on {url}"
        assert not re.search(r"\son[a-z]+=\"", response.text), f"inline event handler on {url}"


# ===================================================================== CSRF

def _snapshot(db) -> dict:
    db.session.expire_all()
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted(map(repr, rows))
    return out


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_every_form_without_the_right_csrf_token_is_refused_and_changes_nothing(app, db, world, token):
    client = app.test_client()
    login(client, "admin")
    posts = [(endpoint, url) for endpoint, method, url in requests_for(app, world.ids("own"))
             if method == "POST" and endpoint != "admin.identity.login"]
    assert len(posts) >= 10
    before = _snapshot(db)
    for endpoint, url in posts:
        data = body_for(endpoint)
        if token is not None:
            data["csrf_token"] = token
        response = client.post(url, data=data, content_type="multipart/form-data")
        assert response.status_code == 400, (url, response.status_code)
    assert _snapshot(db) == before


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


def test_five_failures_lock_the_account_even_against_the_right_password(app, db, staff):
    client = app.test_client()
    for _ in range(5):
        assert client.post("/admin/login", data={"username": "admin", "password": "guess guess"}).status_code == 401
    locked = client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
    assert locked.status_code == 401 and "锁定" in locked.text
    assert "kiosk_admin" not in locked.headers.get("Set-Cookie", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdminSession)) == 0
    user = db.session.scalar(sa.select(StaffUser))
    assert user.locked_until is not None and user.locked_until > utcnow() + timedelta(minutes=14)
    assert _audit_actions(db, actor="admin") == ["login.failed"] * 4 + ["login.lockout", "login.failed", "login.locked"]


def test_the_lock_ends_after_its_time_and_a_good_login_resets_the_count(app, db, staff):
    client = app.test_client()
    for _ in range(5):
        client.post("/admin/login", data={"username": "admin", "password": "guess guess"})
    user = db.session.scalar(sa.select(StaffUser))
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(StaffUser.failed_logins)) == 0


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
        assert response.status_code in (200, 302), (url, response.status_code, response.text[:300])

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
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr><td>.*?</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", body)


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


def test_audit_entries_cannot_be_changed_or_deleted_through_the_orm(db):
    entry = audit.record(db.session, actor="wang", action="kiosk.revoke", target="kiosk:JZ01-01")
    db.session.commit()
    entry.actor = "someone else"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).actor == "wang"


@pytest.mark.parametrize("statement", [
    sa.update(AuditEntry).values(actor="someone else"),
    sa.delete(AuditEntry),
    sa.update(AuditEntry).where(AuditEntry.action == "kiosk.revoke").values(details={}),
])
def test_audit_entries_cannot_be_changed_or_deleted_in_bulk(db, statement):
    audit.record(db.session, actor="wang", action="kiosk.revoke", target="kiosk:JZ01-01")
    db.session.commit()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(statement)
    db.session.rollback()
    assert [(e.actor, e.details) for e in db.session.scalars(sa.select(AuditEntry))] == [("wang", {})]


def test_an_action_and_its_audit_entry_are_committed_together_or_not_at_all(db, make_kiosk):
    kiosk, _ = make_kiosk()
    services.revoke(db.session, kiosk, actor="wang")
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).state == "authorized"
    assert audit.search(db.session, action="kiosk.revoke") == []


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


def test_creating_a_site_through_the_form_stores_hours_and_holidays(app, db, make_staff):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    assert client.get("/admin/sites/new").status_code == 200
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09")})
    assert response.status_code == 302
    site = db.session.scalar(sa.select(Site).where(Site.code == "JZ09"))
    assert site.opening_hours["mon"] == [["08:30", "12:00"], ["14:00", "17:30"]] and site.opening_hours["sun"] == []
    assert site.holidays == [{"date": "2026-10-01", "open": False, "note": "国庆节"},
                             {"date": "2026-10-11", "open": True, "note": "调休上班"}]
    assert response.headers["Location"].endswith(f"/admin/sites/{site.id}")


@pytest.mark.parametrize("overrides,field", [
    ({"county_code": "320102"}, "county_code"),
    ({"province_code": "99"}, "province_code"),
    ({"city_code": "3201"}, "city_code"),
    ({"city_code": "abcd"}, "city_code"),
    ({"code": "jz 09"}, "code"),
    ({"latitude": "north"}, "latitude"),
    ({"phone": "call me"}, "phone"),
    ({"hours_mon": "17:00-09:00"}, "opening_hours"),
    ({"kind": "casino"}, "kind"),
    ({"holidays": "2026-13-45 休 坏日子"}, "holidays"),
])
def test_a_bad_site_form_gets_422_naming_the_field_and_writes_nothing(app, db, make_staff, overrides, field):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    form = {"csrf_token": csrf, **site_form(code="JZ09"), **overrides}
    response = client.post("/admin/sites/new", data=form)
    assert response.status_code == 422
    # The message stands right after the field's own input (the hours' after the last day).
    anchor = "hours_sun" if field == "opening_hours" else field
    shown = re.search(rf'id="{anchor}"(?:(?!id=").)*?<span class="field-error" role="alert">(.*?)</span>',
                      response.text, re.S)
    assert shown, f"no error shown at {field}"
    assert len(shown.group(1)) > 3 and re.search(r"[\u4e00-\u9fff]", shown.group(1)), shown.group(1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
    assert audit.search(db.session, action="site.") == []


def test_a_duplicate_site_code_is_refused_on_the_form(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ01")})
    assert response.status_code == 409 and "JZ01" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 2


def test_editing_a_site_updates_it_and_bad_codes_are_refused(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    assert client.get(f"/admin/sites/{world.own_site.id}/edit").status_code == 200
    bad = client.post(f"/admin/sites/{world.own_site.id}/edit", data={"csrf_token": csrf, **site_form(county_code="320102")})
    assert bad.status_code == 422 and "区县 江苏省南京市玄武区" not in bad.text and "不属于" in bad.text
    db.session.expire_all()
    assert db.session.get(Site, world.own_site.id).county_code == "360403"
    good = client.post(f"/admin/sites/{world.own_site.id}/edit", data={"csrf_token": csrf, **site_form(name="新名字")})
    assert good.status_code == 302
    db.session.expire_all()
    assert db.session.get(Site, world.own_site.id).name == "新名字"


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


# ===================================================================== catalog import page

def _import(client, csrf, data: bytes, filename: str = "items.json", **form):
    return client.post("/admin/catalog/import", content_type="multipart/form-data",
                       data={"csrf_token": csrf, "file": (io.BytesIO(data), filename), **form})


@pytest.fixture
def admin_console(app, make_staff):
    make_staff("admin")
    client = app.test_client()
    return client, login(client, "admin")


def _items(db) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(sa.select(Item.task_code)))


def test_importing_a_good_file_writes_the_items_and_reports(db, admin_console):
    client, csrf = admin_console
    assert client.get("/admin/catalog/import").status_code == 200
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_name="结婚登记")], ensure_ascii=False)
    response = _import(client, csrf, data.encode())
    assert response.status_code == 200 and "已导入" in response.text
    assert _items(db) == ["A1", "A2"]
    assert audit.search(db.session, action="catalog.import")[0].details == {"rows": 2, "created": 2, "updated": 0,
                                                                           "skipped": 0}


def test_importing_a_file_with_bad_rows_gets_422_lists_the_problems_and_writes_nothing(db, admin_console):
    client, csrf = admin_console
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_type="99")], ensure_ascii=False)
    response = _import(client, csrf, data.encode())
    assert response.status_code == 422 and "task_type" in response.text and "未导入" in response.text
    assert _items(db) == []
    assert audit.search(db.session, action="catalog.import") == []


def test_importing_can_skip_bad_rows(db, admin_console):
    client, csrf = admin_console
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_type="99")], ensure_ascii=False)
    assert _import(client, csrf, data.encode(), skip_invalid="1").status_code == 200
    assert _items(db) == ["A1"]


def test_a_dry_run_checks_but_writes_nothing(db, admin_console):
    client, csrf = admin_console
    response = _import(client, csrf, json.dumps([item_row(task_code="A1")]).encode(), dry_run="1")
    assert response.status_code == 200 and "未写入" in response.text
    assert _items(db) == []


@pytest.mark.parametrize("data,filename", [
    (b"\x00\x01 not a catalog", "items.json"), (b"{", "items.json"), (b"", "items.csv"),
    (b"PK\x03\x04\x14\x00", "items.xlsx"),  # a spreadsheet read as CSV: no national columns
])
def test_an_unreadable_file_gets_422_and_writes_nothing(db, admin_console, data, filename):
    client, csrf = admin_console
    response = _import(client, csrf, data, filename)
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert _items(db) == []


def test_importing_without_a_file_gets_422(db, admin_console):
    client, csrf = admin_console
    response = client.post("/admin/catalog/import", data={"csrf_token": csrf})
    assert response.status_code == 422 and "请选择要导入的文件" in response.text



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


@pytest.mark.parametrize("query", [{"q": NUL}, {"profile": NUL}, {"status": NUL}, {"site": NUL}])
def test_odd_fleet_filters_are_not_a_500(app, db, world, query):
    client = app.test_client()
    login(client, "admin")
    assert client.get("/admin/", query_string=query).status_code == 200


@pytest.mark.parametrize("field", ["name", "address", "holidays", "hours_mon", "code", "phone"])
def test_nul_bytes_in_the_site_form_get_422_not_500(app, db, make_staff, field):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09"), field: NUL})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0


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


def test_an_overlong_username_is_a_failed_login_not_a_500(app, db, staff):
    client = app.test_client()
    response = client.post("/admin/login", data={"username": "a" * 5000, "password": PASSWORD})
    assert response.status_code == 401 and "用户名或密码不正确" in response.text


@pytest.mark.parametrize("field,value", [("province_code", "36\n"), ("city_code", "3604\n"), ("county_code", "360403\n"),
                                         ("code", "JZ09\n"), ("phone", "0792-8221234\n"), ("province_code", "３６"),
                                         ("name", "九江\n邮政")])
def test_a_trailing_newline_or_wide_digits_do_not_slip_through_the_site_form(app, db, make_staff, field, value):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09"), field: value})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
