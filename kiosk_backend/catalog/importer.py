"""Reading catalog files: JSON array, JSON lines or CSV with the national field names.

Parsing and validation are pure (``read_rows``, ``validate_rows``, each row checked
against ``import_schema.ItemImport``); writing is in ``services.import_items``.
A file is checked whole before anything is written.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma

from ..core.errors import Invalid
from ..core.i18n import english_part, translate_validation_message
from .import_schema import ItemImport

FORMATS = ("json", "jsonl", "csv")
REQUIRED_COLUMNS = ("task_name", "task_code", "dept_name", "task_type")


@dataclass
class Problem:
    line: int
    field: str
    message: str
    message_zh: str
    task_code: str | None = None

    def as_dict(self) -> dict:
        return {"line": self.line, "task_code": self.task_code, "field": self.field,
                "message": self.message, "message_zh": self.message_zh}


@dataclass
class Checked:
    """The result of validating a file: good rows in order and every problem found."""

    rows: int = 0
    valid: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def file_error(en: str, zh: str) -> Invalid:
    return Invalid(f"The file cannot be read: {en}", f"文件无法读取：{zh}")


def detect_format(name: str | None, head: bytes) -> str:
    lowered = (name or "").lower()
    for fmt, suffixes in (("jsonl", (".jsonl", ".ndjson")), ("json", (".json",)), ("csv", (".csv",))):
        if lowered.endswith(suffixes):
            return fmt
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); GB18030 as a fallback because spreadsheets saved on
    Chinese Windows write CSV in the local code page."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise file_error("it is neither UTF-8 nor GB18030 text", "既不是 UTF-8 也不是 GB18030 编码的文本") from None


def read_rows(data: bytes, fmt: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, raw row). Line numbers are where the row starts in the file."""
    text = decode(data)
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, _Unparsable(f"not valid JSON ({exc.msg})", f"不是有效的 JSON（{exc.msg}）")
    elif fmt == "json":
        yield from _json_array(text)
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if not reader.fieldnames:
            raise file_error("the CSV has no header row", "CSV 文件没有表头行")
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        missing = [name for name in REQUIRED_COLUMNS if name not in reader.fieldnames]
        if missing:
            # Also what a spreadsheet (.xlsx) or any other non-CSV file looks like when read as CSV.
            raise file_error(f"the CSV header lacks {', '.join(missing)} (is it a CSV file with the national field names?)",
                             f"CSV 表头缺少 {', '.join(missing)}（请确认是使用国家事项字段名的 CSV 文件）")
        start = reader.line_num + 1
        for row in reader:
            yield start, {k: v for k, v in row.items() if k is not None}
            start = reader.line_num + 1
    else:
        raise file_error(f"unknown format {fmt!r}", f"不支持的格式 {fmt!r}")


class _Unparsable:
    def __init__(self, en: str, zh: str):
        self.en, self.zh = en, zh


def _json_array(text: str) -> Iterator[tuple[int, Any]]:
    """Walk a JSON array element by element so each problem can name its line."""
    decoder = json.JSONDecoder()
    pos, line = 0, 1
    length = len(text)

    def skip(pos: int) -> int:
        while pos < length and text[pos] in " \t\r\n":
            pos += 1
        return pos

    pos = skip(pos)
    if pos >= length or text[pos] != "[":
        raise file_error("a JSON file must hold an array of items", "JSON 文件必须是事项数组")
    pos = skip(pos + 1)
    if pos < length and text[pos] == "]":
        return
    counted = 0
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            bad_line = text.count("\n", 0, exc.pos) + 1
            raise file_error(f"invalid JSON at line {bad_line}: {exc.msg}",
                             f"第 {bad_line} 行 JSON 格式错误：{exc.msg}") from None
        yield line, value
        pos = skip(end)
        if pos < length and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < length and text[pos] == "]":
            return
        bad_line = text.count("\n", 0, pos) + 1
        raise file_error(f"expected ',' or ']' at line {bad_line}", f"第 {bad_line} 行应为“,”或“]”")


def _problems_from(error: ma.ValidationError, line: int, task_code: str | None) -> list[Problem]:
    out = []

    def walk(messages, path):
        if isinstance(messages, dict):
            for key, value in messages.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(messages, list):
            for value in messages:
                walk(value, path)
        else:
            text = str(messages)
            out.append(Problem(line, path or "_row", english_part(text), translate_validation_message(text), task_code))

    walk(error.messages, "")
    return out


def validate_rows(rows: Iterator[tuple[int, Any]], *, progress: Callable[[int], None] | None = None) -> Checked:
    """Validate every row; collect all problems (not just the first)."""
    schema = ItemImport()
    checked = Checked()
    seen: dict[str, int] = {}
    for line, raw in rows:
        checked.rows += 1
        if progress:
            progress(1)
        if isinstance(raw, _Unparsable):
            checked.problems.append(Problem(line, "_row", raw.en, raw.zh))
            continue
        if not isinstance(raw, dict):
            checked.problems.append(Problem(line, "_row", "each item must be an object", "每个事项必须是一个对象"))
            continue
        code = raw.get("task_code") if isinstance(raw.get("task_code"), str) else None
        try:
            item = schema.load(raw)
        except ma.ValidationError as exc:
            checked.problems.extend(_problems_from(exc, line, code))
            continue
        first = seen.get(item["task_code"])
        if first is not None:
            checked.problems.append(Problem(
                line, "task_code", f"duplicate task_code, first on line {first}",
                f"实施编码重复，第 {first} 行已出现", item["task_code"]))
            continue
        seen[item["task_code"]] = line
        checked.valid.append(item)
    return checked
