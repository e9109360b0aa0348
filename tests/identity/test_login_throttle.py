"""Console login throttling (identity/throttle.py and services.login): locks per (username,
address) with backoff, a limit per address across usernames, unknown names treated exactly
like real ones, and claims taken before the password is checked, so parallel guesses check
no more passwords than allowed (on SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit
from kiosk_backend.core.i18n import translate
from kiosk_backend.identity import services, throttle
from kiosk_backend.identity.models import AdminSession, LoginThrottle, StaffUser
from tests.conftest import PASSWORD

WRONG = "not the password"
HERE, THERE = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def staff(make_staff):
    return make_staff("admin")


@pytest.fixture
def checked(monkeypatch):
    """The hashes passwords were checked against, in order (a spy on check_password_hash)."""
    seen: list[str] = []
    real = services.check_password_hash

    def spy(pwhash, password):
        seen.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(services, "check_password_hash", spy)
    return seen


def attempt(db, clock, username="admin", password=WRONG, ip=HERE):
    """One login through the service: "ok" or the refusal's message."""
    try:
        services.login(db.session, username=username, password=password, ip=ip, now=clock)
    except services.LoginRefused as exc:
        return exc.message_zh
    return "ok"


def row(db, username="admin", ip=HERE) -> LoginThrottle | None:
    db.session.expire_all()
    return db.session.get(LoginThrottle, (username, ip))


REFUSED = translate("admin.login.refused", "zh-CN")

# ===================================================================== keys and backoff


def test_backoff_starts_at_one_minute_and_doubles_up_to_fifteen():
    assert [throttle.lock_after(n, 5) for n in range(4, 11)] == [
        None, timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8),
        timedelta(minutes=15), timedelta(minutes=15)]
    assert throttle.lock_after(10_000, 5) == timedelta(minutes=15)


@pytest.mark.parametrize("ip,key", [
    ("10.1.2.3", "10.1.2.3"), ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"), ("::ffff:10.1.2.3", "10.1.2.3"),
    ("fe80::1%eth0", "fe80::/64"), (None, "unknown"), ("not an address", "not an address")])
def test_addresses_are_counted_ipv6_by_their_64_prefix(ip, key):
    assert throttle.address_key(ip) == key


@pytest.mark.parametrize("typed,key", [("Admin ", "admin"), ("ADMIN", "admin"), ("", None), ("a" * 65, None),
                                       ("a\x00b", None), ("王", "王")])
def test_usernames_are_counted_case_folded_and_impossible_ones_only_per_address(typed, key):
    assert throttle.username_key(typed) == key

# ===================================================================== per (username, address)


def test_five_failures_lock_that_username_from_that_address_only(db, staff, clock, checked):
    assert [attempt(db, clock) for _ in range(5)] == [REFUSED] * 5
    assert len(checked) == 5
    assert attempt(db, clock, password=PASSWORD) == REFUSED  # locked: even the right password
    assert len(checked) == 5  # and it was not even checked
    assert attempt(db, clock, password=PASSWORD, ip=THERE) == "ok"  # the owner, elsewhere, is not shut out
    assert attempt(db, clock, username="ADMIN", password=PASSWORD) == REFUSED  # case makes no new name
    assert row(db).locked_until == clock() + timedelta(minutes=1)


def test_each_lock_after_the_first_is_longer_up_to_fifteen_minutes(db, staff, clock):
    for _ in range(5):
        attempt(db, clock)
    locks = []
    for _ in range(6):
        locked = row(db).locked_until
        locks.append(locked - clock())
        clock.value = locked - timedelta(seconds=1)
        assert attempt(db, clock, password=PASSWORD) == REFUSED  # still locked a second before the end
        clock.value = locked
        assert attempt(db, clock) == REFUSED  # one guess when the lock ends, and a longer lock at once
    locks.append(row(db).locked_until - clock())
    assert locks == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15, 15)]
    clock.value = row(db).locked_until
    assert attempt(db, clock, password=PASSWORD) == "ok"
    assert row(db) is None  # a success forgets the row


def test_four_failures_and_a_success_start_the_count_again(db, staff, clock):
    for _ in range(4):
        attempt(db, clock)
    assert row(db).failures == 4
    assert attempt(db, clock, password=PASSWORD) == "ok"
    assert row(db) is None
    assert [attempt(db, clock) for _ in range(4)] + [attempt(db, clock, password=PASSWORD)] == [REFUSED] * 4 + ["ok"]


def test_a_count_untouched_for_a_day_starts_again(db, staff, clock):
    for _ in range(4):
        attempt(db, clock)
    clock.advance(days=1, seconds=1)
    attempt(db, clock)
    assert (row(db).failures, row(db).locked_until) == (1, None)

# ===================================================================== per address


def test_an_address_is_limited_across_usernames_and_the_others_are_not(db, staff, clock, checked, monkeypatch):
    monkeypatch.setattr(throttle, "FREE_PER_ADDRESS", 4)
    assert [attempt(db, clock, username=f"user{n}") for n in range(4)] == [REFUSED] * 4
    assert attempt(db, clock, password=PASSWORD) == REFUSED  # a name this address never tried
    assert len(checked) == 4
    assert row(db, username=throttle.ANY_USERNAME).locked_until == clock() + timedelta(minutes=1)
    assert row(db) is None  # refused by the address before the (admin, address) row was counted
    assert attempt(db, clock, password=PASSWORD, ip=THERE) == "ok"
    clock.advance(minutes=1)
    assert attempt(db, clock, password=PASSWORD) == "ok"
    address = row(db, username=throttle.ANY_USERNAME)
    assert (address.failures, address.locked_until) == (4, None)  # the success took its claim and lock back
    assert attempt(db, clock, username="user9") == REFUSED
    assert row(db, username=throttle.ANY_USERNAME).locked_until == clock() + timedelta(minutes=2)


def test_a_success_gives_its_claim_on_the_address_back(db, staff, clock):
    attempt(db, clock, username="somebody")
    for _ in range(3):
        assert attempt(db, clock, password=PASSWORD) == "ok"
    assert row(db, username=throttle.ANY_USERNAME).failures == 1  # the one failure only


def test_attempts_on_a_locked_name_do_not_use_up_the_address(db, staff, clock, monkeypatch):
    monkeypatch.setattr(throttle, "FREE_PER_ADDRESS", 8)
    for _ in range(5):
        attempt(db, clock, username="ghost")
    for _ in range(10):
        assert attempt(db, clock, username="ghost") == REFUSED
    assert row(db, username=throttle.ANY_USERNAME).failures == 5
    assert attempt(db, clock, password=PASSWORD) == "ok"

# ===================================================================== unknown names


def test_an_unknown_name_is_hashed_throttled_and_answered_like_a_real_one(db, staff, clock, checked):
    assert attempt(db, clock, username="ghost") == attempt(db, clock, username="admin") == REFUSED
    assert checked == [services._DUMMY_HASH, staff.password_hash]
    # The dummy hash costs what a real one does: the same scheme and parameters.
    assert services._DUMMY_HASH.split("$", 1)[0] == staff.password_hash.split("$", 1)[0] == "scrypt:32768:8:1"
    for _ in range(4):
        attempt(db, clock, username="ghost")
        attempt(db, clock, username="admin")
    assert row(db, username="ghost").locked_until == row(db, username="admin").locked_until is not None
    assert attempt(db, clock, username="ghost") == attempt(db, clock, username="admin") == REFUSED
    assert len(checked) == 10


def test_a_deactivated_account_is_checked_against_the_dummy_hash(db, staff, clock, checked):
    db.session.get(StaffUser, staff.id).active = False
    db.session.commit()
    assert attempt(db, clock, password=PASSWORD) == REFUSED
    assert checked == [services._DUMMY_HASH]


def _page(response, username: str) -> str:
    return response.text.replace(f'value="{username}"', 'value="…"')


def test_the_console_answers_a_wrong_password_an_unknown_name_and_a_lock_alike(app, db, staff):
    client = app.test_client()
    post = lambda name, password=WRONG: client.post("/admin/login", data={"username": name, "password": password})  # noqa: E731
    wrong, unknown = post("admin"), post("ghost")
    assert wrong.status_code == unknown.status_code == 401
    assert _page(wrong, "admin") == _page(unknown, "ghost")
    assert REFUSED in wrong.text and translate("admin.login.refused", "en") in wrong.text
    for _ in range(4):
        post("admin"), post("ghost")
    locked_real, locked_unknown = post("admin", PASSWORD), post("ghost", PASSWORD)
    assert locked_real.status_code == locked_unknown.status_code == 401
    assert _page(locked_real, "admin") == _page(locked_unknown, "ghost") == _page(wrong, "admin")
    assert "Set-Cookie" not in locked_real.headers
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdminSession)) == 0


def test_through_the_console_another_address_still_logs_in(app, db, staff):
    attacker, owner = app.test_client(), app.test_client()
    attacker.environ_base["REMOTE_ADDR"], owner.environ_base["REMOTE_ADDR"] = HERE, THERE
    for _ in range(6):
        assert attacker.post("/admin/login", data={"username": "admin", "password": WRONG}).status_code == 401
    assert attacker.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 401
    assert owner.post("/admin/login", data={"username": "admin", "password": PASSWORD}).status_code == 302

# ===================================================================== audit


def test_failures_lockouts_and_locked_attempts_are_audited_without_passwords(app, db, staff):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = HERE
    for _ in range(5):
        client.post("/admin/login", data={"username": "admin", "password": "guess guess"})
    client.post("/admin/login", data={"username": "admin", "password": PASSWORD})
    db.session.expire_all()
    entries = list(reversed(audit.search(db.session, actor="admin")))
    assert [e.action for e in entries] == ["login.failed"] * 4 + ["login.lockout", "login.failed", "login.locked"]
    assert all(e.ip == HERE for e in entries)
    assert entries[4].details["scope"] == "username"
    stored = repr([(e.actor, e.action, e.target, e.details) for e in entries])
    assert "guess guess" not in stored and PASSWORD not in stored

# ===================================================================== jobs


def test_rows_untouched_for_a_day_are_forgotten_unless_still_locked(db, clock):
    old = clock() - timedelta(days=1, seconds=1)
    db.session.add_all([
        LoginThrottle(username="a", ip=HERE, failures=3, last_failure_at=old),
        LoginThrottle(username="b", ip=HERE, failures=30, last_failure_at=old, locked_until=clock() + timedelta(minutes=1)),
        LoginThrottle(username="c", ip=HERE, failures=3, last_failure_at=clock() - timedelta(hours=23)),
    ])
    db.session.commit()
    assert throttle.forget(db.session, now=clock) == 1
    assert set(db.session.scalars(sa.select(LoginThrottle.username))) == {"b", "c"}

# ===================================================================== races


@pytest.fixture
def race_app(make_app):
    """An app whose pool has a connection for every thread (each holds two at most)."""
    return make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 30, "max_overflow": 0, "pool_timeout": 30,
                                               "pool_pre_ping": True})


THREADS = 12


@pytest.mark.parametrize("scope", ["username", "address"])
def test_parallel_guesses_check_no_more_passwords_than_allowed(race_app, monkeypatch, scope):
    """Twelve guesses at once: on the same name, five passwords are checked; on twelve names
    from one address (the address limit set to four here), four."""
    from kiosk_backend.extensions import db
    from tests.conftest import _password_hash

    monkeypatch.setattr(throttle, "FREE_PER_ADDRESS", 4 if scope == "address" else 20)
    allowed = 4 if scope == "address" else 5
    with race_app.app_context():
        db.session.add(StaffUser(username="admin", password_hash=_password_hash(), role="admin"))
        db.session.commit()
    checks: list[str] = []
    real = services.check_password_hash
    monkeypatch.setattr(services, "check_password_hash", lambda h, p: checks.append(h) or real(h, p))
    barrier = threading.Barrier(THREADS)
    statuses: list = [None] * THREADS

    def guess(i):
        client = race_app.test_client()
        client.environ_base["REMOTE_ADDR"] = HERE
        username = "admin" if scope == "username" else f"user{i}"
        try:
            barrier.wait(timeout=10)
            statuses[i] = client.post("/admin/login", data={"username": username, "password": WRONG}).status_code
        except Exception as exc:  # reported to the test
            statuses[i] = exc

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert statuses == [401] * THREADS
    assert len(checks) == allowed
    with race_app.app_context():
        key = "admin" if scope == "username" else throttle.ANY_USERNAME
        locked = db.session.get(LoginThrottle, (key, HERE))
        assert locked.failures == allowed and locked.locked_until is not None
        actions = [e.action for e in audit.search(db.session, action="login.")]
        assert sorted(set(actions)) == ["login.failed", "login.locked", "login.lockout"]
        assert actions.count("login.failed") == allowed and actions.count("login.locked") == THREADS - allowed
        db.session.remove()
