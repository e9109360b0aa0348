"""Admin life events (一件事): the API under /api/v1/admin/catalog/life-events and its services."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog import life_event_services
from kiosk_backend.catalog.life_events import load_shipped
from kiosk_backend.catalog.models import CatalogRevision, LifeEventRow
from kiosk_backend.core import actors, audit, signals
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.errors import Conflict, Invalid, NotFound

URL = "/api/v1/admin/catalog/life-events"
BARBER = {"key": "barber_shop", "name": "开理发店", "triggers": ["开理发店", "理发店"],
          "patterns": ["个体工商户设立", "公共场所卫生许可"]}


@pytest.fixture
def auth(admin_token):
    return {"Authorization": f"Bearer {admin_token}"}


def count(db):
    return db.session.scalar(sa.select(sa.func.count()).select_from(LifeEventRow))


def revision(db):
    return db.session.scalar(sa.select(CatalogRevision.revision).where(CatalogRevision.id == 1)) or 0


# ---------------------------------------------------------------- API

def test_admins_add_list_and_delete_life_events(client, db, auth):
    created = client.post(URL, json=BARBER, headers=auth)
    assert created.status_code == 201
    body = created.get_json()
    assert body == {**BARBER, "id": body["id"], "created_by": "admin"}
    assert client.post(URL, json=BARBER, headers=auth).status_code == 409
    assert [e["key"] for e in client.get(URL, headers=auth).get_json()] == ["barber_shop"]
    assert client.delete(f"{URL}/{body['id']}", headers=auth).status_code == 204
    assert count(db) == 0 and client.get(URL, headers=auth).get_json() == []
    assert client.delete(f"{URL}/{body['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize("change,field", [
    ({"key": "理发"}, "key"),
    ({"key": "A"}, "key"),
    ({"name": ""}, "name"),
    ({"name": "长" * 51}, "name"),
    ({"triggers": []}, "triggers"),
    ({"triggers": ["理" * 51]}, "triggers"),
    ({"triggers": [f"说法{i}" for i in range(51)]}, "triggers"),
    ({"patterns": []}, "patterns"),
    ({"patterns": [""]}, "patterns"),
])
def test_bad_input_is_422_naming_the_field_in_both_languages(client, db, auth, change, field):
    response = client.post(URL, json={**BARBER, **change}, headers=auth)
    body = response.get_json()
    assert response.status_code == 422
    assert field in body["message"] and field in body["message_zh"] and body["message_zh"] != body["message"]
    assert count(db) == 0


@pytest.mark.parametrize("change,field", [({"triggers": ["！？"]}, "triggers"), ({"patterns": ["出生+"]}, "patterns"),
                                          ({"patterns": ["+证明"]}, "patterns"), ({"name": "   "}, "name")])
def test_entries_empty_once_normalised_are_refused_by_the_schema(client, db, auth, change, field):
    body = client.post(URL, json={**BARBER, **change}, headers=auth).get_json()
    assert body["code"] == 422 and field in body["errors"]["json"] and f"字段 {field}" in body["message_zh"]
    assert count(db) == 0


def test_the_schema_keeps_what_the_service_keeps(client, db, auth):
    data = {**BARBER, "triggers": ["自己 交社保", "ＡＢ"], "patterns": ["出生医学证明+签发", "个体工商户"]}
    assert client.post(URL, json=data, headers=auth).status_code == 201


def test_life_events_are_for_admins_only(client, db):
    from kiosk_backend.identity import services as identity

    assert client.get(URL).status_code == 401
    assert client.post(URL, json=BARBER).status_code == 401
    identity.create_staff(db.session, username="helper1", password="long enough pw", role="helper", actor=SYSTEM)
    token = identity.issue_token(db.session, username="helper1", name="t", actor=SYSTEM)
    db.session.commit()
    helper = {"Authorization": f"Bearer {token}"}
    assert client.get(URL, headers=helper).status_code == 403
    assert client.post(URL, json=BARBER, headers=helper).status_code == 403
    assert client.delete(f"{URL}/1", headers=helper).status_code == 403
    assert count(db) == 0


def test_the_openapi_document_describes_the_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths[URL]) and "delete" in paths[URL + "/{row_id}"]


# ---------------------------------------------------------------- services

def test_changes_bump_the_revision_are_audited_and_signalled(db):
    admin = actors.staff("admin", ip="10.0.0.9")
    seen = []

    def listener(sender, **kw):
        seen.append(kw["reason"])

    signals.catalog_changed.connect(listener)
    try:
        before = revision(db)
        row = life_event_services.add_life_event(db.session, actor=admin, **BARBER)
        assert revision(db) == before + 1
        life_event_services.delete_life_event(db.session, row.id, actor=admin)
        assert revision(db) == before + 2
    finally:
        signals.catalog_changed.disconnect(listener)
    db.session.commit()
    assert seen == ["life_event", "life_event"]
    entries = {e.action: e for e in audit.search(db.session, actor="admin")}
    assert set(entries) == {"life_event.add", "life_event.delete"}
    assert entries["life_event.add"].details["key"] == "barber_shop" and entries["life_event.add"].ip == "10.0.0.9"
    assert entries["life_event.add"].details["extends_shipped"] is False


def test_service_errors(db):
    with pytest.raises(Invalid) as bad:
        life_event_services.add_life_event(db.session, key="x", name="", triggers=[], patterns=["a+"], actor=SYSTEM)
    assert set(bad.value.errors) == {"key", "name", "triggers", "patterns"}
    with pytest.raises(Invalid) as bad:
        life_event_services.add_life_event(db.session, key="xy", name="名", triggers=["！？"], patterns=["a"],
                                           actor=SYSTEM)
    assert set(bad.value.errors) == {"triggers"} and "标点" in bad.value.message_zh
    life_event_services.add_life_event(db.session, actor=SYSTEM, **BARBER)
    with pytest.raises(Conflict):
        life_event_services.add_life_event(db.session, actor=SYSTEM, **BARBER)
    with pytest.raises(NotFound):
        life_event_services.delete_life_event(db.session, 9999, actor=SYSTEM)


def test_repeated_entries_are_kept_once(db):
    row = life_event_services.add_life_event(db.session, actor=SYSTEM, **{**BARBER, "triggers": ["理发店", " 理发店 "]})
    assert row.triggers == ["理发店"]


def test_the_index_uses_shipped_events_and_admin_additions(db):
    shipped = load_shipped()
    assert life_event_services.rows_for_index(db.session) == shipped
    life_event_services.add_life_event(db.session, actor=SYSTEM, **BARBER)
    events = life_event_services.rows_for_index(db.session)
    assert events[:len(shipped)] == shipped
    added = events[-1]
    assert (added.key, added.triggers, added.batch) == ("barber_shop", ("开理发店", "理发店"), "管理员添加")
    assert added.source == f"管理员添加（{SYSTEM}）"


def test_an_admin_row_with_a_shipped_key_extends_that_event(db):
    newborn = next(e for e in load_shipped() if e.key == "newborn")
    row = life_event_services.add_life_event(db.session, actor=SYSTEM, key="newborn", name="生娃一件事",
                                             triggers=["生了伢崽", "添了宝宝"], patterns=["育儿补贴"])
    merged = {e.key: e for e in life_event_services.rows_for_index(db.session)}
    extended = merged["newborn"]
    assert extended.name == "生娃一件事"
    assert extended.triggers == (*newborn.triggers, "生了伢崽") and extended.patterns == (*newborn.patterns, "育儿补贴")
    assert (extended.source, extended.batch) == (newborn.source, newborn.batch)
    assert len(merged) == len(load_shipped())
    assert audit.search(db.session, action="life_event.add")[0].details["extends_shipped"] is True
    life_event_services.delete_life_event(db.session, row.id, actor=SYSTEM)
    assert {e.key: e for e in life_event_services.rows_for_index(db.session)}["newborn"] == newborn

