"""One commit per request (core.requests): below 400 commit, else roll back; a failing
commit becomes the error response; side records on independent_session() survive a
rolled-back request; views never commit and GET requests write nothing."""
from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from flask import Blueprint, abort, redirect
from werkzeug.security import generate_password_hash

from kiosk_backend.core import audit
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict
from kiosk_backend.core.requests import independent_session
from kiosk_backend.extensions import db as _db

PACKAGE = Path(__file__).resolve().parents[2] / "kiosk_backend"
PASSWORD = "correct horse battery"


# ===================================================================== a probe app

def _write(marker: str) -> None:
    """A write through the request's session, as a service makes it (added, not committed)."""
    audit.record(_db.session, actor=SYSTEM, action="probe.write", target=marker)


def _probe_blueprint(name: str, url_prefix: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=url_prefix)

    @bp.route("/status/<int:code>", methods=["GET", "POST"])
    def status(code):
        _write(f"status-{code}")
        if code == 302:
            return redirect("/")
        return "written", code

    @bp.post("/abort-404")
    def abort_404():
        _write("abort-404")
        abort(404)

    @bp.post("/domain-error")
    def domain_error():
        _write("domain-error")
        raise Conflict("Already decided.", "已经处理过了。")

    @bp.post("/duplicate/<int:entry_id>")
    def duplicate(entry_id):
        # Added without a flush: the unique violation is only found when core commits.
        _db.session.add(AuditEntry(id=entry_id, at=utcnow(), actor="system", action="probe.duplicate", details={}))
        return "saved?", 200

    @bp.post("/commit-fails")
    def commit_fails():
        _write("commit-fails")

        def refuse():
            raise sa_exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))

        _db.session().commit = refuse  # this request's session only: removed at teardown
        return "saved?", 200

    @bp.post("/side-record/<int:code>")
    def side_record(code):
        _write("request")
        with independent_session() as side:
            audit.record(side, actor=SYSTEM, action="probe.write", target="side")
        return "done", code

    return bp


@pytest.fixture
def probe(make_app):
    """A fresh app with probe views under /api/v1/_probe (JSON errors) and /m/_probe (HTML errors)."""
    app = make_app()
    app.register_blueprint(_probe_blueprint("probe_api", "/api/v1/_probe"))
    app.register_blueprint(_probe_blueprint("probe_page", "/m/_probe"))
    return app


def written(app) -> list[str]:
    with app.app_context():
        targets = list(_db.session.scalars(sa.select(AuditEntry.target).order_by(AuditEntry.id)))
        _db.session.remove()
        return targets


# ===================================================================== below 400 commit, else roll back

@pytest.mark.parametrize("code", [200, 201, 302])
def test_a_successful_response_commits_the_requests_writes(probe, code):
    response = probe.test_client().post(f"/api/v1/_probe/status/{code}")
    assert response.status_code == code
    assert written(probe) == [f"status-{code}"]


@pytest.mark.parametrize("code", [400, 404, 422, 500, 503])
def test_an_error_response_returned_by_a_view_rolls_the_writes_back(probe, code):
    response = probe.test_client().post(f"/api/v1/_probe/status/{code}")
    assert response.status_code == code
    assert written(probe) == []


@pytest.mark.parametrize("path, code", [("abort-404", 404), ("domain-error", 409)])
def test_a_raised_error_rolls_the_writes_back(probe, path, code):
    response = probe.test_client().post(f"/api/v1/_probe/{path}")
    assert response.status_code == code and response.get_json()["code"] == code
    assert written(probe) == []


def test_a_get_that_succeeds_commits_too(probe):
    assert probe.test_client().get("/api/v1/_probe/status/200").status_code == 200
    assert written(probe) == ["status-200"]


# ===================================================================== a failing commit is the answer

def test_an_integrity_error_found_at_commit_is_a_409_not_a_200(probe):
    client = probe.test_client()
    assert client.post("/api/v1/_probe/status/201").status_code == 201
    with probe.app_context():
        existing = _db.session.scalar(sa.select(AuditEntry.id))
        _db.session.remove()
    response = client.post(f"/api/v1/_probe/duplicate/{existing}")
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == 409 and body["message"] and body["message_zh"]
    assert written(probe) == ["status-201"]
    assert client.post("/api/v1/_probe/status/200").status_code == 200  # the session is usable again
    assert written(probe) == ["status-201", "status-200"]


def test_a_commit_that_fails_for_an_outage_is_a_503_with_retry_after(probe):
    response = probe.test_client().post("/api/v1/_probe/commit-fails")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["code"] == 503 and body["message_zh"].startswith("服务暂时不可用")
    assert written(probe) == []


def test_an_error_page_for_a_failed_commit_keeps_the_security_headers(probe):
    """The other after_request hooks (core.web) ran on the response the failure replaces."""
    response = probe.test_client().post("/m/_probe/commit-fails")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert response.headers["Retry-After"].isdigit()
    assert "no-store" in response.headers["Cache-Control"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert written(probe) == []


# ===================================================================== independent_session()

@pytest.mark.parametrize("code", [200, 409])
def test_an_independent_session_commits_whatever_becomes_of_the_request(probe, code):
    probe.test_client().post(f"/api/v1/_probe/side-record/{code}")
    assert sorted(written(probe)) == (["request", "side"] if code < 400 else ["side"])


def test_an_independent_session_rolls_back_when_its_block_fails(app, db):
    with pytest.raises(RuntimeError), independent_session() as side:
        audit.record(side, actor=SYSTEM, action="probe.write", target="never")
        side.flush()
        raise RuntimeError("boom")
    assert written(app) == []


def test_a_search_is_counted_even_when_the_kiosk_page_fails_afterwards(app, db, kiosk_client, make_items, monkeypatch):
    from kiosk_backend.catalog import services as catalog
    from kiosk_backend.fleet.models import UsageEvent
    from tests.conftest import item_row

    make_items(item_row(task_name="居民身份证申领"))

    def fail(*_args, **_kw):
        raise Conflict("Try again.", "请重试。")

    monkeypatch.setattr(catalog, "popular_items", fail)  # the page fails after the search was counted
    response = kiosk_client.get("/kiosk/search?q=身份证")
    assert response.status_code == 409  # the request's transaction is rolled back
    db.session.remove()
    kinds = list(db.session.scalars(sa.select(UsageEvent.kind)))
    assert kinds == ["search"]


def _staff(db, username: str, role: str = "admin"):
    from kiosk_backend.identity.models import StaffUser

    # A cheap hash: password hashing itself is tested in tests/identity.
    user = StaffUser(username=username, password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
                     role=role)
    db.session.add(user)
    db.session.commit()
    return user


def test_a_failed_console_login_is_counted_although_the_401_rolls_back(app, db):
    from kiosk_backend.identity.models import LoginThrottle

    _staff(db, "wang")
    client = app.test_client()
    for attempt in (1, 2):
        response = client.post("/admin/login", data={"username": "wang", "password": "wrong password"})
        assert response.status_code == 401
        db.session.remove()
        assert db.session.scalar(sa.select(LoginThrottle.failures).where(LoginThrottle.username == "wang")) == attempt
    assert [e.action for e in audit.search(db.session, action="login.failed")] == ["login.failed"] * 2


# ===================================================================== views never commit

ROUTE_MODULE_NAMES = {"kiosk.py", "mobile.py", "api.py", "admin.py"}
CORE_ROUTE_MODULES = {"core/jobs_admin.py", "core/kiosk_shell.py", "core/health.py"}
# path relative to kiosk_backend/ → why that module may commit. Empty on purpose: the
# heartbeat's quick path writes through fleet.heartbeats.quick_beat (one autocommit
# statement on an engine of its own, in the service module), and its transactional
# path leaves the commit to core like every other view.
COMMIT_ALLOWED: dict[str, str] = {}
_COMMIT = re.compile(r"\.commit\(|\.begin\(\)")


def route_modules() -> list[Path]:
    found = [p for p in PACKAGE.rglob("*.py") if p.name in ROUTE_MODULE_NAMES and "migrations" not in p.parts]
    found += [PACKAGE / name for name in CORE_ROUTE_MODULES]
    return sorted(found)


def test_the_route_modules_are_found():
    names = {p.relative_to(PACKAGE).as_posix() for p in route_modules()}
    assert {"fleet/api.py", "fleet/kiosk.py", "identity/admin.py", "catalog/api.py", "core/health.py"} <= names


def test_no_view_commits_core_commits_once_per_request():
    offenders = []
    for path in route_modules():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in COMMIT_ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if _COMMIT.search(code):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "views must not commit (core.requests does, once per request):\n" + "\n".join(offenders)


# ===================================================================== GET writes nothing

@pytest.fixture
def statements(app):
    """SQL statements sent while the fixture is active: ``statements()`` lists them."""
    seen: list[str] = []

    def listen(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", listen)
    yield lambda: list(seen)
    sa.event.remove(engine, "before_cursor_execute", listen)


def _login(client, username: str) -> None:
    response = client.post("/admin/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.text[:300]


def test_the_fleet_grid_does_not_open_offline_alerts_on_get(app, db, make_kiosk, statements):
    from kiosk_backend.fleet.models import Alert, Kiosk

    kiosk, _ = make_kiosk()
    db.session.execute(sa.update(Kiosk).where(Kiosk.id == kiosk.id).values(last_seen_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    _staff(db, "admin")
    client = app.test_client()
    _login(client, "admin")
    before = len(statements())
    response = client.get("/admin/")
    assert response.status_code == 200 and kiosk.number in response.text
    writes = [s for s in statements()[before:] if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", s, re.IGNORECASE)]
    # The only write a console GET may make is the session's sliding idle timeout (at most once a minute).
    assert all("identity_admin_session" in s for s in writes), writes
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
