"""Enrolment (fleet/enrolment.py): one-time codes, activation, re-enrolment, credentials,
authorize / revoke / rotate. Times come from a settable clock (tests/conftest.py Clock)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import actors, audit
from kiosk_backend.core.errors import Conflict, Forbidden, Invalid
from kiosk_backend.core.tokens import token_hash
from kiosk_backend.fleet import enrolment, services
from kiosk_backend.fleet.enrolment import EnrolmentRefused
from kiosk_backend.fleet.models import EnrolmentCode, Kiosk
from kiosk_backend.fleet.states import KioskState

from .conftest import actions, beat, new_code, run_in_threads

PROFILE = "post-office-portrait"
KNOWN = ("post-office-portrait", "bank-lobby-landscape", "community-tablet")


# ===================================================================== enrolment codes

def test_an_enrolment_code_is_stored_only_as_a_hash_with_a_short_hint(db, site):
    code, record = new_code(db, site)
    plain = enrolment.normalize_code(code)
    assert len(plain) == enrolment.CODE_LENGTH and set(plain) <= set(enrolment.CODE_ALPHABET)
    assert record.code_hash == token_hash(plain) and plain not in record.code_hash
    assert record.hint == plain[-3:]
    assert "enrolment_code.create" in actions(db)


def test_an_enrolment_code_expires_after_the_hours_it_was_made_for(db, site, clock):
    code, record = new_code(db, site, valid_hours=2, now=clock)
    assert record.expires_at == clock() + timedelta(hours=2)
    clock.advance(hours=2)
    with pytest.raises(EnrolmentRefused, match="expired"):
        enrolment.activate(db.session, code=code, profile=PROFILE, now=clock)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 0


def test_a_code_just_before_expiry_still_works(db, site, clock):
    code, _ = new_code(db, site, valid_hours=2, now=clock)
    clock.advance(hours=2, seconds=-1)
    kiosk, _ = enrolment.activate(db.session, code=code, profile=PROFILE, now=clock)
    assert kiosk.id


@pytest.mark.parametrize("hours", [0, -1, 24 * 14 + 1])
def test_validity_outside_one_hour_to_fourteen_days_is_refused(db, site, hours):
    with pytest.raises(Invalid):
        enrolment.create_enrolment_code(db.session, site=site, actor="test", valid_hours=hours)


def test_a_code_is_single_use(db, site):
    code, _ = new_code(db, site)
    enrolment.activate(db.session, code=code, profile=PROFILE)
    db.session.commit()
    with pytest.raises(EnrolmentRefused, match="already been used"):
        enrolment.activate(db.session, code=code, profile=PROFILE)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1


def test_an_unknown_code_is_refused_and_names_the_code_field(db, site):
    new_code(db, site)
    with pytest.raises(EnrolmentRefused) as caught:
        enrolment.activate(db.session, code="ACDEF-GHJKM", profile=PROFILE)
    assert "code" in caught.value.errors


def test_codes_are_read_without_case_spaces_or_dashes(db, site):
    code, _ = new_code(db, site)
    typed = " " + code.lower().replace("-", " ") + " "
    kiosk, _ = enrolment.activate(db.session, code=typed, profile=PROFILE)
    assert kiosk.site_id == site.id


def test_a_code_made_for_one_model_refuses_another(db, site):
    code, _ = new_code(db, site, profile="community-tablet")
    with pytest.raises(EnrolmentRefused, match="community-tablet") as caught:
        enrolment.activate(db.session, code=code, profile=PROFILE)
    assert "profile" in caught.value.errors
    db.session.rollback()
    kiosk, _ = enrolment.activate(db.session, code=code, profile="community-tablet")
    assert kiosk.profile == "community-tablet"


def test_a_profile_not_in_the_shipped_list_is_refused_without_using_the_code(db, site):
    code, record = new_code(db, site)
    with pytest.raises(EnrolmentRefused) as caught:
        enrolment.activate(db.session, code=code, profile="toaster-9000", known_profiles=KNOWN)
    assert "profile" in caught.value.errors
    db.session.rollback()
    assert db.session.get(EnrolmentCode, record.id).used_at is None


def test_a_pre_authorized_code_gives_an_authorized_kiosk(db, site):
    code, _ = new_code(db, site, pre_authorized=True)
    kiosk, _ = enrolment.activate(db.session, code=code, profile=PROFILE)
    assert kiosk.state == "authorized" and kiosk.authorized_at is not None


def test_a_plain_code_gives_a_kiosk_waiting_for_authorization(db, site):
    code, _ = new_code(db, site)
    kiosk, _ = enrolment.activate(db.session, code=code, profile=PROFILE)
    assert kiosk.state == "pending" and kiosk.authorized_at is None


def test_activation_marks_the_code_used_by_the_new_kiosk_and_is_audited(db, site):
    code, record = new_code(db, site)
    kiosk, _ = enrolment.activate(db.session, code=code, profile=PROFILE)
    db.session.commit()
    db.session.expire_all()
    record = db.session.get(EnrolmentCode, record.id)
    assert record.used_at is not None and record.kiosk_id == kiosk.id
    entry = audit.search(db.session, action="kiosk.activate")[0]
    assert entry.actor == f"kiosk:{kiosk.number}" and entry.target == f"site:{site.code}"


def test_the_credential_is_stored_only_as_a_hash(db, site):
    code, _ = new_code(db, site)
    kiosk, credential = enrolment.activate(db.session, code=code, profile=PROFILE)
    assert len(credential) >= 22  # ≥ 128 bits, URL-safe base64
    assert kiosk.credential_hash == token_hash(credential) and credential not in kiosk.credential_hash
    assert enrolment.authenticate(db.session, credential).id == kiosk.id


@pytest.mark.parametrize("credential", [None, "", "not-a-credential"])
def test_unknown_or_missing_credentials_authenticate_nobody(db, make_kiosk, credential):
    make_kiosk()
    assert enrolment.authenticate(db.session, credential) is None


def test_kiosks_are_numbered_per_site_in_order(db, site, site2):
    numbers = []
    for where in (site, site, site2, site):
        code, _ = new_code(db, where)
        kiosk, _ = enrolment.activate(db.session, code=code, profile=PROFILE)
        db.session.commit()
        numbers.append(kiosk.number)
    assert numbers == ["JZ01-01", "JZ01-02", "JZ02-01", "JZ01-03"]


def test_a_revoked_kiosk_keeps_its_number_and_the_next_one_gets_a_new_number(db, site):
    first, _ = enrolment.activate(db.session, code=new_code(db, site)[0], profile=PROFILE)
    enrolment.revoke(db.session, first, actor="test")
    db.session.commit()
    second, _ = enrolment.activate(db.session, code=new_code(db, site)[0], profile=PROFILE)
    assert (first.number, second.number) == ("JZ01-01", "JZ01-02")


# ------------------------------------------------------------------ races

def test_two_kiosks_racing_with_one_code_give_exactly_one_kiosk(app, db, site):
    code, record = new_code(db, site, pre_authorized=True)

    def work(_i):
        kiosk, credential = enrolment.activate(db.session, code=code, profile=PROFILE)
        db.session.commit()
        return kiosk.number

    results = run_in_threads(app, 6, work)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, EnrolmentRefused) for r in losers), losers
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1
    assert db.session.get(EnrolmentCode, record.id).kiosk_id is not None
    assert actions(db).count("kiosk.activate") == 1


def test_kiosks_activating_at_the_same_site_at_once_get_distinct_numbers(app, db, site):
    codes = [new_code(db, site, pre_authorized=True)[0] for _ in range(5)]

    def work(i):
        kiosk, _ = enrolment.activate(db.session, code=codes[i], profile=PROFILE)
        db.session.commit()
        return kiosk.number

    results = run_in_threads(app, 5, work)
    assert sorted(results) == [f"JZ01-0{i}" for i in range(1, 6)], results


# ------------------------------------------------------------------ re-enrolment

def test_a_re_enrolment_code_moves_the_kiosk_to_new_hardware(db, make_kiosk):
    kiosk, old = make_kiosk()
    code, record = enrolment.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    db.session.commit()
    assert record.kiosk_id == kiosk.id and record.profile == kiosk.profile
    moved, new = enrolment.activate(db.session, code=code, profile=kiosk.profile, app_version="2.0")
    db.session.commit()
    assert (moved.id, moved.number, moved.state) == (kiosk.id, "JZ01-01", "authorized")
    assert enrolment.authenticate(db.session, old) is None
    assert enrolment.authenticate(db.session, new).id == kiosk.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Kiosk)) == 1
    assert "kiosk.reenrol" in actions(db)


def test_a_re_enrolment_code_is_single_use_too(db, make_kiosk):
    kiosk, _ = make_kiosk()
    code, _ = enrolment.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    enrolment.activate(db.session, code=code, profile=kiosk.profile)
    db.session.commit()
    with pytest.raises(EnrolmentRefused):
        enrolment.activate(db.session, code=code, profile=kiosk.profile)


def test_a_pending_kiosk_stays_pending_after_re_enrolment(db, make_kiosk):
    kiosk, _ = make_kiosk(authorized=False)
    code, _ = enrolment.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    moved, _ = enrolment.activate(db.session, code=code, profile=kiosk.profile)
    assert moved.state == "pending"


def test_a_revoked_kiosk_gets_no_re_enrolment_code(db, make_kiosk):
    kiosk, _ = make_kiosk()
    enrolment.revoke(db.session, kiosk, actor="test")
    with pytest.raises(Conflict):
        enrolment.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")


def test_a_re_enrolment_code_stops_working_when_its_kiosk_is_revoked(db, make_kiosk):
    kiosk, _ = make_kiosk()
    code, _ = enrolment.create_reenrolment_code(db.session, kiosk=kiosk, actor="test")
    enrolment.revoke(db.session, kiosk, actor="test")
    db.session.commit()
    with pytest.raises(EnrolmentRefused, match="revoked"):
        enrolment.activate(db.session, code=code, profile=kiosk.profile)
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).state == "revoked"
    assert db.session.get(Kiosk, kiosk.id).credential_hash is None


# ===================================================================== authorize, revoke, rotate

def test_authorizing_a_pending_kiosk_is_recorded_once(db, make_kiosk):
    kiosk, _ = make_kiosk(authorized=False)
    enrolment.authorize(db.session, kiosk, actor=actors.staff("wang", ip="10.0.0.1"))
    enrolment.authorize(db.session, kiosk, actor="wang")
    assert kiosk.state == "authorized" and kiosk.authorized_at is not None
    entries = audit.search(db.session, action="kiosk.authorize")
    assert [(e.actor, e.target, e.ip) for e in entries] == [("wang", "kiosk:JZ01-01", "10.0.0.1")]


def test_a_revoked_credential_stops_working_at_once(db, make_kiosk):
    kiosk, credential = make_kiosk()
    enrolment.revoke(db.session, kiosk, actor="wang")
    db.session.commit()
    assert enrolment.authenticate(db.session, credential) is None
    assert kiosk.state == "revoked" and kiosk.revoked_at is not None and kiosk.credential_hash is None
    enrolment.revoke(db.session, kiosk, actor="wang")
    assert actions(db).count("kiosk.revoke") == 1


def test_a_revoked_kiosk_cannot_be_authorized_rotated_or_commanded(db, make_kiosk):
    kiosk, _ = make_kiosk()
    enrolment.revoke(db.session, kiosk, actor="wang")
    with pytest.raises(Conflict):
        enrolment.authorize(db.session, kiosk, actor="wang")
    with pytest.raises(Conflict):
        enrolment.request_rotation(db.session, kiosk, actor="wang")
    with pytest.raises(Forbidden):
        enrolment.rotate_credential(db.session, kiosk)
    with pytest.raises(Conflict):
        services.issue_command(db.session, kiosk, kind="reload", actor="wang")


def test_rotation_is_asked_for_at_the_next_heartbeat_and_then_cleared(db, make_kiosk):
    kiosk, _ = make_kiosk()
    assert beat(db, kiosk, seq=1)["rotate_credential"] is False
    enrolment.request_rotation(db.session, kiosk, actor="wang")
    db.session.commit()
    assert beat(db, kiosk, seq=2)["rotate_credential"] is True
    enrolment.rotate_credential(db.session, kiosk)
    db.session.commit()
    assert beat(db, kiosk, seq=3)["rotate_credential"] is False
    assert {"kiosk.rotate_request", "kiosk.rotate"} <= set(actions(db))


def test_rotating_replaces_the_credential_old_stops_new_works(db, make_kiosk):
    kiosk, old = make_kiosk()
    new = enrolment.rotate_credential(db.session, kiosk)
    db.session.commit()
    assert new != old
    assert enrolment.authenticate(db.session, old) is None
    assert enrolment.authenticate(db.session, new).id == kiosk.id


def test_an_authorization_racing_a_revocation_never_brings_the_kiosk_back(db, app, make_kiosk):
    from kiosk_backend.extensions import db as _db

    kiosk, _ = make_kiosk(authorized=False)
    stale = db.session.get(Kiosk, kiosk.id)           # the console loaded it as pending
    with app.app_context():                           # meanwhile another admin revokes it
        other = _db.session.get(Kiosk, kiosk.id)
        enrolment.revoke(_db.session, other, actor="li")
        _db.session.commit()
        _db.session.remove()
    with pytest.raises(Conflict):
        enrolment.authorize(db.session, stale, actor="wang")
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).state == "revoked"


def test_applying_a_command_is_audited_as_the_kiosk(db, make_kiosk):
    kiosk, _ = make_kiosk()
    command = services.issue_command(db.session, kiosk, kind="maintenance_on", actor="wang")
    db.session.commit()
    services.ack_command(db.session, kiosk, command.id)
    services.ack_command(db.session, kiosk, command.id)   # again: nothing more to record
    db.session.commit()
    entries = audit.search(db.session, action="command.ack")
    assert [(e.actor, e.details["kind"]) for e in entries] == [(f"kiosk:{kiosk.number}", "maintenance_on")]


# ===================================================================== revoke now and re-enrol

def test_revoke_now_and_reenrol_kills_the_credential_at_once_and_the_code_restores_the_same_kiosk(db, make_kiosk):
    kiosk, old = make_kiosk()
    number, site_id = kiosk.number, kiosk.site_id
    code, record = enrolment.revoke_credential_and_reenrol(db.session, kiosk, actor="wang", valid_hours=2)
    db.session.commit()
    assert enrolment.authenticate(db.session, old) is None  # now, not at the next heartbeat
    assert (record.kiosk_id, record.site_id, record.profile) == (kiosk.id, site_id, kiosk.profile)
    assert kiosk.state == KioskState.AUTHORIZED and kiosk.rotate_requested is False
    again, credential = enrolment.activate(db.session, code=code, profile=kiosk.profile)
    db.session.commit()
    assert (again.id, again.number, again.state) == (kiosk.id, number, KioskState.AUTHORIZED)
    assert enrolment.authenticate(db.session, credential).id == kiosk.id
    assert {"kiosk.credential_revoke", "enrolment_code.create", "kiosk.reenrol"} <= set(actions(db))


def test_revoke_now_and_reenrol_refuses_a_revoked_kiosk(db, make_kiosk):
    kiosk, _ = make_kiosk()
    enrolment.revoke(db.session, kiosk, actor="wang")
    with pytest.raises(Conflict):
        enrolment.revoke_credential_and_reenrol(db.session, kiosk, actor="wang")


def test_a_rotation_racing_revoke_now_cannot_bring_a_credential_back(db, app, make_kiosk):
    from kiosk_backend.extensions import db as _db

    kiosk, old = make_kiosk()
    stale = db.session.get(Kiosk, kiosk.id)       # the kiosk's request authenticated with the old credential
    with app.app_context():                       # meanwhile the admin revokes it now
        other = _db.session.get(Kiosk, kiosk.id)
        enrolment.revoke_credential_and_reenrol(_db.session, other, actor="li")
        _db.session.commit()
    with pytest.raises(Forbidden):
        enrolment.rotate_credential(db.session, stale)
    db.session.rollback()
    assert db.session.get(Kiosk, kiosk.id).credential_hash is None
