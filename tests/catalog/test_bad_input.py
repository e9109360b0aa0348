"""No input produces a 500: odd strings through every catalog entry point, odd files through the import."""
from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from kiosk_backend.catalog.models import Item
from kiosk_backend.cli import main
from tests.conftest import item_row

NASTY = [
    "", " ", "%", "%%", "_", "'", "\"", "\\", "' OR 1=1 --", "<script>alert(1)</script>", "\x00", "\x1f\u200b",
    "🙂🙂", "𠀀𠀁", "ｓｆｚ", "ﾃｽﾄ", "Ⅻ", "ǅ", "İ", "ß", "a" * 50, "社" * 50, "a b\tc\nd", "１２３", "00000000000",
    "../../etc/passwd", "?page=2", "&q=x", "#", "null", "[]", "{}", "\ud7ff", "\ufeff社保",
]


@pytest.fixture
def catalog(make_items):
    make_items(item_row(task_code="ID1"), item_row(task_code="HK1", task_name="户口迁移（迁入）"))


@pytest.mark.parametrize("text", NASTY)
def test_odd_queries_never_break_search(kiosk_client, catalog, text):
    q = quote(text, safe="")
    for path in (f"/api/v1/catalog/items?q={q}", f"/api/v1/catalog/suggest?q={q}", f"/kiosk/search?q={q}",
                 f"/kiosk/search?q={q}&partial=1", f"/api/v1/catalog/items?theme={q}&department={q}&bundle={q}"):
        response = kiosk_client.get(path)
        assert response.status_code in (200, 422), (path, response.status_code)


@pytest.mark.parametrize("text", NASTY[1:])
def test_odd_codes_and_names_in_paths_are_404_not_500(kiosk_client, catalog, text):
    segment = quote(text, safe="")
    for path in (f"/api/v1/catalog/items/{segment}", f"/kiosk/items/{segment}", f"/m/items/{segment}",
                 f"/kiosk/themes/{segment}", f"/kiosk/departments/{segment}", f"/kiosk/items/{segment}/print.png"):
        assert kiosk_client.get(path).status_code in (404, 308), path


@pytest.mark.parametrize("args", ["page=-1", "page=abc", "page=99999999999999999999", "page_size=1e3", "is_express=2"])
def test_odd_paging_and_flags_are_refused_or_ignored_cleanly(kiosk_client, catalog, args):
    assert kiosk_client.get(f"/api/v1/catalog/items?{args}").status_code == 422
    assert kiosk_client.get(f"/kiosk/search?q=sfz&{args}").status_code == 200


# ---------------------------------------------------------------- the import (issue 7 §1.3, 1.6, 1.11)

def upload(client, token, content: bytes, name="items.json", **params):
    # The body is encoded here, in memory: the test client would spool a large one to a
    # temporary file that it never closes (a ResourceWarning).
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename=name)})
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/v1/admin/catalog/import?{query}", data=body, headers={"Authorization": f"Bearer {token}"},
                       content_type=f"multipart/form-data; boundary={boundary}")


def items(db) -> list[str]:
    db.session.expire_all()
    return sorted(db.session.scalars(sa.select(Item.task_code)))


# Each of these gave 500 on import (PostgreSQL, and some SQLite too) while the dry run said valid,
# or was stored silently on SQLite. Now the schema refuses each, so both agree and nothing is written.
COLUMN_BREAKERS = {
    "nul": {"task_name": "居民身份证\u0000申领"},
    "surrogate": {"dept_name": "江州市\ud800公安局"},
    "surrogate in a list": {"keywords": ["身份证", "\udc80"]},
    "long theme": {"theme_natural": ["题" * 65]},
    "long bundle": {"bundles": ["包" * 101]},
    "popularity over INTEGER": {"popularity": 2**31},
    "popularity as a huge float": {"popularity": 1e300},
}


@pytest.mark.parametrize("overrides", COLUMN_BREAKERS.values(), ids=COLUMN_BREAKERS.keys())
def test_values_a_column_cannot_hold_get_the_same_verdict_from_the_dry_run_and_the_import(db, client, admin_token, overrides):
    # One item per line (the bad one on line 3), ASCII-escaped: a surrogate travels as \\ud800.
    content = ("[\n" + ",\n".join(json.dumps(r) for r in (item_row(task_code="OK1"),
                                                         item_row(task_code="BAD1", **overrides))) + "\n]").encode()
    dry = upload(client, admin_token, content, dry_run="true")
    assert dry.status_code == 200 and dry.get_json()["problems_total"] == 1
    real = upload(client, admin_token, content)
    assert real.status_code == 422, real.get_data(as_text=True)[:300]
    body = real.get_json()
    assert [p["line"] for p in body["errors"]["problems"]] == [3] and body["errors"]["problems_total"] == 1
    assert items(db) == []
    assert upload(client, admin_token, content, skip_invalid="true").status_code == 200
    assert items(db) == ["OK1"]


def test_a_name_whose_pinyin_is_longer_than_its_column_imports_on_both_databases(db, client, admin_token):
    content = json.dumps([item_row(task_code="LONG1", task_name="窗" * 200)], ensure_ascii=False).encode()
    assert upload(client, admin_token, content).status_code == 200
    assert items(db) == ["LONG1"]


def test_a_million_non_objects_are_refused_at_the_row_limit_with_a_short_answer(db, client, admin_token):
    content = ("[" + ",".join(["1"] * 1_000_000) + "]").encode()
    response = upload(client, admin_token, content)
    assert response.status_code == 422 and len(response.get_data()) < 2000
    assert "20,000" in response.get_json()["message"] and "20,000" in response.get_json()["message_zh"]


def test_problems_in_the_answer_are_capped_and_counted(db, client, admin_token, monkeypatch):
    monkeypatch.setitem(client.application.config, "KIOSK_IMPORT_MAX_PROBLEMS", 5)
    content = ("{}\n" * 40).encode()
    response = upload(client, admin_token, content, name="items.jsonl")
    body = response.get_json()
    assert response.status_code == 422 and "40 problem" in body["message"] and "40 处" in body["message_zh"]
    assert len(body["errors"]["problems"]) == 5 and body["errors"]["problems_total"] == 40
    dry = upload(client, admin_token, content, name="items.jsonl", dry_run="true").get_json()
    assert len(dry["problems"]) == 5 and dry["problems_total"] == 40 and dry["rows"] == 40


def test_the_row_limit_is_a_setting(db, client, admin_token, monkeypatch):
    monkeypatch.setitem(client.application.config, "KIOSK_IMPORT_MAX_ROWS", 3)
    rows = [item_row(task_code=f"R{n}") for n in range(4)]
    assert upload(client, admin_token, json.dumps(rows[:3]).encode()).status_code == 200
    refused = upload(client, admin_token, json.dumps(rows).encode())
    assert refused.status_code == 422 and "more than 3 rows" in refused.get_json()["message"]


@pytest.mark.parametrize("content,name,words", [
    (b'[{"task_code": "A"}] trailing', "items.json", "after the closing"),
    (b"task_name,task_code,dept_name,task_type,task_code\n\xe7\x94\xb2,A1,B,07,A2\n", "items.csv", "more than once"),
    (b"task_name,task_code,dept_name,task_type\n\xe7\x94\xb2,A1,B,\"" + b"x" * 200_000 + b"\"\n", "items.csv", "longer than"),
])
def test_files_refused_as_a_whole_say_why_through_the_api_and_the_console(db, client, admin_token, console,
                                                                          content, name, words):
    response = upload(client, admin_token, content, name=name)
    assert response.status_code == 422 and words in response.get_json()["message"]
    staff_client, csrf = console("importer")
    page = staff_client.post("/admin/catalog/import", content_type="multipart/form-data",
                             data={"csrf_token": csrf, "file": (io.BytesIO(content), name)})
    assert page.status_code == 422 and words in page.get_data(as_text=True)


def test_the_console_lists_the_first_problems_and_says_how_many_there_are(db, console, monkeypatch):
    client, csrf = console()
    monkeypatch.setitem(client.application.config, "KIOSK_IMPORT_MAX_PROBLEMS", 3)
    page = client.post("/admin/catalog/import", content_type="multipart/form-data",
                       data={"csrf_token": csrf, "file": (io.BytesIO(b"[1, 2, 3, 4, 5, 6, 7]"), "items.json")})
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and "以下列出前 3 处问题（共 7 处）" in text and text.count("每个事项必须是一个对象") == 3


@pytest.fixture
def runner(app):
    runner = app.test_cli_runner()
    invoke = runner.invoke
    runner.invoke = lambda args=None, **kw: invoke(main, args, **kw)
    return runner


def test_the_cli_streams_the_file_caps_problems_and_rows(db, runner, tmp_path, monkeypatch):
    path = tmp_path / "items.jsonl"
    path.write_text("1\n" * 250, encoding="utf-8")
    result = runner.invoke(["catalog", "import", "--dry-run", str(path)])
    assert result.exit_code == 1
    assert result.output.count("each item must be an object") == 200
    assert "... and 50 more problems" in result.output and "problems 250" in result.output
    refused = runner.invoke(["catalog", "import", "--max-rows", "100", str(path)])
    assert refused.exit_code == 1 and "more than 100 rows" in refused.output
    monkeypatch.setitem(runner.app.config, "KIOSK_IMPORT_MAX_ROWS", 10)
    assert "more than 10 rows" in runner.invoke(["catalog", "import", str(path)]).output


@pytest.mark.parametrize("filename", ["a\x00b.json", "长" * 300 + ".json"])
def test_any_upload_file_name_is_recorded_within_its_column(db, client, admin_token, console, filename):
    from kiosk_backend.core import audit

    content = json.dumps([item_row(task_code="F1")]).encode()
    assert upload(client, admin_token, content, name=filename).status_code == 200
    staff_client, csrf = console("importer")
    page = staff_client.post("/admin/catalog/import", data={"csrf_token": csrf, "file": (io.BytesIO(content), filename)},
                             content_type="multipart/form-data")
    assert page.status_code == 200
    targets = [entry.target for entry in audit.search(db.session, action="catalog.import")]
    assert len(targets) == 2 and all(len(t) <= 200 and "\x00" not in t and t.endswith(".json") for t in targets)


@pytest.mark.parametrize("raw", ['"社\\u0000保"', '"\\ud800"', '"社保\\udfff"'])
def test_nul_and_unpaired_surrogates_in_json_bodies_are_refused_naming_the_field(db, client, admin_token, raw):
    body = '{"term": ' + raw + ', "expansion": "社会保险"}'
    response = client.post("/api/v1/admin/catalog/synonyms", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 422 and "term" in response.get_json()["message"]
    assert "NUL" in response.get_json()["message"] and "字段 term" in response.get_json()["message_zh"]
    assert client.get("/api/v1/admin/catalog/synonyms", headers={"Authorization": f"Bearer {admin_token}"}).get_json() == []


def test_nul_in_a_query_string_is_refused_naming_the_parameter(kiosk_client, catalog):
    response = kiosk_client.get("/api/v1/catalog/items?theme=%00")
    assert response.status_code == 422 and "theme" in response.get_json()["message"]
