"""Properties of the catalog import (Hypothesis, derandomized and bounded so the suite stays fast).

- Any bytes, any text, any JSON value, in any of the three formats: the importer answers with
  a report or its own error (``Invalid``), never anything else; the report's problem list is
  bounded and its counts add up.
- Whatever the check calls valid, the database takes (both databases): the dry run and the
  import agree, through the services and through the API.
- A valid generated catalog written as a JSON array, JSON lines or CSV reads back the same,
  and what is imported is what the guides then show.
"""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from kiosk_backend.catalog import services
from kiosk_backend.catalog.import_schema import TASK_TYPE_BY_NAME
from kiosk_backend.catalog.importer import Checked
from kiosk_backend.catalog.schemas import TASK_TYPES
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.errors import Invalid

MAX_PROBLEMS = 7
BOUNDED = settings(max_examples=60, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])
WITH_DATABASE = settings(BOUNDED, max_examples=30)

# Text of every kind, unpaired surrogates and NUL included (JSON carries them as escapes).
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=30) | st.sampled_from(["", " ", "\x00", "\ud800", "窗" * 201, "题" * 65, "是", "07"])
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**31 - 3, max_value=2**64)
                | st.floats(allow_nan=False, allow_infinity=False) | ANY_TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12)
FIELDS = ["task_name", "task_code", "dept_name", "task_type", "catalog_code", "task_version", "task_state",
          "dept_code", "entrust_dept", "server_type", "accept_condition", "anticipate_day", "anticipate_type",
          "promise_day", "promise_type", "project_type", "limit_scene_num", "limit_scene_explain", "is_fee",
          "fees", "is_online", "online_handle_depth", "is_express", "handle_area", "theme_natural",
          "theme_legal", "materials", "faq", "keywords", "popularity", "bundles"]


def check(data: bytes, name: str | None, fmt: str | None = None) -> Checked | None:
    """The importer's verdict on a file: a report, or None when it refused the whole file."""
    try:
        checked = services.check_file(io.BytesIO(data), filename=name, fmt=fmt, max_rows=50, max_problems=MAX_PROBLEMS)
    except Invalid as exc:
        assert exc.message and exc.message_zh
        return None
    assert len(checked.problems) <= MAX_PROBLEMS
    assert checked.total_problems == len(checked.problems) + checked.more_problems
    assert len(checked.valid) <= checked.rows <= 50
    for problem in checked.problems:
        json.dumps(problem.as_dict(), ensure_ascii=False).encode("utf-8")  # can be sent back
    return checked


# ---------------------------------------------------------------- never anything but Invalid

@BOUNDED
@given(data=st.binary(max_size=400), name=st.sampled_from(["x.json", "x.jsonl", "x.csv", None]))
def test_any_bytes_get_a_report_or_the_importers_own_error(data, name):
    check(data, name)


@BOUNDED
@given(text=st.text(ANY_CHAR.filter(lambda c: not "\ud800" <= c <= "\udfff"), max_size=300),
       fmt=st.sampled_from(["json", "jsonl", "csv"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_any_text_in_any_format_gets_a_report_or_the_importers_own_error(text, fmt, encoding):
    check(text.encode(encoding), None, fmt)


@BOUNDED
@given(rows=st.lists(JSON_VALUES, max_size=8), ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_any_json_values_as_an_array_or_as_lines_get_a_report_or_the_importers_own_error(rows, ascii_only, indent):
    # Unescaped, an unpaired surrogate is not UTF-8 at all: then any verdict will do, but a verdict.
    checked = check(json.dumps(rows, ensure_ascii=ascii_only, indent=indent).encode("utf-8", "surrogatepass"), "x.json")
    if ascii_only:
        assert checked is not None and checked.rows == len(rows)  # a well-formed array is read whole
    lines = "\n".join(json.dumps(r, ensure_ascii=True) for r in rows)
    checked = check(lines.encode("utf-8"), "x.jsonl")
    assert checked is not None and checked.rows == len(rows)


@BOUNDED
@given(header=st.lists(st.sampled_from(FIELDS + ["", "x"]), min_size=0, max_size=8),
       cells=st.lists(st.lists(ANY_TEXT.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)), max_size=9),
                      max_size=6))
def test_any_csv_gets_a_report_or_the_importers_own_error(header, cells):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["task_name", "task_code", "dept_name", "task_type", *header])
    writer.writerows(cells)
    check(out.getvalue().encode("utf-8"), "x.csv")


def test_problems_beyond_the_cap_are_counted_not_kept():
    checked = check(("1\n" * 40).encode(), "x.jsonl")
    assert len(checked.problems) == MAX_PROBLEMS and checked.total_problems == 40


# ---------------------------------------------------------------- valid means importable

TASK_CODES = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
NAME_CHARS = st.characters(categories=["Lo", "Lu", "Ll", "Nd"], max_codepoint=0x9FFF)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=200)
LIST_TEXT = st.text(NAME_CHARS, min_size=1, max_size=64)


@st.composite
def valid_rows(draw, count=st.integers(min_value=1, max_value=4)):
    rows = []
    for code in draw(st.lists(TASK_CODES, min_size=1, max_size=draw(count), unique=True)):
        rows.append({
            "task_code": code,
            "task_name": draw(NAMES),
            "dept_name": draw(st.sampled_from(["江州市公安局", "江州市民政局"]) | NAMES),
            "task_type": draw(st.sampled_from(sorted(TASK_TYPES) + ["行政许可", "公共服务", "确认"])),
            "popularity": draw(st.integers(min_value=0, max_value=2**31 - 1)),
            "theme_natural": draw(st.lists(LIST_TEXT, max_size=3, unique=True)),
            "keywords": draw(st.lists(LIST_TEXT, max_size=3, unique=True)),
            "bundles": draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=100), max_size=2, unique=True)),
            "is_online": draw(st.booleans()),
        })
    return rows


# Values at the edges of what the columns hold (INTEGER, VARCHAR(n)) and of what databases store.
EDGES = [2**31 - 1, 2**31, -(2**31) - 1, 2**63, 2**64, 1e300, -1, 0.5, "9" * 30, "", "a\x00b", "\ud800",
         "ok\udfff", "题" * 64, "题" * 65, "包" * 101, "窗" * 200, "窗" * 201, "x" * 20001, "是", "否", "07", "法人"]
EDGE_SCALARS = st.sampled_from(EDGES)
EDGE_VALUES = EDGE_SCALARS | st.lists(EDGE_SCALARS, min_size=1, max_size=2) | st.lists(
    st.fixed_dictionaries({"name": EDGE_SCALARS, "question": EDGE_SCALARS, "answer": EDGE_SCALARS}), min_size=1, max_size=2)


@st.composite
def perturbed_rows(draw):
    """Valid rows with some fields replaced by edge values or by anything at all."""
    rows = draw(valid_rows())
    for row in rows:
        for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
            row[name] = draw(EDGE_VALUES | JSON_VALUES)
    return rows


@WITH_DATABASE
@given(rows=perturbed_rows())
def test_what_the_check_calls_valid_the_database_takes(db, rows):
    checked = check(json.dumps(rows).encode(), "x.json")
    assert checked is not None
    try:  # a value the database refuses raises here
        result = services.import_items(db.session, checked, actor=SYSTEM, skip_invalid=True)
        db.session.flush()
        assert result.written == bool(checked.valid)
    finally:
        db.session.rollback()


@pytest.mark.parametrize("field", FIELDS)
def test_every_edge_value_in_every_field_is_refused_by_the_check_or_taken_by_the_database(db, field):
    """The grid behind the property above: each field, each edge value (alone, in a list, in
    a nested object), one row each, so none is left to chance."""
    shapes = [*EDGES, *([v] for v in EDGES), *([{"name": v, "question": v, "answer": v}] for v in EDGES)]
    for number, value in enumerate(shapes):
        rows = [{"task_code": f"E{number}", "task_name": "居民身份证申领", "dept_name": "江州市公安局",
                 "task_type": "07", field: value}]
        checked = check(json.dumps(rows).encode(), "x.json")
        try:
            services.import_items(db.session, checked, actor=SYSTEM)
            db.session.flush()
        finally:
            db.session.rollback()


def _upload(client, token, content: bytes, **params):
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename="x.json")})
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"/api/v1/admin/catalog/import?{query}", data=body, headers={"Authorization": f"Bearer {token}"},
                       content_type=f"multipart/form-data; boundary={boundary}")


@settings(WITH_DATABASE, max_examples=15)
@given(rows=perturbed_rows())
def test_the_dry_run_and_the_import_agree_through_the_api(db, client, admin_token, rows):
    content = json.dumps(rows).encode()
    dry = _upload(client, admin_token, content, dry_run="true")
    real = _upload(client, admin_token, content)
    assert dry.status_code in (200, 422) and real.status_code in (200, 422), real.get_data(as_text=True)[:300]
    if dry.status_code == 422:  # the file as a whole: refused the same way
        assert real.status_code == 422 and real.get_json()["message"] == dry.get_json()["message"]
    else:
        valid = dry.get_json()["problems_total"] == 0
        assert real.status_code == (200 if valid else 422)
        if not valid:
            assert real.get_json()["errors"]["problems_total"] == dry.get_json()["problems_total"]


# ---------------------------------------------------------------- round trips

def as_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = list(rows[0])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([";".join(v) if isinstance(v, list) else ("是" if v else "否") if isinstance(v, bool) else v
                         for v in (row[c] for c in columns)])
    return out.getvalue().encode("utf-8")


@BOUNDED
@given(rows=valid_rows())
def test_a_valid_catalog_reads_the_same_from_every_format(rows):
    as_array = check(json.dumps(rows, ensure_ascii=False, indent=1).encode(), "x.json")
    as_lines = check("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(), "x.jsonl")
    as_table = check(as_csv(rows), "x.csv")
    assert as_array.total_problems == 0, as_array.problems
    assert as_array.valid == as_lines.valid == as_table.valid
    assert [r["task_code"] for r in as_array.valid] == [r["task_code"] for r in rows]


@WITH_DATABASE
@given(rows=valid_rows())
def test_a_valid_catalog_imports_and_reads_back_as_written(db, rows):
    checked = check(json.dumps(rows, ensure_ascii=False).encode(), "x.json")
    try:
        result = services.import_items(db.session, checked, actor=SYSTEM)
        assert result.written and result.created == len(rows)
        db.session.flush()
        for row in rows:
            guide = services.guide_of(db.session, services.get_item(db.session, row["task_code"]))
            assert guide["task_name"] == row["task_name"].strip()
            assert guide["popularity"] == row["popularity"]
            assert guide["is_online"] == row["is_online"]
            assert guide["theme_natural"] == sorted(t.strip() for t in row["theme_natural"])
            assert guide["keywords"] == row["keywords"]
            assert guide["task_type"] == TASK_TYPE_BY_NAME.get(row["task_type"], row["task_type"])
    finally:
        db.session.rollback()
