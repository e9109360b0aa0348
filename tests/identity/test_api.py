"""Bearer tokens on the staff parts of the JSON API (identity/api.py)."""
from __future__ import annotations

import pytest
from flask import g

from kiosk_backend.core.actors import SYSTEM, ActorKind
from kiosk_backend.core.errors import Forbidden, Unauthorized
from kiosk_backend.identity import services
from kiosk_backend.identity.api import require_staff


@pytest.fixture
def token_of(db):
    def _make(username: str, role: str) -> str:
        services.create_staff(db.session, username=username, password="a long passphrase", role=role, actor=SYSTEM)
        token = services.issue_token(db.session, username=username, name="tests", actor=SYSTEM)
        db.session.commit()
        return token

    return _make


def _hook(app, token: str | None, *roles: str):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with app.test_request_context("/api/v1/anything", headers=headers, environ_base={"REMOTE_ADDR": "10.9.8.7"}):
        require_staff(*roles)()
        return g.staff, g.actor


def test_any_staff_token_passes_when_no_role_is_named_and_becomes_the_actor(app, token_of):
    staff, actor = _hook(app, token_of("zhou", "helper"))
    assert staff.username == "zhou"
    assert (actor.kind, actor.id, actor.ip) == (ActorKind.STAFF, "zhou", "10.9.8.7")


def test_a_missing_or_unknown_token_is_a_401(app, db):
    for token in (None, "made-up"):
        with pytest.raises(Unauthorized):
            _hook(app, token, "admin")


def test_the_wrong_role_gets_require_roles_403_and_its_messages(app, token_of):
    token = token_of("zhou", "helper")
    with pytest.raises(Forbidden) as only_admins:
        _hook(app, token, "admin")
    assert (only_admins.value.message, only_admins.value.message_zh) == (
        "Only administrators may do this.", "仅管理员可以进行此操作。")
    with pytest.raises(Forbidden) as other_roles:
        _hook(app, token, "admin", "site_manager")
    assert other_roles.value.message == "Your role may not do this."
    assert _hook(app, token, "admin", "helper")[0].username == "zhou"


def test_a_helpers_token_on_the_admin_catalog_import_is_refused_in_the_error_shape(client, token_of):
    response = client.post("/api/v1/admin/catalog/import", headers={"Authorization": f"Bearer {token_of('zhou', 'helper')}"})
    body = response.get_json()
    assert response.status_code == 403 and body["status"] == "Forbidden"
    assert body["message"] == "Only administrators may do this." and body["message_zh"] == "仅管理员可以进行此操作。"
