"""One error shape everywhere; database outages become 503 and heal by themselves; each
surface answers errors with its own page (kiosk, phone, console) or JSON (API)."""
from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc as sa_exc
from werkzeug.security import generate_password_hash

from kiosk_backend.core.errors import Conflict, error_payload
from kiosk_backend.extensions import db


def test_error_payload_has_the_documented_keys():
    assert error_payload(409, "Taken.", "已被占用。") == {
        "code": 409, "status": "Conflict", "message": "Taken.", "message_zh": "已被占用。", "errors": {}}


def test_a_domain_error_becomes_its_status_in_json(make_app):
    app = make_app()

    @app.get("/api/v1/_test_conflict")
    def _conflict():
        raise Conflict("Already decided.", "已经处理过了。", errors={"state": "confirmed"})

    body = app.test_client().get("/api/v1/_test_conflict").get_json()
    assert body == {"code": 409, "status": "Conflict", "message": "Already decided.", "message_zh": "已经处理过了。",
                    "errors": {"state": "confirmed"}}


def test_an_unexpected_exception_is_a_500_without_details(make_app):
    app = make_app()

    @app.get("/api/v1/_test_boom")
    def _boom():
        raise RuntimeError("secret internals")

    app.config["TESTING"] = False  # let the handler run instead of re-raising
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/v1/_test_boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["message_zh"] and "secret" not in response.get_data(as_text=True)


def test_a_405_uses_the_same_shape(client):
    body = client.post("/api/v1/catalog/items").get_json()
    assert body["code"] == 405 and body["message_zh"]


def test_kiosk_errors_are_pages_not_json(kiosk_client):
    response = kiosk_client.get("/kiosk/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.fixture
def broken_sqlite_app(make_app, tmp_path):
    missing_dir = tmp_path / "not-yet"
    app = make_app(create_schema=False, DATABASE_URL=f"sqlite:///{missing_dir / 'kiosk.db'}")
    return app, missing_dir


def test_an_unreachable_database_gives_503_with_retry_after_and_recovers(broken_sqlite_app):
    app, missing_dir = broken_sqlite_app
    client = app.test_client()
    response = client.get("/api/v1/catalog/items?q=社保")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.get_json()["message_zh"].startswith("服务暂时不可用")
    client.set_cookie("kiosk_credential", "some-kiosk")
    assert client.get("/kiosk/search?q=社保").status_code == 503  # the kiosk gets a plain page
    assert client.get("/healthz").status_code == 503

    missing_dir.mkdir()  # the database comes back: no restart needed
    with app.app_context():
        db.create_all()
    assert client.get("/api/v1/catalog/items?q=社保").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "sqlite"}


# ===================================================================== error pages per surface
PASSWORD = "correct horse battery"


def locked() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))


def staff_client(app, db, username="admin", role="admin"):
    """A console client signed in as a new staff member (cheap hash: hashing is tested in tests/identity)."""
    from kiosk_backend.identity.models import StaffUser

    db.session.add(StaffUser(username=username, role=role,
                             password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
    db.session.commit()
    client = app.test_client()
    assert client.post("/admin/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


def is_console_page(response) -> bool:
    text = response.get_data(as_text=True)
    return (response.mimetype == "text/html" and 'class="admin"' in text and "/admin/logout" in text
            and 'href="/admin/sites' in text)


def is_kiosk_page(response) -> bool:
    text = response.get_data(as_text=True)
    return (response.mimetype == "text/html" and 'class="btn primary huge" href="/kiosk/"' in text
            and 'class="bottombar"' in text)


def test_a_missing_console_object_is_a_console_page_with_the_menu(app, db):
    client = staff_client(app, db)
    response = client.get("/admin/kiosks/999999")
    assert response.status_code == 404 and is_console_page(response)
    assert "404 Not Found" in response.text


def test_a_console_url_that_matches_no_route_is_a_console_page_with_the_menu(app, db):
    client = staff_client(app, db)
    response = client.get("/admin/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert is_console_page(response), "the signed-in staff member's menu is missing"


def test_a_site_manager_on_an_admin_page_gets_a_console_403(app, db):
    client = staff_client(app, db, "li", role="site_manager")
    response = client.get("/admin/audit")
    assert response.status_code == 403 and is_console_page(response)
    assert "仅管理员" in response.text and "Only administrators" in response.text


def test_a_kiosk_404_is_the_kiosk_page_with_a_big_way_home(kiosk_client):
    for path in ("/kiosk/no-such-page", "/kiosk/items/NOSUCHITEM0001"):
        response = kiosk_client.get(path)
        assert response.status_code == 404 and is_kiosk_page(response), path


def test_a_locked_database_on_the_kiosk_is_a_503_page_with_retry_after(kiosk_client, monkeypatch):
    from kiosk_backend.catalog import services as catalog

    def fail(*_args, **_kw):
        raise locked()

    monkeypatch.setattr(catalog, "popular_items", fail)
    response = kiosk_client.get("/kiosk/")
    assert response.status_code == 503 and is_kiosk_page(response)
    assert response.headers["Retry-After"].isdigit()
    assert "服务暂时不可用" in response.text
    assert "no-store" in response.headers["Cache-Control"]


def test_a_missing_sqlite_table_is_a_bug_not_an_outage(kiosk_client, monkeypatch):
    from kiosk_backend.catalog import services as catalog

    def fail(*_args, **_kw):
        raise sa_exc.OperationalError("SELECT * FROM nope", {}, sqlite3.OperationalError("no such table: nope"))

    monkeypatch.setattr(catalog, "popular_items", fail)
    response = kiosk_client.get("/kiosk/")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert is_kiosk_page(response)


def test_a_mobile_404_is_the_phone_page(client):
    response = client.get("/m/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert 'class="mobile' in text and 'role="alert"' in text and "bottombar" not in text


def test_an_api_404_is_json_in_both_languages(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "message_zh", "errors"}
    assert body["code"] == 404 and body["status"] == "Not Found" and body["message"] and body["message_zh"]
    missing = client.get("/api/v1/catalog/items/NOSUCHITEM0001").get_json()
    assert missing["code"] == 404 and missing["message_zh"]


@pytest.mark.parametrize("path, home", [("/kiosk/no-such-page", "/kiosk/"), ("/m/no-such-page", "/m/"),
                                        ("/admin/no-such-page", "/admin/")])
def test_when_the_surface_page_cannot_render_a_bare_page_still_helps(app, db, kiosk_client, monkeypatch, path, home):
    from kiosk_backend.core import errors

    # Each surface as its own users reach it: an enrolled kiosk, a phone, a signed-in admin.
    client = {"/kiosk/": kiosk_client, "/m/": app.test_client(), "/admin/": None}[home] or staff_client(app, db)

    def broken(*_args, **_kw):
        raise RuntimeError("template needs something broken")

    monkeypatch.setattr(errors, "render_template", broken)
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert f'href="{home}"' in text and "返回首页" in text and "Home" in text
    assert 'lang="en"' in text and "<h1>" in text  # the Chinese sentence and the English one


def test_a_constraint_that_catches_a_race_at_flush_is_a_409_as_at_commit(make_app):
    """On PostgreSQL a unique index is checked at INSERT, so a race shows up when a service
    flushes, not only when core commits: the answer is the same 409 either way."""
    from kiosk_backend.core.audit import AuditEntry
    from kiosk_backend.core.clock import utcnow

    app = make_app()

    @app.post("/api/v1/_test_race")
    def _race():
        for _ in range(2):
            db.session.add(AuditEntry(id=7, at=utcnow(), actor="system", action="race", details={}))
            db.session.flush()
        return "saved?", 200

    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().post("/api/v1/_test_race")
    assert response.status_code == 409 and response.get_json()["message_zh"]


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/api/v1/catalog/items", {"GET", "HEAD", "OPTIONS"}),
    ("DELETE", "/admin/login", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("PUT", "/kiosk/activate", {"GET", "HEAD", "OPTIONS", "POST"}),
])
def test_a_405_says_which_methods_are_allowed(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
