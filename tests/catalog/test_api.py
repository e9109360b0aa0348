"""The catalog's JSON API through the test client."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog.models import Item, Synonym
from tests.conftest import item_row


@pytest.fixture
def items(make_items):
    return make_items(
        item_row(task_code="ID1", popularity=100, theme_natural=["证件办理"], is_online=True, handle_area="全省"),
        item_row(task_code="HK1", task_name="户口迁移（迁入）", popularity=50, theme_natural=["户籍办理"]),
        item_row(task_code="HY1", task_name="结婚登记", dept_name="江州市民政局", bundles=["婚育一件事"]),
    )


def test_search_returns_items_best_first_with_total(client, items):
    body = client.get("/api/v1/catalog/items?q=sfz").get_json()
    assert body["total"] == 1 and body["items"][0]["task_code"] == "ID1"
    assert set(body["items"][0]) >= {"task_code", "task_name", "dept_name", "task_type", "is_online", "handle_area"}
    assert body["help"] is None and body["popular"] == []


def test_search_results_are_exactly_what_the_documented_schema_gives(client, items):
    from kiosk_backend.catalog.schemas import SearchResult

    for query in ("q=sfz", "q=火星移民", "theme=户籍办理"):
        body = client.get(f"/api/v1/catalog/items?{query}").get_json()
        assert SearchResult().dump(body) == body


def test_search_filters_by_theme_and_flags(client, items):
    assert [i["task_code"] for i in client.get("/api/v1/catalog/items?theme=户籍办理").get_json()["items"]] == ["HK1"]
    assert [i["task_code"] for i in client.get("/api/v1/catalog/items?is_online=true").get_json()["items"]] == ["ID1"]
    assert [i["task_code"] for i in client.get("/api/v1/catalog/items?bundle=婚育一件事").get_json()["items"]] == ["HY1"]


def test_search_pages(client, items):
    body = client.get("/api/v1/catalog/items?page=2&page_size=2").get_json()
    assert body["total"] == 3 and [i["task_code"] for i in body["items"]] == ["HY1"]


@pytest.mark.parametrize("query,field", [
    ("page_size=0", "page_size"), ("page_size=101", "page_size"), ("page=abc", "page"),
    ("q=" + "长" * 51, "q"), ("handle_area=火星", "handle_area"), ("server_type=x", "server_type"),
    ("is_online=perhaps", "is_online"),
])
def test_bad_parameters_get_422_naming_the_field_in_both_languages(client, items, query, field):
    response = client.get(f"/api/v1/catalog/items?{query}")
    body = response.get_json()
    assert response.status_code == 422
    assert set(body) == {"code", "status", "message", "message_zh", "errors"}
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    assert field in body["message"] and f"字段 {field}" in body["message_zh"]
    assert field in body["errors"]["query"]


def test_an_empty_result_offers_popular_items_and_help(client, items):
    body = client.get("/api/v1/catalog/items?q=火星移民").get_json()
    assert body["total"] == 0 and body["popular"][0]["task_code"] == "ID1"
    assert body["help"]["message_zh"]


def test_suggest_gives_names_for_search_as_you_type(client, items):
    body = client.get("/api/v1/catalog/suggest?q=hk&limit=5").get_json()
    assert body == {"suggestions": [{"task_code": "HK1", "task_name": "户口迁移（迁入）"}]}
    assert client.get("/api/v1/catalog/suggest").status_code == 422


def test_the_guide_of_one_item(client, items):
    body = client.get("/api/v1/catalog/items/HY1").get_json()
    assert body["task_name"] == "结婚登记" and body["bundles"] == ["婚育一件事"] and body["materials"] == []


def test_an_unknown_item_is_404_in_the_one_error_shape(client, items):
    response = client.get("/api/v1/catalog/items/NOPE")
    assert response.status_code == 404
    assert response.get_json() == {"code": 404, "status": "Not Found", "message": "No service item with code NOPE.",
                                   "message_zh": "没有找到该事项。", "errors": {}}


def test_an_unknown_url_is_404_json_under_the_api(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.get_json()["message_zh"]


def test_themes_departments_and_bundles_are_listed(client, items):
    assert {t["name"] for t in client.get("/api/v1/catalog/themes?audience=natural").get_json()} == {"证件办理", "户籍办理"}
    assert client.get("/api/v1/catalog/themes?audience=x").status_code == 422
    assert client.get("/api/v1/catalog/departments").get_json()[0] == {"name": "江州市公安局", "code": None, "item_count": 2}
    bundles = client.get("/api/v1/catalog/bundles").get_json()
    assert bundles[0]["name"] == "婚育一件事" and bundles[0]["items"][0]["task_code"] == "HY1"
    assert client.get(f"/api/v1/catalog/bundles/{bundles[0]['id']}").get_json()["name"] == "婚育一件事"
    assert client.get("/api/v1/catalog/bundles/999").status_code == 404


def test_json_keeps_chinese_readable(client, items):
    assert "结婚登记".encode() in client.get("/api/v1/catalog/items/HY1").data


def test_the_openapi_document_describes_every_catalog_route(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/api/v1/catalog/items", "/api/v1/catalog/items/{task_code}", "/api/v1/catalog/suggest",
                 "/api/v1/catalog/themes", "/api/v1/catalog/departments", "/api/v1/catalog/bundles",
                 "/api/v1/admin/catalog/import", "/api/v1/admin/catalog/synonyms"):
        assert path in paths, path
    assert "message_zh" in json.dumps(spec["components"]["schemas"]["Error"])


# ------------------------------------------------------------------ admin import

def upload(client, token, content: bytes, name="items.json", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/v1/admin/catalog/import?{query}", data={"file": (io.BytesIO(content), name)},
                       headers={"Authorization": f"Bearer {token}"} if token else {}, content_type="multipart/form-data")


def as_json(*rows):
    """A JSON array with one item per line: item N starts on line N + 1."""
    return ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]").encode()


def test_import_needs_a_bearer_token(client, db):
    response = upload(client, None, as_json(item_row()))
    assert response.status_code == 401 and response.get_json()["message_zh"]
    assert upload(client, "not-a-token", as_json(item_row())).status_code == 401


def test_import_is_for_admins_only(client, db):
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.identity import services as identity

    identity.create_staff(db.session, username="helper1", password="long enough pw", role="helper", actor=SYSTEM)
    token = identity.issue_token(db.session, username="helper1", name="t", actor=SYSTEM)
    db.session.commit()
    assert upload(client, token, as_json(item_row())).status_code == 403


def test_an_admin_imports_a_file(client, db, admin_token):
    response = upload(client, admin_token, as_json(item_row(task_code="A1"), item_row(task_code="A2")))
    assert response.status_code == 200
    assert response.get_json() | {"problems": []} == {"rows": 2, "valid": 2, "created": 2, "updated": 0, "skipped": 0,
                                                       "dry_run": False, "written": True, "problems": [],
                                                       "problems_total": 0}
    assert client.get("/api/v1/catalog/items/A2").status_code == 200


def test_an_admin_imports_csv(client, db, admin_token):
    csv_bytes = "task_name,task_code,dept_name,task_type\n结婚登记,C1,江州市民政局,07\n".encode()
    assert upload(client, admin_token, csv_bytes, name="items.csv").get_json()["created"] == 1


def test_a_file_with_problems_is_refused_whole_with_every_problem_listed(client, db, admin_token):
    response = upload(client, admin_token, as_json(item_row(task_code="A1"), item_row(task_code="A2", task_type="99"),
                                                   item_row(task_code="A3", catalog_code="1")))
    body = response.get_json()
    assert response.status_code == 422
    assert [(p["line"], p["field"]) for p in body["errors"]["problems"]] == [(3, "task_type"), (4, "catalog_code")]
    assert "未导入" in body["message_zh"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Item)) == 0


def test_skip_invalid_imports_the_rest(client, db, admin_token):
    response = upload(client, admin_token, as_json(item_row(task_code="A1"), item_row(task_code="A2", task_type="99")),
                      skip_invalid="true")
    assert response.status_code == 200 and response.get_json()["created"] == 1 and response.get_json()["skipped"] == 1


def test_dry_run_reports_without_writing(client, db, admin_token):
    response = upload(client, admin_token, as_json(item_row(task_code="A1"), item_row(task_code="A2", task_type="99")),
                      dry_run="true")
    body = response.get_json()
    assert response.status_code == 200 and body["written"] is False and len(body["problems"]) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Item)) == 0


def test_an_unreadable_upload_is_a_clear_422(client, db, admin_token):
    response = upload(client, admin_token, b'{"not": "an array"}', name="items.json")
    assert response.status_code == 422 and "数组" in response.get_json()["message_zh"]


def test_an_import_without_a_file_is_422(client, db, admin_token):
    response = client.post("/api/v1/admin/catalog/import", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 422 and "file" in response.get_json()["message"]


def test_admins_manage_synonyms(client, db, admin_token):
    auth = {"Authorization": f"Bearer {admin_token}"}
    created = client.post("/api/v1/admin/catalog/synonyms", json={"term": "农保", "expansion": "城乡居民基本养老保险"}, headers=auth)
    assert created.status_code == 201 and created.get_json()["created_by"] == "admin"
    assert client.post("/api/v1/admin/catalog/synonyms", json={"term": "农保", "expansion": "城乡居民基本养老保险"},
                       headers=auth).status_code == 409
    assert client.post("/api/v1/admin/catalog/synonyms", json={"term": "", "expansion": "x"}, headers=auth).status_code == 422
    assert [s["term"] for s in client.get("/api/v1/admin/catalog/synonyms", headers=auth).get_json()] == ["农保"]
    assert client.delete(f"/api/v1/admin/catalog/synonyms/{created.get_json()['id']}", headers=auth).status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Synonym)) == 0
    assert client.get("/api/v1/admin/catalog/synonyms").status_code == 401
