"""Fleet and admin-console fixtures: a settable clock, a second site, staff accounts and a
logged-in console client."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import pytest
import sqlalchemy as sa

UTC = timezone.utc
# Monday 2 March 2026, 10:00 in Shanghai (02:00 UTC): most sites are open.
MONDAY_10 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

SITE2 = dict(code="JZ02", kind="bank_branch", name="建设银行九江分行营业部", province_code="36", city_code="3604",
             county_code="360402", address="长虹大道 399 号")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


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
            identity.assign_sites(db.session, user, [s.id for s in sites], actor="test")
        db.session.commit()
        return user

    return _make


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token hidden input on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the form; returns the CSRF token of the new session."""
    response = client.post("/admin/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.text[:500]
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import AdminSession

    db.session.expire_all()
    record = db.session.scalar(sa.select(AdminSession).order_by(AdminSession.id.desc()).limit(1))
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


@pytest.fixture
def site2(make_site):
    return make_site(**SITE2)


def run_in_threads(app, count: int, work):
    """Run ``work(i)`` in ``count`` threads at once, each with its own app context and
    database session; returns the results (or exceptions) in order."""
    from kiosk_backend.extensions import db

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results
