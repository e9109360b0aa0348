"""The import format: JSON array, JSON lines, CSV; problems by line and field."""
from __future__ import annotations

import io
import json

import pytest

from kiosk_backend.catalog import importer
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


# ---------------------------------------------------------------- bounds and odd files (issue 7 §1.3, 1.6, 1.11)

def test_content_after_the_closing_bracket_of_a_json_array_is_refused():
    with pytest.raises(Invalid) as err:
        check('[\n' + json.dumps(MINIMAL) + '\n]\n{"task_code": "B2"}\n', "json")
    assert "line 4" in err.value.message and "after the closing" in err.value.message
    assert "第 4 行" in err.value.message_zh and "多余内容" in err.value.message_zh


def test_whitespace_after_a_json_array_is_fine():
    assert check('[' + json.dumps(MINIMAL) + ']\r\n\n  \t', "json").valid


@pytest.mark.parametrize("text", ['[{"task_code": "A"}', '[{"task_code": "A"},', "[1 2]", "[1,]", '["abc'])
def test_an_unfinished_or_broken_json_array_is_refused(text):
    with pytest.raises(Invalid):
        check(text, "json")


def test_duplicate_csv_columns_are_refused_naming_them():
    with pytest.raises(Invalid) as err:
        check("task_name,task_code,dept_name,task_type, task_code\n甲,A1,乙,07,A2\n", "csv")
    assert "task_code" in err.value.message and "more than once" in err.value.message
    assert "task_code" in err.value.message_zh and "不止一次" in err.value.message_zh


def test_empty_trailing_csv_header_cells_are_not_duplicates():
    assert check("task_name,task_code,dept_name,task_type,,\n甲,A1,乙,07,,\n", "csv").valid


def test_a_csv_cell_over_the_field_limit_is_refused_naming_the_line():
    import csv

    big = "x" * (csv.field_size_limit() + 1)
    with pytest.raises(Invalid) as err:
        check(f"task_name,task_code,dept_name,task_type,by_law\n甲,A1,乙,07,ok\n甲,A2,乙,07,\"{big}\"\n", "csv")
    assert "line 3" in err.value.message and "第 3 行" in err.value.message_zh


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_line_over_the_row_limit_is_never_held_whole(monkeypatch, fmt):
    monkeypatch.setattr(importer, "MAX_ROW_CHARS", 200)
    monkeypatch.setattr(importer, "_TOO_LONG", importer.Unparsable("too long", "太长"))
    long_row = {**MINIMAL, "task_code": "L1", "by_law": "法" * 300}
    if fmt == "jsonl":
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in (MINIMAL, long_row, {**MINIMAL, "task_code": "Z"}))
        checked = check(text, "jsonl")
        assert [(p.line, p.field) for p in checked.problems] == [(2, "_row")] and len(checked.valid) == 2
    else:
        with pytest.raises(Invalid) as err:
            check("task_name,task_code,dept_name,task_type,by_law\n甲,A1,乙,07," + "法" * 300 + "\n", "csv")
        assert "line 2" in err.value.message


def test_a_json_array_item_over_the_row_limit_is_refused(monkeypatch):
    monkeypatch.setattr(importer, "MAX_ROW_CHARS", 1000)
    monkeypatch.setattr(importer, "_CHUNK", 64)
    with pytest.raises(Invalid) as err:
        check([MINIMAL, {**MINIMAL, "task_code": "L1", "by_law": "法" * 5000}])
    assert "longer than 1,000 characters" in err.value.message


@pytest.mark.parametrize("line,words", [
    ('{"task_code": ' + "9" * 5000 + "}", "too many digits"),
    ('{"popularity": NaN}', "NaN"),
    ('{"popularity": 1e999}', "NaN"),
    ('{"materials": ' + "[" * 100 + "]" * 100 + "}", "nested too deeply"),
    ("[" * 50_000, "nested too deeply"),
])
def test_json_lines_the_parser_cannot_take_are_problems_of_their_row(line, words):
    checked = check(json.dumps(MINIMAL) + "\n" + line + "\n" + json.dumps({**MINIMAL, "task_code": "Z"}), "jsonl")
    assert len(checked.valid) == 2
    assert [(p.line, p.field) for p in checked.problems] == [(2, "_row")] and words in checked.problems[0].message


@pytest.mark.parametrize("element,words", [("9" * 5000, "too many digits"), ("[" * 50_000, "nested too deeply"),
                                           ("Infinity", "NaN")])
def test_a_json_array_element_the_parser_cannot_take_refuses_the_file(element, words):
    with pytest.raises(Invalid) as err:
        check("[\n" + json.dumps(MINIMAL) + ",\n" + element + "\n]", "json")
    assert words in err.value.message and "line 3" in err.value.message


def test_a_json_array_element_nested_too_deep_is_a_problem_of_its_row():
    checked = check("[\n" + json.dumps(MINIMAL) + ",\n" + "[" * 70 + "]" * 70 + "\n]", "json")
    assert [(p.line, p.field) for p in checked.problems] == [(3, "_row")]


@pytest.mark.parametrize("value", ["甲\u0000乙", "\ud800", "ok\udfff"])
@pytest.mark.parametrize("field", ["task_name", "dept_name", "by_law", "keywords", "materials"])
def test_nul_and_unpaired_surrogates_are_problems_of_their_field(field, value):
    row = {**MINIMAL, field: [value] if field == "keywords" else [{"name": value}] if field == "materials" else value}
    checked = check(json.dumps([row]))  # ensure_ascii: the surrogate travels as \\ud800, as in real files
    assert [p.field for p in checked.problems] == [field] and "NUL" in checked.problems[0].message


def test_a_nul_in_a_csv_cell_is_a_problem_of_its_field():
    checked = check("task_name,task_code,dept_name,task_type\n甲\x00,A1,乙,07\n", "csv")
    assert [(p.line, p.field) for p in checked.problems] == [(2, "task_name")]


def test_a_task_code_shown_back_never_carries_what_cannot_be_encoded():
    checked = check(json.dumps([{**MINIMAL, "task_code": "A\ud800" + "x" * 500}]))
    assert checked.problems[0].task_code == "A\ufffd" + "x" * 98
    json.dumps(checked.problems[0].as_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("field,value,ok", [
    ("theme_natural", ["题" * 64], True), ("theme_natural", ["题" * 65], False), ("theme_legal", "a" * 65, False),
    ("bundles", ["包" * 100], True), ("bundles", ["包" * 101], False),
    ("popularity", 2**31 - 1, True), ("popularity", 2**31, False), ("popularity", "99999999999", False),
    ("popularity", 1e300, False), ("task_name", "   ", False), ("dept_name", "\t", False),
])
def test_values_are_checked_against_their_columns(field, value, ok):
    checked = check([{**MINIMAL, field: value}])
    assert (not checked.problems) is ok, checked.problems
    if not ok:
        assert [p.field.split(".")[0] for p in checked.problems] == [field]


def test_rows_beyond_max_rows_refuse_the_file_without_reading_on():
    consumed = []

    def rows():
        for n in range(1, 1_000_000):
            consumed.append(n)
            yield n, 1

    with pytest.raises(Invalid) as err:
        validate_rows(rows(), max_rows=50)
    assert consumed[-1] == 51 and "more than 50 rows" in err.value.message and "50 行" in err.value.message_zh
    assert validate_rows(iter([(n, MINIMAL | {"task_code": f"A{n}"}) for n in range(50)]), max_rows=50).rows == 50


def test_problems_are_capped_and_counted():
    checked = validate_rows(iter([(n, 1) for n in range(1, 1001)]), max_problems=200)
    assert checked.rows == 1000 and len(checked.problems) == 200 and checked.total_problems == 1000
    assert checked.problems[-1].line == 200


def test_empty_rows_cost_one_problem_each():
    checked = check("{}\n" * 3 + '{"unknown": 1}\n', "jsonl")
    assert [(p.line, p.field) for p in checked.problems] == [(1, "_row"), (2, "_row"), (3, "_row"), (4, "_row")]
    assert "empty" in checked.problems[0].message and "为空" in checked.problems[0].message_zh


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_a_json_array_read_in_any_chunk_size_gives_the_same_rows_and_lines(monkeypatch, chunk):
    monkeypatch.setattr(importer, "_CHUNK", chunk)
    values = [MINIMAL, 12345678901234567890, -1.5e-7, 0, True, None, "中\"文\\", [], {"a": [1, {"b": 2.25E+3}]},
              {**MINIMAL, "task_code": "B", "by_law": "长" * 300}]
    text = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in values) + "\n]"
    rows = list(read_rows(text.encode(), "json"))
    assert [value for _, value in rows] == values
    assert [line for line, _ in rows] == list(range(2, 2 + len(values)))


def test_reading_leaves_the_callers_stream_open():
    stream = io.BytesIO(("task_name,task_code,dept_name,task_type\n甲,A1,乙,07\n").encode())
    checked = importer.check_source(stream, filename="items.csv")
    assert checked.valid and not stream.closed


def test_a_stream_that_cannot_seek_is_read_too():
    class OneWay(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self._inner.readinto(buffer)

    data = json.dumps([MINIMAL], ensure_ascii=False).encode("utf-8")
    assert importer.check_source(io.BufferedReader(OneWay(data)), filename="x.json").valid
