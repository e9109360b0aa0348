"""QR login challenges (identity/qr_login.py): every transition and every illegal one, expiry
at scan, confirm and consume, replay, first decision wins, only the resident who scanned
decides; 50 concurrent confirms and 50 concurrent consumes, exactly one wins (SQLite and
PostgreSQL). Times come from a settable clock."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM, Actor, ActorKind
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Forbidden, NotFound
from kiosk_backend.core.states import IllegalTransition
from kiosk_backend.identity import qr_login, sessions
from kiosk_backend.identity.models import LoginChallenge, ResidentSession
from kiosk_backend.identity.qr_login import CHALLENGE, ChallengeGone, ChallengeState
from tests.races import run_in_threads

S = ChallengeState


def who(resident) -> Actor:
    return Actor(ActorKind.RESIDENT, str(resident.id), resident.name)


def create(db, clock, kiosk):
    challenge, token = qr_login.create_challenge(db.session, kiosk=kiosk, actor=SYSTEM, now=clock)
    db.session.commit()
    return challenge, token


def scan(db, clock, token, resident):
    return qr_login.scan(db.session, token, resident=resident, actor=who(resident), now=clock)


def confirm(db, clock, token, resident):
    return qr_login.confirm(db.session, token, resident=resident, actor=who(resident), now=clock)


def deny(db, clock, token, resident):
    return qr_login.deny(db.session, token, resident=resident, actor=who(resident), now=clock)


def consume(db, clock, challenge, kiosk):
    return qr_login.consume(db.session, challenge.id, kiosk=kiosk, actor=SYSTEM, now=clock)


def moves(db) -> list[str]:
    return [e.action.removeprefix("identity.challenge.") for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action.like("identity.challenge.%")).order_by(AuditEntry.id))]


@pytest.fixture
def kiosk(make_kiosk):
    return make_kiosk()[0]


@pytest.fixture
def resident(make_resident):
    return make_resident("张三")


# ------------------------------------------------------------------ the life cycle


def test_the_life_cycle_table():
    assert CHALLENGE.terminal() == {S.DENIED, S.CONSUMED, S.EXPIRED}
    assert CHALLENGE.sources(S.EXPIRED) == {S.PENDING, S.SCANNED, S.CONFIRMED}
    assert CHALLENGE.sources(S.CONSUMED) == {S.CONFIRMED}
    assert CHALLENGE.sources(S.CONFIRMED) == CHALLENGE.sources(S.DENIED) == {S.SCANNED}


def test_pending_scanned_confirmed_consumed_each_one_audited_version_bumped(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    assert len(token) >= 32 and challenge.token_hash != token  # ≥ 128 bits; only the hash is kept
    assert challenge.match_code.isdigit() and len(challenge.match_code) == 3
    assert (challenge.state, challenge.version) == ("pending", 1)
    assert challenge.expires_at == clock() + timedelta(seconds=120)
    clock.advance(seconds=10)
    assert scan(db, clock, token, resident).state == "scanned"
    assert (challenge.resident_id, challenge.version, challenge.scanned_at) == (resident.id, 2, clock())
    clock.advance(seconds=10)
    assert confirm(db, clock, token, resident).state == "confirmed"
    assert (challenge.version, challenge.decided_at, challenge.flagged) == (3, clock(), False)
    record, session_token = consume(db, clock, challenge, kiosk)
    assert (challenge.state, challenge.version, challenge.session_id) == ("consumed", 4, record.id)
    assert (record.channel, record.kiosk_id, record.resident_id) == ("kiosk", kiosk.id, resident.id)
    # identity.kiosk's rules: the screen's idle time and countdown (120 + 30 s on the post
    # office's profile) plus the server's grace; the absolute limit is 15 minutes.
    assert (record.idle_seconds, record.expires_at) == (120 + 30 + 20, clock() + timedelta(minutes=15))
    assert sessions.lookup(db.session, session_token, channel="kiosk", kiosk_id=kiosk.id, now=clock) is record
    assert resident.last_login_at == clock()
    assert moves(db) == ["create", "scan", "confirm", "consume"]


def test_the_idle_time_is_the_kiosks_profiles_or_its_own_setting(db, clock, make_kiosk, resident):
    tablet = make_kiosk(profile="community-tablet")[0]
    challenge, token = create(db, clock, tablet)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    assert consume(db, clock, challenge, tablet)[0].idle_seconds == 180 + 30 + 20
    kiosk = make_kiosk()[0]
    kiosk.settings = {"idle_timeout_seconds": 200, "idle_warning_seconds": 40}
    db.session.commit()
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    assert consume(db, clock, challenge, kiosk)[0].idle_seconds == 200 + 40 + 20


def test_deny_flags_the_challenge_and_ends_it(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    assert deny(db, clock, token, resident).state == "denied"
    assert challenge.flagged is True and challenge.version == 3
    for step in (lambda: confirm(db, clock, token, resident), lambda: deny(db, clock, token, resident),
                 lambda: scan(db, clock, token, resident), lambda: consume(db, clock, challenge, kiosk)):
        with pytest.raises(ChallengeGone) as refused:
            step()
        assert refused.value.state == "denied"
    assert moves(db) == ["create", "scan", "deny"]


def test_a_new_challenge_expires_the_kiosks_older_live_ones_and_changes_the_code(db, clock, kiosk, make_kiosk,
                                                                                    resident):
    other = make_kiosk()[0]
    first, first_token = create(db, clock, kiosk)
    scan(db, clock, first_token, resident)
    elsewhere, _ = create(db, clock, other)
    for _ in range(20):
        previous = db.session.scalar(sa.select(LoginChallenge).where(LoginChallenge.kiosk_id == kiosk.id)
                                     .order_by(LoginChallenge.id.desc()).limit(1))
        newer, _ = create(db, clock, kiosk)
        assert newer.match_code != previous.match_code
    db.session.expire_all()
    states = db.session.scalars(sa.select(LoginChallenge.state).where(LoginChallenge.kiosk_id == kiosk.id)
                                .order_by(LoginChallenge.id)).all()
    assert states == ["expired"] * 20 + ["pending"]
    assert db.session.get(LoginChallenge, elsewhere.id).state == "pending"  # other kiosks keep theirs
    with pytest.raises(ChallengeGone):
        confirm(db, clock, first_token, resident)


def test_only_an_authorized_kiosk_shows_a_challenge(db, clock, make_kiosk):
    pending = make_kiosk(authorized=False)[0]
    with pytest.raises(Forbidden):
        qr_login.create_challenge(db.session, kiosk=pending, actor=SYSTEM, now=clock)


def test_ttl_is_configurable_but_never_over_two_minutes(app, db, clock, kiosk):
    app.config["KIOSK_QR_TTL_SECONDS"] = 60
    try:
        assert create(db, clock, kiosk)[0].expires_at == clock() + timedelta(seconds=60)
        app.config["KIOSK_QR_TTL_SECONDS"] = 600
        assert create(db, clock, kiosk)[0].expires_at == clock() + timedelta(seconds=120)
    finally:
        app.config["KIOSK_QR_TTL_SECONDS"] = 120


# ------------------------------------------------------------------ illegal moves


def test_unknown_tokens_are_not_found(db, clock, kiosk, resident):
    create(db, clock, kiosk)
    for token in ("nope", "", "x" * 500):
        for step in (scan, confirm, deny):
            with pytest.raises(NotFound):
                step(db, clock, token, resident)


def test_confirm_or_deny_before_scan_is_illegal(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    for step in (confirm, deny):
        with pytest.raises(IllegalTransition):
            step(db, clock, token, resident)
    with pytest.raises(IllegalTransition):
        consume(db, clock, challenge, kiosk)
    assert (challenge.state, challenge.version) == ("pending", 1)


def test_consume_before_confirm_is_illegal(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    with pytest.raises(IllegalTransition):
        consume(db, clock, challenge, kiosk)
    assert challenge.state == "scanned"


def test_a_second_confirm_and_a_late_deny_are_refused(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    for step in (confirm, deny):
        with pytest.raises(IllegalTransition):
            step(db, clock, token, resident)
    assert (challenge.state, challenge.flagged, challenge.version) == ("confirmed", False, 3)
    assert moves(db) == ["create", "scan", "confirm"]


def test_scanning_again_by_the_same_resident_changes_nothing(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    assert scan(db, clock, token, resident).version == 2
    confirm(db, clock, token, resident)
    assert scan(db, clock, token, resident).state == "confirmed"
    assert moves(db) == ["create", "scan", "confirm"]


def test_another_resident_can_neither_scan_nor_confirm_nor_deny(db, clock, kiosk, resident, make_resident):
    stranger = make_resident("李四")
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    for step in (scan, confirm, deny):
        with pytest.raises(Forbidden):
            step(db, clock, token, stranger)
    assert (challenge.state, challenge.resident_id) == ("scanned", resident.id)
    confirm(db, clock, token, resident)
    with pytest.raises(Forbidden):
        scan(db, clock, token, stranger)


def test_another_kiosk_cannot_consume_or_see_it(db, clock, kiosk, make_kiosk, resident):
    other = make_kiosk()[0]
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    assert qr_login.poll(db.session, challenge.id, kiosk=other) is None
    with pytest.raises(NotFound):
        consume(db, clock, challenge, other)
    seen = qr_login.poll(db.session, challenge.id, kiosk=kiosk)
    assert (seen.id, seen.state, seen.version, seen.expires_at) == (challenge.id, "confirmed", 3, challenge.expires_at)
    assert challenge.state == "confirmed"


def test_replay_a_consumed_challenge_gives_no_second_session(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    consume(db, clock, challenge, kiosk)
    with pytest.raises(ChallengeGone) as refused:
        consume(db, clock, challenge, kiosk)
    assert refused.value.state == "consumed"
    for step in (scan, confirm, deny):
        with pytest.raises(ChallengeGone):
            step(db, clock, token, resident)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 1


# ------------------------------------------------------------------ expiry


def test_expiry_at_scan(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    clock.advance(seconds=120)
    assert qr_login.effective_state(challenge, clock()) == "expired"
    with pytest.raises(ChallengeGone) as refused:
        scan(db, clock, token, resident)
    assert refused.value.state == "expired" and refused.value.status_code == 410
    assert (challenge.state, challenge.resident_id) == ("expired", None)
    assert moves(db) == ["create", "expire"]


def test_expiry_at_confirm(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    clock.advance(seconds=60)
    scan(db, clock, token, resident)
    clock.advance(seconds=60)
    with pytest.raises(ChallengeGone):
        confirm(db, clock, token, resident)
    with pytest.raises(ChallengeGone):
        deny(db, clock, token, resident)
    assert (challenge.state, challenge.decided_at, challenge.flagged) == ("expired", None, False)


def test_expiry_at_consume(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    clock.advance(seconds=121)
    with pytest.raises(ChallengeGone):
        consume(db, clock, challenge, kiosk)
    assert challenge.state == "expired"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 0


def test_one_second_before_the_deadline_everything_still_works(db, clock, kiosk, resident):
    challenge, token = create(db, clock, kiosk)
    clock.advance(seconds=119)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    consume(db, clock, challenge, kiosk)
    assert challenge.state == "consumed"


def test_expire_due_marks_what_the_clock_ended(db, clock, kiosk, make_kiosk, resident):
    done, token = create(db, clock, kiosk)
    scan(db, clock, token, resident)
    confirm(db, clock, token, resident)
    consume(db, clock, done, kiosk)
    late, _ = create(db, clock, make_kiosk()[0])
    clock.advance(seconds=121)
    fresh, _ = create(db, clock, make_kiosk()[0])
    assert qr_login.expire_due(db.session, actor=SYSTEM, now=clock) == 1
    db.session.expire_all()
    assert [db.session.get(LoginChallenge, c.id).state for c in (done, late, fresh)] == ["consumed", "expired",
                                                                                          "pending"]


# ------------------------------------------------------------------ races


@pytest.fixture
def race_app(make_app):
    """An app for fifty threads. Its pool holds 20 connections (a shared PostgreSQL server
    has no 50 to spare): twenty threads reach the database at once, the others queue for a
    connection and race the ones still in flight. Disposed afterwards."""
    from kiosk_backend.extensions import db

    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 0, "pool_timeout": 120,
                                              "pool_pre_ping": True})
    yield app
    with app.app_context():
        db.engine.dispose()


THREADS = 50


def _race(race_app, work):
    """Run ``work(i)`` in THREADS threads released at once, each in its own app context
    (so its own database session), committing what it did; returns each one's result or
    exception."""
    return run_in_threads(race_app, THREADS, work, commit=True, timeout=180)


def _confirmed_ready(race_app, *, confirmed: bool):
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services as fleet
    from kiosk_backend.identity.models import Resident
    from kiosk_backend.sites import services as sites
    from tests.conftest import SITE

    with race_app.app_context():
        site = sites.create_site(db.session, actor=SYSTEM, **SITE)
        code, _ = fleet.create_enrolment_code(db.session, site=site, actor="test", pre_authorized=True)
        kiosk, _ = fleet.activate(db.session, code=code, profile="post-office-portrait")
        resident = Resident(provider="demo", subject="race", name="张三")
        db.session.add(resident)
        db.session.flush()
        challenge, token = qr_login.create_challenge(db.session, kiosk=kiosk, actor=SYSTEM)
        qr_login.scan(db.session, token, resident=resident, actor=SYSTEM)
        if confirmed:
            qr_login.confirm(db.session, token, resident=resident, actor=SYSTEM)
        db.session.commit()
        ids = kiosk.id, resident.id, challenge.id
        db.session.remove()
    return ids, token


def test_fifty_concurrent_confirms_exactly_one_wins(race_app):
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import Resident

    (_, resident_id, challenge_id), token = _confirmed_ready(race_app, confirmed=False)

    def work(i):
        resident = db.session.get(Resident, resident_id)
        step = qr_login.confirm if i % 2 == 0 else qr_login.deny  # confirms and denies race too
        return step(db.session, token, resident=resident, actor=SYSTEM).state

    results = _race(race_app, work)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1, results
    # The losers are told: already confirmed (409), or denied (410).
    assert [r for r in results if not isinstance(r, str | IllegalTransition | ChallengeGone)] == []
    with race_app.app_context():
        challenge = db.session.get(LoginChallenge, challenge_id)
        assert (challenge.state, challenge.version) == (winners[0], 3)
        decisions = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(["identity.challenge.confirm", "identity.challenge.deny"])))
        assert decisions == 1
        db.session.remove()


def test_fifty_concurrent_consumes_start_exactly_one_session(race_app):
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import Kiosk

    (kiosk_id, _, challenge_id), _ = _confirmed_ready(race_app, confirmed=True)

    def work(i):
        kiosk = db.session.get(Kiosk, kiosk_id)
        return qr_login.consume(db.session, challenge_id, kiosk=kiosk, actor=SYSTEM)[1]

    results = _race(race_app, work)
    tokens = [r for r in results if isinstance(r, str)]
    assert len(tokens) == 1, results
    assert [r for r in results if not isinstance(r, str | ChallengeGone)] == []
    with race_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)) == 1
        db.session.remove()
