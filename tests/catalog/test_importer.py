"""The import format: JSON array, JSON lines, CSV; problems by line and field."""
from __future__ import annotations

import json

import pytest

from kiosk_backend.catalog.importer import detect_format, read_rows, validate_rows
from kiosk_backend.core.errors import Invalid

MINIMAL = {"task_name": "居民身份证申领", "task_code": "A001", "dept_name": "江州市公安局", "task_type": "07"}


def check(rows_or_text, fmt="json"):
    data = rows_or_text if isinstance(rows_or_text, (bytes, str)) else json.dumps(rows_or_text, ensure_ascii=False, indent=1)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return validate_rows(read_rows(data, fmt))


def fields_of(checked):
    return {(p.line, p.field) for p in checked.problems}


def test_a_row_with_only_the_four_required_fields_imports():
    checked = check([MINIMAL])
    assert not checked.problems
    item = checked.valid[0]
    assert item["task_type"] == "07" and item["server_type"] == ["自然人"] and item["materials"] == []


def test_task_type_may_be_given_by_name():
    checked = check([{**MINIMAL, "task_type": "行政许可"}, {**MINIMAL, "task_code": "A002", "task_type": "公共服务"}])
    assert [i["task_type"] for i in checked.valid] == ["01", "20"]


@pytest.mark.parametrize("missing", ["task_name", "task_code", "dept_name", "task_type"])
def test_each_required_field_is_reported_when_missing(missing):
    row = {k: v for k, v in MINIMAL.items() if k != missing}
    checked = check([row])
    assert not checked.valid
    assert [(p.field, p.message_zh) for p in checked.problems] == [(missing, "缺少必填字段。")]


@pytest.mark.parametrize("field,value", [
    ("task_code", "has space"),
    ("task_code", "x" * 65),
    ("catalog_code", "12345"),
    ("task_type", "99"),
    ("dept_code", "91110000000000000X"),
    ("server_type", "游客"),
    ("promise_type", "月"),
    ("project_type", "特别件"),
    ("handle_area", "全球"),
    ("online_handle_depth", "V"),
    ("is_online", "maybe"),
    ("promise_day", "three"),
    ("limit_scene_num", -1),
    ("materials", [{"necessity": "必要"}]),
    ("materials", [{"name": "身份证", "necessity": "随便"}]),
    ("faq", [{"question": "能代办吗？"}]),
    ("fees", "20元"),
])
def test_a_bad_value_is_reported_with_its_line_and_field_in_both_languages(field, value):
    checked = check([MINIMAL, {**MINIMAL, "task_code": "B002", field: value}])
    assert [i["task_code"] for i in checked.valid] == ["A001"]
    assert checked.problems, field
    problem = checked.problems[0]
    assert problem.line == 8  # indent=1: the second object starts on line 8
    assert problem.field.split(".")[0] == field
    assert problem.message and problem.message_zh and problem.message != problem.message_zh
    assert problem.task_code == (value if field == "task_code" else "B002")


@pytest.mark.parametrize("row,field", [
    ({"promise_day": 0, "project_type": "承诺件"}, "project_type"),
    ({"promise_day": 5, "project_type": "即办件"}, "promise_day"),
    ({"limit_scene_num": 1}, "limit_scene_explain"),
    ({"limit_scene_num": 0, "is_online": False, "is_express": False}, "is_express"),
    ({"fees": [{"name": "工本费", "standard": "20元"}], "is_fee": False}, "is_fee"),
])
def test_consistency_rules_of_the_national_schema_are_enforced(row, field):
    checked = check([{**MINIMAL, **row}])
    assert [p.field for p in checked.problems] == [field]


def test_consistent_rows_pass_the_rules():
    checked = check([{**MINIMAL, "promise_day": 0, "project_type": "即办件", "limit_scene_num": 0, "is_online": True},
                     {**MINIMAL, "task_code": "A2", "limit_scene_num": 1, "limit_scene_explain": "现场采集指纹"}])
    assert not checked.problems


def test_a_duplicate_task_code_in_one_file_names_the_first_line():
    checked = validate_rows(read_rows(b'{"task_name":"a","task_code":"X","dept_name":"d","task_type":"07"}\n'
                                      b'{"task_name":"b","task_code":"X","dept_name":"d","task_type":"07"}\n', "jsonl"))
    assert len(checked.valid) == 1
    assert [(p.line, p.field) for p in checked.problems] == [(2, "task_code")]
    assert "第 1 行" in checked.problems[0].message_zh


def test_jsonl_reports_unparsable_lines_and_keeps_checking():
    text = json.dumps(MINIMAL, ensure_ascii=False) + "\n{not json\n\n" + json.dumps({**MINIMAL, "task_code": "Z"}) + "\n"
    checked = check(text, "jsonl")
    assert len(checked.valid) == 2
    assert fields_of(checked) == {(2, "_row")}


def test_a_json_item_that_is_not_an_object_is_reported():
    checked = check([MINIMAL, "居民身份证"])
    assert [p.field for p in checked.problems] == ["_row"]


def test_a_json_file_that_is_not_an_array_is_refused_as_a_whole():
    with pytest.raises(Invalid) as err:
        check(json.dumps(MINIMAL), "json")
    assert "数组" in err.value.message_zh


def test_broken_json_is_refused_naming_the_line():
    with pytest.raises(Invalid) as err:
        check('[\n{"task_name": "a",\n "task_code": }\n]', "json")
    assert "line 3" in err.value.message


CSV_TEXT = (
    "task_name,task_code,dept_name,task_type,is_online,theme_natural,promise_day,limit_scene_num\n"
    "居民身份证申领,C1,江州市公安局,07,是,户籍办理;证件办理,20,1\n"
    "\"户口迁移\n（迁入）\",C2,江州市公安局,行政确认,否,户籍办理,,\n"
    "补领结婚证,C3,江州市民政局,07,1,,abc,0\n"
)


def test_csv_rows_are_read_with_lists_flags_and_blank_cells():
    checked = check(CSV_TEXT, "csv")
    by_code = {i["task_code"]: i for i in checked.valid}
    assert by_code["C2"]["task_name"] == "户口迁移\n（迁入）"
    assert by_code["C2"]["promise_day"] is None and by_code["C2"]["is_online"] is False
    assert checked.problems and {(p.line, p.field) for p in checked.problems} >= {(2, "limit_scene_explain"), (5, "promise_day")}


def test_csv_lines_count_multi_line_cells():
    checked = check(CSV_TEXT, "csv")
    assert {p.line for p in checked.problems} == {2, 5}


def test_csv_saved_by_a_chinese_spreadsheet_in_gb18030_is_read():
    checked = check(("task_name,task_code,dept_name,task_type\n残疾人证新办,G1,江州市残疾人联合会,20\n").encode("gb18030"), "csv")
    assert checked.valid[0]["task_name"] == "残疾人证新办"


def test_a_csv_with_a_byte_order_mark_keeps_its_first_header():
    checked = check("\ufefftask_name,task_code,dept_name,task_type\n高龄津贴申领,B1,江州市民政局,05\n".encode(), "csv")
    assert checked.valid and not checked.problems


def test_undecodable_bytes_are_refused():
    with pytest.raises(Invalid):
        check(b"\xff\xfe\x00\x81\x00\xff\xff", "csv")


@pytest.mark.parametrize("name,head,expected", [
    ("items.json", b"", "json"), ("items.JSONL", b"", "jsonl"), ("x.ndjson", b"", "jsonl"), ("a.csv", b"[", "csv"),
    (None, b"\xef\xbb\xbf  [", "json"), ("upload", b'{"task', "jsonl"), (None, b"task_name,", "csv"),
])
def test_format_is_taken_from_the_name_then_the_content(name, head, expected):
    assert detect_format(name, head) == expected


def test_a_csv_without_the_required_columns_is_refused_naming_them():
    with pytest.raises(Invalid) as err:
        check("名称,编码\n居民身份证申领,A1\n", "csv")
    assert "task_name" in err.value.message and "task_code" in err.value.message_zh


def test_a_spreadsheet_read_as_csv_is_refused():
    with pytest.raises(Invalid):
        check(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00binary spreadsheet", "csv")
