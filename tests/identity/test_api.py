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


# ---------------------------------------------------------------- residents (the mini-app)

def _exchange(client, subject="demo-1", **headers):
    return client.post("/api/v1/auth/token", json={"provider": "demo", "id_token": subject}, headers=headers)


def test_a_demo_token_exchange_gives_a_resident_token_for_me_and_logout(client, db):
    from kiosk_backend.identity.models import ResidentSession

    answer = _exchange(client, "demo-3")
    assert answer.status_code == 201, answer.text
    body = answer.json
    assert body["token_type"] == "Resident" and body["idle_seconds"] == 1800
    assert body["resident"] == {"provider": "demo", "name_masked": "欧**娜", "id_number_masked": "1101**********0160",
                                "phone_masked": "138****0003"}
    record = db.session.query(ResidentSession).one()
    assert record.channel == "api" and (record.expires_at - record.created_at).total_seconds() == 43200
    resident = {"Authorization": f"Resident {body['token']}"}
    me = client.get("/api/v1/me", headers=resident)
    assert me.status_code == 200 and me.json == body["resident"]
    assert client.post("/api/v1/auth/logout", headers=resident).status_code == 204
    refused = client.get("/api/v1/me", headers=resident)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Resident realm="kiosk-backend"'
    db.session.expire_all()
    assert db.session.query(ResidentSession).one().end_reason == "logout"
    assert client.post("/api/v1/auth/logout", headers=resident).status_code == 401


def test_resident_and_staff_tokens_are_not_taken_for_each_other(client, token_of):
    staff = token_of("zhou", "admin")
    resident = _exchange(client).json["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {resident}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Resident {staff}"}).status_code == 401
    assert client.get("/api/v1/admin/catalog/synonyms",
                      headers={"Authorization": f"Bearer {resident}"}).status_code == 401
    assert client.get("/api/v1/me").status_code == 401


def test_a_phone_page_session_is_not_an_api_session(client, db):
    from kiosk_backend.identity import sessions
    from kiosk_backend.identity.models import Resident

    assert client.post("/m/login/demo", data={"subject": "demo-2"}).status_code == 302
    resident = db.session.query(Resident).one()
    _, token = sessions.start(db.session, channel="mobile", resident=resident, actor=SYSTEM, idle_seconds=60,
                              absolute_seconds=600)
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Resident {token}"}).status_code == 401


def test_an_idle_api_session_ends_on_the_server(make_app):
    from datetime import timedelta

    from kiosk_backend.core import clock
    app = make_app(KIOSK_PHONE_SESSION_IDLE_SECONDS=60)
    client = app.test_client()
    with app.app_context():
        token = _exchange(client).json["token"]
        from kiosk_backend.extensions import db
        from kiosk_backend.identity.models import ResidentSession

        record = db.session.query(ResidentSession).one()
        record.last_seen_at = clock.utcnow() - timedelta(seconds=61)
        db.session.commit()
        assert client.get("/api/v1/me", headers={"Authorization": f"Resident {token}"}).status_code == 401
        db.session.expire_all()
        assert db.session.query(ResidentSession).one().end_reason == "idle"


def test_token_exchange_refusals(client, db):
    from kiosk_backend.core.audit import AuditEntry

    unknown = _exchange(client, "demo-999")
    assert unknown.status_code == 401 and unknown.json["errors"] == {"id_token": ["unknown_resident"]}
    assert unknown.json["message_zh"]
    disabled = client.post("/api/v1/auth/token", json={"provider": "oidc", "id_token": "x"})
    assert disabled.status_code == 422 and "provider" in disabled.json["errors"]["json"]
    assert client.post("/api/v1/auth/token", json={"provider": "saml", "id_token": "x"}).status_code == 422
    assert client.post("/api/v1/auth/token", json={"provider": "demo"}).status_code == 422
    refused = db.session.query(AuditEntry).filter_by(action="identity.resident.login_refused").one()
    assert refused.details == {"provider": "demo", "reason": "unknown_resident"}


def test_the_demo_provider_is_off_outside_the_demo_and_tests(make_app):
    app = make_app(TESTING=False, KIOSK_DEMO=False)
    with app.app_context():
        answer = _exchange(app.test_client())
    assert answer.status_code == 422


def test_oidc_tokens_through_the_api(make_app, tmp_path):
    from tests.identity.test_providers import AUDIENCE, EC_KEY, ISSUER, JWKS, claims, sign

    jwks = tmp_path / "jwks.json"
    jwks.write_text(__import__("json").dumps(JWKS))
    app = make_app(KIOSK_IDENTITY_PROVIDERS="oidc", KIOSK_OIDC_ISSUER=ISSUER, KIOSK_OIDC_AUDIENCE=AUDIENCE,
                   KIOSK_OIDC_JWKS_FILE=str(jwks))
    client = app.test_client()
    with app.app_context():
        good = client.post("/api/v1/auth/token", json={"provider": "oidc",
                                                        "id_token": sign(key=EC_KEY, algorithm="ES256", kid="ec-1")})
        assert good.status_code == 201, good.text
        assert good.json["resident"]["id_number_masked"] == "1101**********002X"
        expired = client.post("/api/v1/auth/token", json={"provider": "oidc", "id_token": sign(claims(exp=1000))})
        assert expired.status_code == 401 and expired.json["errors"] == {"id_token": ["expired"]}
        assert client.post("/api/v1/auth/token", json={"provider": "demo", "id_token": "demo-1"}).status_code == 422


def test_resident_required_and_current_resident_for_other_api_modules(app, db, client):
    from kiosk_backend.identity.api import current_resident, resident_required

    token = _exchange(client, "demo-2").json["token"]

    @resident_required
    def view():
        return g.resident.name, g.actor.kind, current_resident().id

    with app.test_request_context("/api/v1/x", headers={"Authorization": f"Resident {token}"}):
        name, kind, resident_id = view()
        assert (name, kind) == ("李小明", ActorKind.RESIDENT) and resident_id == g.resident.id
    for headers in ({}, {"Authorization": "Resident nope"}, {"Authorization": f"Bearer {token}"}):
        with app.test_request_context("/api/v1/x", headers=headers), pytest.raises(Unauthorized) as caught:
            view()
        assert caught.value.headers["WWW-Authenticate"] == 'Resident realm="kiosk-backend"'
