"""Who is acting: Actor itself, audit entries written for an actor, and the actor each
surface's authentication hook sets on ``g.actor``."""
from __future__ import annotations

import dataclasses
import io
import json

import pytest
import sqlalchemy as sa
from flask import g, jsonify
from werkzeug.security import generate_password_hash

from kiosk_backend.core import actors, audit
from kiosk_backend.core.actors import SYSTEM, Actor, ActorKind
from kiosk_backend.core.audit import AuditEntry
from tests.conftest import item_row

PASSWORD = "correct horse battery"


# ===================================================================== the Actor value

def test_staff_keep_their_bare_username_in_the_audit_log():
    assert actors.staff("wang").label == "wang"
    assert str(actors.staff("wang", name="王芳")) == "wang"


def test_machines_and_the_system_are_labelled_with_their_kind():
    assert actors.kiosk("JZ-0001").label == "kiosk:JZ-0001"
    assert Actor(ActorKind.DEPARTMENT, "rsj").label == "department:rsj"
    assert SYSTEM.label == "system:system"


def test_cli_acts_as_the_named_account_or_as_the_system():
    assert actors.cli("wang").label == "wang" and actors.cli("wang").kind is ActorKind.STAFF
    assert actors.cli().label == "system:cli"


def test_at_gives_the_same_actor_seen_from_an_address_and_leaves_the_original_alone():
    helper = actors.staff("zhao", name="赵敏")
    seen = helper.at("10.0.0.7")
    assert (seen.kind, seen.id, seen.name, seen.ip) == (ActorKind.STAFF, "zhao", "赵敏", "10.0.0.7")
    assert helper.ip is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        helper.ip = "10.0.0.8"  # type: ignore[misc]


def test_acting_for_keeps_the_helper_and_names_the_applicant():
    applicant = Actor(ActorKind.RESIDENT, "42", "李四")
    assisted = actors.staff("zhao").at("10.0.0.7").acting_for(applicant)
    assert assisted.label == "zhao" and assisted.ip == "10.0.0.7"
    assert assisted.on_behalf_of == applicant


def test_an_audit_entry_for_an_assisted_action_records_both_people(app, db):
    applicant = Actor(ActorKind.RESIDENT, "42", "李四")
    entry = audit.record(db.session, actor=actors.staff("zhao", ip="10.0.0.7").acting_for(applicant),
                         action="application.submit", target="application:A1", details={"items": 2})
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(AuditEntry, entry.id)
    assert (stored.actor, stored.ip) == ("zhao", "10.0.0.7")
    assert stored.details == {"items": 2, "on_behalf_of": "resident:42"}


def test_an_audit_entry_takes_the_actors_address_unless_one_is_given(app, db):
    kiosk = actors.kiosk("JZ-0001", ip="10.1.1.1")
    first = audit.record(db.session, actor=kiosk, action="probe")
    second = audit.record(db.session, actor=kiosk, action="probe", ip="10.2.2.2")
    plain = audit.record(db.session, actor=actors.staff("wang"), action="probe")
    db.session.commit()
    assert (first.actor, first.ip, first.details) == ("kiosk:JZ-0001", "10.1.1.1", {})
    assert second.ip == "10.2.2.2" and plain.ip is None


# ===================================================================== g.actor per surface

def client_at(app, ip: str):
    """A test client whose requests come from ``ip``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _show_actor():
    actor = g.actor
    return jsonify(kind=str(actor.kind), id=actor.id, label=actor.label, ip=actor.ip)


@pytest.fixture
def probe_app(app, make_app):
    """A fresh app where one endpoint per surface answers with the ``g.actor`` its hook set.
    Its context is pushed over the shared app's, so factories write to its database."""
    probe = make_app()
    for endpoint in ("kiosk.shell.help", "kiosk_api.ack", "admin.fleet.grid"):
        probe.view_functions[endpoint] = lambda **_kw: _show_actor()
    with probe.app_context():
        yield probe


def _kiosk_and_credential(db, make_kiosk):
    kiosk, credential = make_kiosk()
    return kiosk.number, credential


def _number_and_id(kiosk) -> tuple[str, int]:
    return kiosk.number, kiosk.id


def test_the_kiosk_surface_acts_as_the_kiosk_from_its_address(probe_app, db, make_kiosk):
    number, credential = _kiosk_and_credential(db, make_kiosk)
    client = client_at(probe_app, "10.9.8.7")
    client.set_cookie("kiosk_credential", credential)
    body = client.get("/kiosk/help").get_json()
    assert body == {"kind": "kiosk", "id": number, "label": f"kiosk:{number}", "ip": "10.9.8.7"}


def test_the_kiosk_api_acts_as_the_kiosk_from_its_address(probe_app, db, make_kiosk):
    number, credential = _kiosk_and_credential(db, make_kiosk)
    client = client_at(probe_app, "10.9.8.6")
    body = client.post("/api/v1/kiosk/commands/1/ack", headers={"Authorization": f"Kiosk {credential}"}).get_json()
    assert body == {"kind": "kiosk", "id": number, "label": f"kiosk:{number}", "ip": "10.9.8.6"}


def _staff(db, username: str, role: str = "admin"):
    from kiosk_backend.identity.models import StaffUser

    db.session.add(StaffUser(username=username, role=role,
                             password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
    db.session.commit()


def test_the_console_acts_as_the_signed_in_staff_member_from_their_address(probe_app, db):
    _staff(db, "wang")
    client = client_at(probe_app, "192.0.2.10")
    assert client.post("/admin/login", data={"username": "wang", "password": PASSWORD}).status_code == 302
    body = client.get("/admin/").get_json()
    assert body == {"kind": "staff", "id": "wang", "label": "wang", "ip": "192.0.2.10"}


def test_a_kiosk_action_is_audited_as_the_kiosk(app, db, make_kiosk):
    number, credential = _kiosk_and_credential(db, make_kiosk)
    client = client_at(app, "10.9.8.5")
    assert client.post("/api/v1/kiosk/credential", headers={"Authorization": f"Kiosk {credential}"}).status_code == 200
    db.session.remove()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "kiosk.rotate"))
    assert entry.actor == f"kiosk:{number}" and entry.target == f"kiosk:{number}"


def test_a_kiosk_action_is_audited_with_the_kiosks_address(app, db, make_kiosk):
    _number, credential = _kiosk_and_credential(db, make_kiosk)
    client = client_at(app, "10.9.8.5")
    assert client.post("/api/v1/kiosk/credential", headers={"Authorization": f"Kiosk {credential}"}).status_code == 200
    db.session.remove()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "kiosk.rotate"))
    assert entry.ip == "10.9.8.5"


def test_a_console_action_is_audited_with_the_staff_member_and_the_request_address(app, db, make_kiosk):
    kiosk, _ = make_kiosk(authorized=False)
    number, kiosk_id = _number_and_id(kiosk)
    _staff(db, "wang")
    client = client_at(app, "192.0.2.11")
    assert client.post("/admin/login", data={"username": "wang", "password": PASSWORD}).status_code == 302
    from kiosk_backend.identity.models import AdminSession

    db.session.remove()
    csrf = db.session.scalar(sa.select(AdminSession.csrf_token))
    response = client.post(f"/admin/kiosks/{kiosk_id}/authorize", data={"csrf_token": csrf})
    assert response.status_code == 302
    db.session.remove()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "kiosk.authorize"))
    assert (entry.actor, entry.ip, entry.target) == ("wang", "192.0.2.11", f"kiosk:{number}")


def test_a_catalog_import_through_the_api_is_audited_with_the_admins_name(app, db, admin_token):
    data = json.dumps([item_row(task_code="ACTOR1")], ensure_ascii=False).encode()
    client = client_at(app, "198.51.100.4")
    response = client.post("/api/v1/admin/catalog/import", data={"file": (io.BytesIO(data), "items.json")},
                           headers={"Authorization": f"Bearer {admin_token}"}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    db.session.remove()
    entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.startswith("catalog."))))
    assert entries, "the import wrote no audit entry"
    assert {(e.actor, e.ip) for e in entries} == {("admin", "198.51.100.4")}
