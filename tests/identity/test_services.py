from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict, Invalid, NotFound, Unauthorized
from kiosk_backend.identity import services
from kiosk_backend.identity.models import ApiToken, StaffUser


def test_staff_passwords_are_hashed_with_scrypt(db):
    services.create_staff(db.session, username="wang", password="a long passphrase")
    stored = db.session.scalar(sa.select(StaffUser.password_hash))
    assert stored.startswith("scrypt:") and "a long passphrase" not in stored


@pytest.mark.parametrize("kwargs,error", [
    ({"password": "short"}, Invalid), ({"password": "long enough pw", "role": "king"}, Invalid)])
def test_weak_passwords_and_unknown_roles_are_refused(db, kwargs, error):
    with pytest.raises(error):
        services.create_staff(db.session, username="li", **kwargs)


def test_a_username_is_taken_once(db):
    services.create_staff(db.session, username="wang", password="a long passphrase")
    with pytest.raises(Conflict):
        services.create_staff(db.session, username="wang", password="another long one")


def test_a_token_authenticates_its_owner_and_is_stored_hashed(db):
    services.create_staff(db.session, username="wang", password="a long passphrase")
    token = services.issue_token(db.session, username="wang", name="script")
    assert services.authenticate_token(db.session, token).username == "wang"
    assert db.session.scalar(sa.select(ApiToken.token_hash)) != token


def test_expired_revoked_and_unknown_tokens_are_refused(db):
    services.create_staff(db.session, username="wang", password="a long passphrase")
    token = services.issue_token(db.session, username="wang", name="script", days=1)
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token, now=lambda: utcnow() + timedelta(days=2))
    services.revoke_token(db.session, db.session.scalar(sa.select(ApiToken.id)))
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token)
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, "made-up")


def test_tokens_of_a_deactivated_account_stop_working(db):
    user = services.create_staff(db.session, username="wang", password="a long passphrase")
    token = services.issue_token(db.session, username="wang", name="script")
    user.active = False
    with pytest.raises(Unauthorized):
        services.authenticate_token(db.session, token)


def test_a_token_for_an_unknown_user_is_not_issued(db):
    with pytest.raises(NotFound):
        services.issue_token(db.session, username="nobody", name="x")
