"""The catalog import page of the console through the test client (catalog/admin.py)."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog.models import Item
from kiosk_backend.core import audit
from tests.conftest import item_row, login


def _import(client, csrf, data: bytes, filename: str = "items.json", **form):
    return client.post("/admin/catalog/import", content_type="multipart/form-data",
                       data={"csrf_token": csrf, "file": (io.BytesIO(data), filename), **form})


@pytest.fixture
def admin_console(app, make_staff):
    make_staff("admin")
    client = app.test_client()
    return client, login(client, "admin")


def _items(db) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(sa.select(Item.task_code)))


def test_importing_a_good_file_writes_the_items_and_reports(db, admin_console):
    client, csrf = admin_console
    assert client.get("/admin/catalog/import").status_code == 200
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_name="结婚登记")], ensure_ascii=False)
    response = _import(client, csrf, data.encode())
    assert response.status_code == 200 and "已导入" in response.text
    assert _items(db) == ["A1", "A2"]
    assert audit.search(db.session, action="catalog.import")[0].details == {"rows": 2, "created": 2, "updated": 0,
                                                                           "skipped": 0}


def test_importing_a_file_with_bad_rows_gets_422_lists_the_problems_and_writes_nothing(db, admin_console):
    client, csrf = admin_console
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_type="99")], ensure_ascii=False)
    response = _import(client, csrf, data.encode())
    assert response.status_code == 422 and "task_type" in response.text and "未导入" in response.text
    assert _items(db) == []
    assert audit.search(db.session, action="catalog.import") == []


def test_importing_can_skip_bad_rows(db, admin_console):
    client, csrf = admin_console
    data = json.dumps([item_row(task_code="A1"), item_row(task_code="A2", task_type="99")], ensure_ascii=False)
    assert _import(client, csrf, data.encode(), skip_invalid="1").status_code == 200
    assert _items(db) == ["A1"]


def test_a_dry_run_checks_but_writes_nothing(db, admin_console):
    client, csrf = admin_console
    response = _import(client, csrf, json.dumps([item_row(task_code="A1")]).encode(), dry_run="1")
    assert response.status_code == 200 and "未写入" in response.text
    assert _items(db) == []


@pytest.mark.parametrize("data,filename", [
    (b"\x00\x01 not a catalog", "items.json"), (b"{", "items.json"), (b"", "items.csv"),
    (b"PK\x03\x04\x14\x00", "items.xlsx"),  # a spreadsheet read as CSV: no national columns
])
def test_an_unreadable_file_gets_422_and_writes_nothing(db, admin_console, data, filename):
    client, csrf = admin_console
    response = _import(client, csrf, data, filename)
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert _items(db) == []


def test_importing_without_a_file_gets_422(db, admin_console):
    client, csrf = admin_console
    response = client.post("/admin/catalog/import", data={"csrf_token": csrf})
    assert response.status_code == 422 and "请选择要导入的文件" in response.text
