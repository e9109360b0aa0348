"""Shared fixtures. The database is SQLite (a temporary file) unless
KIOSK_TEST_DATABASE_URL names a PostgreSQL database, in which case every run works in
a fresh schema that is dropped at the end.

Tests build their schema with ``create_all`` (migrations are tested on their own in
tests/test_migrations.py); every test starts from empty tables.
"""
from __future__ import annotations

import io
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient

from kiosk_backend.app import create_app
from kiosk_backend.config import normalize_database_url
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.extensions import db as _db
from kiosk_backend.extensions import limiter as _limiter

if TYPE_CHECKING:
    from kiosk_backend.fleet.models import Alert, Kiosk
    from kiosk_backend.sites.models import Site

PG_URL = os.environ.get("KIOSK_TEST_DATABASE_URL")
# Test apps count rate limits in memory with limits no test reaches by accident (the limit
# code still runs); tests/core/test_ratelimit.py builds apps with real limits and Redis.
RELAXED_RATE_LIMITS = {"RATELIMIT_STORAGE_URI": "memory://", **{f"KIOSK_RATELIMIT_{name}": "100000/minute" for name in (
    "LOGIN_USERNAME", "LOGIN_IP", "ENROLMENT_IP", "SEARCH_KIOSK", "SEARCH_IP", "TOKEN_IP", "TOKEN_RESIDENT",
    "QR_KIOSK", "QR_RESIDENT", "QR_IP", "LOOKUP_KIOSK", "LOOKUP_IP", "LOOKUP_NUMBER")}}


def pytest_report_header(config):
    return f"kiosk-backend test database: {'postgresql' if PG_URL else 'sqlite'}"


class Database:
    """Creates scratch databases: SQLite files or PostgreSQL schemas."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._schemas: list[str] = []
        self._admin = sa.create_engine(normalize_database_url(PG_URL)) if PG_URL else None

    @property
    def dialect(self) -> str:
        return "postgresql" if PG_URL else "sqlite"

    def new_url(self) -> str:
        if not PG_URL:
            return f"sqlite:///{self.tmp / f'kiosk-{uuid.uuid4().hex[:8]}.db'}"
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        self._schemas.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    def close(self) -> None:
        if self._admin is None:
            return
        # One transaction per schema: dropping them all in one takes a lock per table and
        # overflows PostgreSQL's lock table (max_locks_per_transaction) once a run has made many.
        for schema in self._schemas:
            with self._admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    factory = Database(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


class BufferedClient(FlaskClient):
    """Reads every response to the end and closes it, as a browser would: a file sent by
    send_file is then closed too (warnings are errors in this suite).

    Each request runs in an app context of its own, as it does in production, so that
    nothing it leaves in ``g`` (a kiosk, a staff user, a language) leaks into the next request
    and lets a test pass for the wrong reason. The test's own session is expired afterwards,
    so that it reads what the request committed rather than what it had cached."""

    def open(self, *args, buffered: bool = True, **kwargs):
        with self.application.app_context():
            response = super().open(*args, buffered=buffered, **kwargs)
        if has_app_context() and _db.session.registry.has():
            _db.session.expire_all()
        return response


# Every app the tests built, oldest first (see _release_connections).
_MADE_APPS: list = []


@pytest.fixture(autouse=True)
def _release_connections():
    """Close the pooled connections of the apps a test built once the test is over (their
    engines stay usable and connect again if a later test uses them). Without it every app
    a test builds keeps its idle connections to the end of the run, and a PostgreSQL run
    that builds dozens of apps runs out of server connections ("too many clients")."""
    before = len(_MADE_APPS)
    yield
    for app in _MADE_APPS[before:]:
        with app.app_context():
            _db.engine.dispose()


@pytest.fixture(scope="session")
def make_app(databases, tmp_path_factory):
    """Build an app on a new scratch database: ``make_app(KIOSK_IDLE_SECONDS=5)``."""
    made = _MADE_APPS

    def _make(create_schema: bool = True, **config):
        url = config.pop("DATABASE_URL", None) or databases.new_url()
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "TESTING": True,
                          "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")), **RELAXED_RATE_LIMITS, **config})
        app.test_client_class = BufferedClient
        if create_schema:
            with app.app_context():
                _db.create_all()
        made.append(app)
        return app

    yield _make
    for app in made:
        with app.app_context():
            _db.engine.dispose()


@pytest.fixture(scope="session")
def _shared_app(make_app):
    return make_app()


@pytest.fixture
def app(_shared_app):
    """The shared test app with empty tables, inside an app context."""
    with _shared_app.app_context():
        _empty_tables()
        _limiter.reset()  # counters start at zero in every test
        yield _shared_app
        _db.session.remove()


def _empty_tables():
    from kiosk_backend.catalog.services import forget_search_index

    forget_search_index()
    _db.session.remove()
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


# ---------------------------------------------------------------- factories

def item_row(**overrides) -> dict:
    """A minimal valid import row; override any national field."""
    row = {
        "task_name": "居民身份证申领",
        "task_code": f"T{uuid.uuid4().hex[:20].upper()}",
        "dept_name": "江州市公安局",
        "task_type": "07",
    }
    row.update(overrides)
    return row


@pytest.fixture
def make_items(db):
    """Import rows through the real importer: ``make_items(item_row(...), ...)``."""
    from kiosk_backend.catalog import services

    def _make(*rows: dict):
        data = json.dumps(list(rows), ensure_ascii=False).encode()
        checked = services.check_file(data, fmt="json")
        assert not checked.problems, [p.as_dict() for p in checked.problems]
        services.import_items(db.session, checked, actor=SYSTEM)
        db.session.commit()
        return rows

    return _make


@pytest.fixture
def demo_catalog(db):
    from kiosk_backend.catalog import services

    result = services.load_demo_catalog(db.session)
    db.session.commit()
    return result


@pytest.fixture
def admin_token(db):
    from kiosk_backend.identity import services as identity

    identity.create_staff(db.session, username="admin", password="correct horse battery", role="admin", actor=SYSTEM)
    token = identity.issue_token(db.session, username="admin", name="tests", actor=SYSTEM)
    db.session.commit()
    return token


# ---------------------------------------------------------------- time

# Monday 2 March 2026, 10:00 in Shanghai (02:00 UTC): most sites are open.
MONDAY_10 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class Clock:
    """A clock for services' ``now=`` argument: ``clock.advance(minutes=5)``."""

    def __init__(self, start: datetime = MONDAY_10):
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **delta) -> datetime:
        self.value += timedelta(**delta)
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ---------------------------------------------------------------- sites

SITE = dict(code="JZ01", kind="post_office", name="九江浔阳路邮政营业所", province_code="36", city_code="3604",
            county_code="360403", address="浔阳路 118 号")
SITE2 = dict(code="JZ02", kind="bank_branch", name="建设银行九江分行营业部", province_code="36", city_code="3604",
             county_code="360402", address="长虹大道 399 号")
WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def make_site(db):
    from kiosk_backend.sites import services as sites

    def _make(**overrides):
        site = sites.create_site(db.session, actor=SYSTEM, **{**SITE, **overrides})
        db.session.commit()
        return site

    return _make


@pytest.fixture
def site(make_site):
    return make_site()


@pytest.fixture
def site2(make_site):
    return make_site(**SITE2)


# ---------------------------------------------------------------- fleet

@pytest.fixture
def make_kiosk(db, make_site):
    """An enrolled kiosk and its credential: ``kiosk, credential = make_kiosk(authorized=True)``."""
    from kiosk_backend.fleet import services as fleet
    from kiosk_backend.sites.models import Site

    def _make(*, authorized: bool = True, profile: str = "post-office-portrait", site=None):
        site = site or db.session.scalar(sa.select(Site).where(Site.code == SITE["code"])) or make_site()
        code, _ = fleet.create_enrolment_code(db.session, site=site, actor="test", pre_authorized=authorized)
        kiosk, credential = fleet.activate(db.session, code=code, profile=profile)
        db.session.commit()
        return kiosk, credential

    return _make


@pytest.fixture
def kiosk_client(app, make_kiosk):
    """A test client that is an authorized kiosk (credential cookie set)."""
    kiosk, credential = make_kiosk()
    client = app.test_client()
    client.set_cookie("kiosk_credential", credential)
    client.kiosk = kiosk
    return client


# ---------------------------------------------------------------- admin console

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@lru_cache(maxsize=1)
def _password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD, method="scrypt")


@pytest.fixture
def make_staff(db):
    """``make_staff("li", role="site_manager", sites=[site])``: an account whose password is PASSWORD.

    The scrypt hash is computed once per run (0.3 s each); create_staff itself is tested
    in tests/identity.
    """
    from kiosk_backend.identity import services as identity
    from kiosk_backend.identity.models import StaffUser

    def _make(username: str, role: str = "admin", sites=()):
        user = StaffUser(username=username, password_hash=_password_hash(), role=role)
        db.session.add(user)
        db.session.flush()
        if sites:
            identity.assign_sites(db.session, user, [s.id for s in sites], actor=SYSTEM)
        db.session.commit()
        return user

    return _make


@pytest.fixture
def make_resident(db):
    """``make_resident(name="张三", subject="demo-1")``: a resident vouched for by the demo
    provider, with masked ID number and phone; the identity services that make residents
    from identity providers' claims are tested in tests/identity."""
    from kiosk_backend.identity.models import Resident

    made = iter(range(1, 10**6))

    def _make(name: str = "张三", *, provider: str = "demo", subject: str | None = None,
              id_number_masked: str = "1101**********002X", phone_masked: str = "138****8000",
              id_number: str | None = None):
        from kiosk_backend.identity import residents

        resident = Resident(provider=provider, subject=subject or f"subject-{next(made)}", name=name,
                            id_number_masked=id_number_masked, phone_masked=phone_masked)
        if id_number:  # then "my applications" finds the applications made with this ID number
            resident.id_number_hash = residents.keyed_hash("id", id_number)
            resident.id_number_masked = residents.mask_id_number(id_number)
        db.session.add(resident)
        db.session.commit()
        return resident

    return _make


# The path of events that brings a new application to each state (applications/states.py).
APPLICATION_PATHS = {
    "received": [],
    "accepted": [("accept", {})],
    "not_accepted": [("refuse", {"reason": "不属于本机关职权范围"})],
    "supplement_requested": [("request_supplement", {"missing": ("户口簿原件",)})],
    "supplemented": [("request_supplement", {"missing": ("户口簿原件",)}), ("supplement", {})],
    "in_progress": [("accept", {}), ("start", {})],
    "special_procedure": [("accept", {}), ("start", {}), ("suspend", {"reason": "现场核查"})],
    "concluded": [("accept", {}), ("start", {}), ("conclude", {"outcome": "approved"})],
    "delivered": [("accept", {}), ("start", {}), ("conclude", {"outcome": "approved"}),
                  ("deliver", {"delivery": "window"})],
    "rated": [("accept", {}), ("start", {}), ("conclude", {"outcome": "approved"}),
              ("deliver", {"delivery": "window"}), ("rate", {})],
}
APPLICANT_ID = "11010519491231002X"
APPLICANT_PHONE = "13800138000"


@pytest.fixture
def make_application(db):
    """``make_application(state="in_progress", number=..., id_number=..., phone=...)``: an
    application created and moved through applications.services with the shipped calendar.
    Events start on ``received_at`` (default Monday 2 March 2026, 09:00 CST) a day apart."""
    from kiosk_backend.applications import services
    from kiosk_backend.core.workdays import Calendar

    made = iter(range(1, 10**6))
    calendar = Calendar.shipped()

    def _make(state: str = "received", *, number: str | None = None, name: str = "张三",
              id_number: str | None = APPLICANT_ID, phone: str | None = APPLICANT_PHONE,
              received_at: datetime | None = None, promise_days: int = 20, promise_unit: str = "工作日",
              mode: str = "local", item_name: str = "居民身份证换领", task_code: str = "TEST-ITEM",
              handling_org: str = "九江市公安局", handling_region: str = "360400",
              receiving_org: str = "九江市政务服务中心", receiving_region: str = "360400", client=None):
        start = received_at or datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        data = services.NewApplication(
            number=number or f"TEST{next(made):08d}", task_code=task_code, item_name=item_name, mode=mode,
            applicant=services.Applicant(name=name, id_number=id_number, phone=phone),
            receiving_org=receiving_org, receiving_region=receiving_region, handling_org=handling_org,
            handling_region=handling_region, received_at=start, promise_days=promise_days,
            promise_unit=promise_unit)
        application, _ = services.create_application(db.session, data, actor="system", actor_name=receiving_org,
                                                     client=client)
        for step, (action, details) in enumerate(APPLICATION_PATHS[state], start=1):
            services.apply_event(db.session, application.number,
                                 services.NewEvent(action=action, occurred_at=start + timedelta(days=step), **details),
                                 actor="system", actor_name=handling_org, client=client, calendar=calendar)
        db.session.commit()
        return application

    return _make


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token hidden input on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the form; returns the CSRF token of the new session."""
    response = client.post("/admin/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.text[:500]
    from kiosk_backend.identity.models import AdminSession

    _db.session.expire_all()
    record = _db.session.scalar(sa.select(AdminSession).order_by(AdminSession.id.desc()).limit(1))
    return record.csrf_token


@pytest.fixture
def console(app, make_staff):
    """``client, csrf = console("admin")``: a test client logged in as a new admin (or other role)."""

    def _open(username: str = "admin", role: str = "admin", sites=()):
        make_staff(username, role=role, sites=sites)
        client = app.test_client()
        csrf = login(client, username)
        return client, csrf

    return _open


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
    """The console's world: two sites with a kiosk and an open paper-out alert each, an
    admin, a site manager of the own site ("manager") and a helper."""
    from kiosk_backend.fleet import heartbeats
    from kiosk_backend.fleet.models import Alert

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
    """A valid console site form (new or edit); override any field."""
    form = {"name": "九江浔阳路邮政支局", "kind": "post_office", "province_code": "36", "city_code": "3604",
            "county_code": "360403", "address": "浔阳路 120 号", "phone": "0792-8221234",
            "hours_mon": "08:30-12:00,14:00-17:30", "hours_sat": "09:00-12:00",
            "holidays": "2026-10-01 休 国庆节\n2026-10-11 班 调休上班"}
    form.update(overrides)
    return form


def catalog_file(*rows) -> tuple[io.BytesIO, str]:
    """A catalog import upload for a multipart form: ``{"file": catalog_file()}``."""
    data = json.dumps(list(rows or [item_row(task_code="IMP1")]), ensure_ascii=False).encode()
    return io.BytesIO(data), "items.json"
