"""Department clients: secrets shown once, sealed at rest, rotated with a grace period (applications/departments.py)."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import departments
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Conflict, Invalid, NotFound


def test_a_new_client_gets_a_key_id_and_a_secret_that_is_not_stored_in_clear(db, clock):
    client, secret = departments.create_client(db.session, name="深圳市公安局", region_code="440300", actor="admin",
                                               now=clock)
    assert client.key_id.startswith("dept-") and len(secret) >= 40
    assert secret not in client.secret_encrypted
    assert departments.secrets_for(client, now=clock) == [secret]
    assert departments.by_key_id(db.session, client.key_id) is client
    actions = list(db.session.scalars(sa.select(AuditEntry.action)))
    assert actions == ["department_client.create"]
    assert secret not in str(db.session.scalars(sa.select(AuditEntry.details)).all())


@pytest.mark.parametrize(("name", "region"), [("", None), ("x" * 201, None), ("深圳", "4403")])
def test_bad_client_data_is_refused(db, name, region):
    with pytest.raises(Invalid):
        departments.create_client(db.session, name=name, region_code=region, actor="admin")


def test_after_a_rotation_the_old_secret_works_until_the_grace_period_ends(db, clock):
    client, old = departments.create_client(db.session, name="深圳市公安局", actor="admin", now=clock)
    client, new = departments.rotate_secret(db.session, client.id, actor="admin", grace=timedelta(hours=1), now=clock)
    assert new != old
    assert departments.secrets_for(client, now=clock) == [new, old]
    clock.advance(hours=1, seconds=1)
    assert departments.secrets_for(client, now=clock) == [new]


def test_a_disabled_client_has_no_valid_secret_and_cannot_be_rotated(db, clock):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor="admin", now=clock)
    departments.set_active(db.session, client.id, False, actor="admin", now=clock)
    assert departments.secrets_for(client, now=clock) == []
    with pytest.raises(Conflict):
        departments.rotate_secret(db.session, client.id, actor="admin", now=clock)
    departments.set_active(db.session, client.id, True, actor="admin", now=clock)
    assert len(departments.secrets_for(client, now=clock)) == 1


def test_an_unknown_client_is_not_found(db):
    with pytest.raises(NotFound):
        departments.rotate_secret(db.session, 999, actor="admin")
    assert departments.secrets_for(None) == []


def test_a_secret_sealed_for_clients_does_not_open_as_a_phone_number(db):
    from kiosk_backend.identity import residents

    client, _ = departments.create_client(db.session, name="深圳市公安局", actor="admin")
    with pytest.raises(ValueError):
        residents.decrypt_phone(client.secret_encrypted)
