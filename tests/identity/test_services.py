from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import actors, audit
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict, Invalid, NotFound, Unauthorized
from kiosk_backend.identity import services
from kiosk_backend.identity.models import ApiToken, StaffUser

ADMIN = actors.staff("boss", ip="10.0.0.9")


def test_staff_passwords_are_hashed_with_scrypt(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", actor=ADMIN)
    stored = db.session.scalar(sa.select(StaffUser.password_hash))
    assert stored.startswith("scrypt:") and "a long passphrase" not in stored


@pytest.mark.parametrize("kwargs,error", [
    ({"password": "short"}, Invalid), ({"password": "long enough pw", "role": "king"}, Invalid)])
def test_weak_passwords_and_unknown_roles_are_refused(db, kwargs, error):
    with pytest.raises(error):
        services.create_staff(db.session, username="li", **kwargs, actor=ADMIN)


def test_a_username_is_taken_once(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", actor=ADMIN)
    with pytest.raises(Conflict):
        services.create_staff(db.session, username="wang", password="another long one", actor=ADMIN)


def test_a_token_authenticates_its_owner_and_is_stored_hashed(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", actor=ADMIN)
    token = services.issue_token(db.session, username="wang", name="script", actor=ADMIN)
    assert services.authenticate_token(db.session, token).username == "wang"
    assert db.session.scalar(sa.select(ApiToken.token_hash)) != token


def test_expired_revoked_and_unknown_tokens_are_refused(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", actor=ADMIN)
    token = services.issue_token(db.session, username="wang", name="script", days=1, actor=ADMIN)
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token, now=lambda: utcnow() + timedelta(days=2))
    services.revoke_token(db.session, db.session.scalar(sa.select(ApiToken.id)), actor=ADMIN)
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token)
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, "made-up")


def test_tokens_of_a_deactivated_account_stop_working(db):
    user = services.create_staff(db.session, username="wang", password="a long passphrase", actor=ADMIN)
    token = services.issue_token(db.session, username="wang", name="script", actor=ADMIN)
    user.active = False
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token)


def test_a_token_for_an_unknown_user_is_not_issued(db):
    with pytest.raises(NotFound):
        services.issue_token(db.session, username="nobody", name="x", actor=ADMIN)


# ===================================================================== audit

def _entries(db):
    return [(e.actor, e.action, e.target, e.ip) for e in reversed(audit.search(db.session))]


def test_creating_staff_is_audited_by_who_did_it(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", role="helper", actor=ADMIN)
    assert _entries(db) == [("boss", "staff.create", "staff:wang", "10.0.0.9")]
    assert audit.search(db.session)[0].details == {"role": "helper"}


def test_a_refused_staff_account_writes_no_audit_entry(db):
    with pytest.raises(Invalid):
        services.create_staff(db.session, username="wang", password="short", actor=ADMIN)
    assert _entries(db) == []


def test_issuing_and_revoking_a_token_are_audited_and_the_token_is_never_logged(db):
    services.create_staff(db.session, username="wang", password="a long passphrase", actor=actors.SYSTEM)
    token = services.issue_token(db.session, username="wang", name="script", actor=ADMIN)
    token_id = db.session.scalar(sa.select(ApiToken.id))
    services.revoke_token(db.session, token_id, actor=ADMIN)
    services.revoke_token(db.session, token_id, actor=ADMIN)  # already revoked: nothing changes, nothing recorded
    assert _entries(db)[1:] == [("boss", "token.create", "staff:wang", "10.0.0.9"),
                                ("boss", "token.revoke", "staff:wang", "10.0.0.9")]
    entries = audit.search(db.session, action="token.")
    assert all(e.details["token_id"] == token_id and e.details["name"] == "script" for e in entries)
    stored = repr([(e.actor, e.action, e.target, e.details) for e in entries])
    assert token not in stored and db.session.scalar(sa.select(ApiToken.token_hash)) not in stored


def test_assigning_sites_is_audited_with_the_actor(db, site):
    user = services.create_staff(db.session, username="li", password="a long passphrase", role="site_manager",
                                 actor=actors.SYSTEM)
    services.assign_sites(db.session, user, [site.id], actor=ADMIN)
    assert _entries(db)[-1] == ("boss", "staff.sites", "staff:li", "10.0.0.9")
    assert services.site_scope(db.session, user) == {site.id}
