"""Reading catalog files: JSON array, JSON lines or CSV with the national field names.

Parsing and validation are pure (``read_rows``, ``validate_rows``, each row checked
against ``import_schema.ItemImport``); writing is in ``services.import_items``.
A file is checked whole before anything is written.

Files are read as streams, never whole: CSV through ``csv.reader``, JSON lines line by
line and a JSON array element by element (``_json_array``), so memory grows with the rows
kept, not with the file. Bounds: ``max_rows`` (a file with more rows is refused as soon
as the next row is seen), ``max_problems`` (only the first are kept; all are counted),
``MAX_ROW_CHARS`` per row (a JSON value, a JSON line or a CSV line) and the csv module's
field size limit per cell. Everything a file can do wrong ends as a ``Problem`` for its
row or as ``Invalid`` for the whole file; nothing else is raised.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import marshmallow as ma

from ..core.errors import Invalid
from ..core.i18n import english_part, translate_validation_message
from ..core.payloads import DECODER, MAX_JSON_DEPTH, depth_of, json_problem, unsafe_replaced
from .import_schema import ItemImport

FORMATS = ("json", "jsonl", "csv")
REQUIRED_COLUMNS = ("task_name", "task_code", "dept_name", "task_type")

# Problems listed in a report unless the caller says otherwise (all are counted).
MAX_PROBLEMS = 200
# One row: a JSON value in an array, a JSON line, or a physical CSV line. The largest
# valid item is far smaller (its longest texts are 20,000 characters).
MAX_ROW_CHARS = 1_000_000
MAX_CSV_COLUMNS = 500
_CHUNK = 1 << 16


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
    """The result of validating a file: good rows in order and the problems found.

    ``problems`` holds the first ``max_problems``; ``more_problems`` counts the rest, so
    ``total_problems`` is every problem found.
    """

    rows: int = 0
    valid: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    max_problems: int = MAX_PROBLEMS

    @property
    def total_problems(self) -> int:
        return len(self.problems) + self.more_problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)
        else:
            self.more_problems += 1


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


def _encoding_of(stream: IO[bytes]) -> str:
    """"utf-8-sig" (UTF-8 with or without BOM) or "gb18030" (spreadsheets saved on Chinese
    Windows write CSV in the local code page): the first that decodes the whole stream,
    read in chunks. The stream is left where it started."""
    start = stream.tell()
    try:
        for encoding in ("utf-8-sig", "gb18030"):
            stream.seek(start)
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while chunk := stream.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return encoding
    finally:
        stream.seek(start)
    raise file_error("it is neither UTF-8 nor GB18030 text", "既不是 UTF-8 也不是 GB18030 编码的文本")


def as_stream(source: bytes | IO[bytes]) -> IO[bytes]:
    """A seekable binary stream over ``source`` (bytes, an upload's stream, an open file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    if source.seekable():
        return source
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK)
    while chunk := source.read(_CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return spool


def read_rows(source: bytes | IO[bytes], fmt: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, raw row). Line numbers are where the row starts in the file.

    Rows that cannot be parsed arrive as ``Unparsable`` (JSON lines) or end the file with
    ``Invalid`` (a JSON array or CSV cannot be resynchronised after a broken row).
    """
    if fmt not in FORMATS:
        raise file_error(f"unknown format {fmt!r}", f"不支持的格式 {fmt!r}")
    stream = as_stream(source)
    text = io.TextIOWrapper(stream, encoding=_encoding_of(stream), newline="")
    try:
        if fmt == "jsonl":
            yield from _json_lines(text)
        elif fmt == "json":
            yield from _json_array(text)
        else:
            yield from _csv_rows(text)
    finally:
        if not stream.closed:
            text.detach()  # the stream belongs to the caller: do not close it
        if stream is not source:
            stream.close()  # a copy of ours


class Unparsable:
    def __init__(self, en: str, zh: str):
        self.en, self.zh = en, zh


_TOO_LONG = Unparsable(f"the line is longer than {MAX_ROW_CHARS:,} characters", f"该行超过 {MAX_ROW_CHARS:,} 个字符")


def _lines(text: io.TextIOBase) -> Iterator[str | Unparsable]:
    """Physical lines with their endings; a line over MAX_ROW_CHARS is skipped (read in
    pieces, never held whole) and stands as ``_TOO_LONG``."""
    while line := text.readline(MAX_ROW_CHARS + 1):
        if len(line) > MAX_ROW_CHARS:
            while line and not line.endswith(("\n", "\r")):
                line = text.readline(_CHUNK)
            yield _TOO_LONG
        else:
            yield line


def _shallow(value: Any) -> Any:
    """``value``, or an Unparsable row if it is nested deeper than JSON request bodies may be."""
    if depth_of(value) > MAX_JSON_DEPTH:
        return Unparsable(*json_problem(RecursionError()))
    return value


def _json_lines(text: io.TextIOBase) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(_lines(text), start=1):
        if isinstance(line, Unparsable):
            yield number, line
        elif line.strip():
            try:
                yield number, _shallow(DECODER.decode(line))
            except json.JSONDecodeError as exc:
                yield number, Unparsable(f"not valid JSON ({exc.msg})", f"不是有效的 JSON（{exc.msg}）")
            except (ValueError, RecursionError) as exc:
                en, zh = json_problem(exc)
                yield number, Unparsable(en, zh)


def _csv_rows(text: io.TextIOBase) -> Iterator[tuple[int, Any]]:
    physical = 0

    def lines() -> Iterator[str]:
        nonlocal physical
        for line in _lines(text):
            physical += 1
            if isinstance(line, Unparsable):
                raise file_error(f"line {physical} is longer than {MAX_ROW_CHARS:,} characters",
                                 f"第 {physical} 行超过 {MAX_ROW_CHARS:,} 个字符")
            yield line

    reader = csv.reader(lines())

    def next_row() -> list[str] | None:
        try:
            return next(reader, None)
        except csv.Error as exc:
            limit = csv.field_size_limit()
            if "field limit" in str(exc):
                raise file_error(f"line {physical}: a cell is longer than {limit:,} characters",
                                 f"第 {physical} 行：单元格超过 {limit:,} 个字符") from None
            raise file_error(f"line {physical}: not valid CSV ({exc})", f"第 {physical} 行：CSV 格式错误（{exc}）") from None

    header = next_row()
    if not header:
        raise file_error("the CSV has no header row", "CSV 文件没有表头行")
    names = [name.strip() for name in header]
    if len(names) > MAX_CSV_COLUMNS:
        raise file_error(f"the CSV has more than {MAX_CSV_COLUMNS} columns", f"CSV 文件超过 {MAX_CSV_COLUMNS} 列")
    twice = [name for name, count in Counter(names).items() if count > 1 and name]
    if twice:
        shown = ", ".join(twice[:10])
        raise file_error(f"the CSV header names {shown} more than once (which column counts?)",
                         f"CSV 表头中 {shown} 出现了不止一次（无法确定以哪一列为准）")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        # Also what a spreadsheet (.xlsx) or any other non-CSV file looks like when read as CSV.
        raise file_error(f"the CSV header lacks {', '.join(missing)} (is it a CSV file with the national field names?)",
                         f"CSV 表头缺少 {', '.join(missing)}（请确认是使用国家事项字段名的 CSV 文件）")
    while True:
        start = physical + 1
        row = next_row()
        if row is None:
            return
        if row:  # blank lines are skipped, as csv.DictReader does
            # Like csv.DictReader: cells beyond the header are dropped, missing ones are None.
            yield start, {name: (row[i] if i < len(row) else None) for i, name in enumerate(names) if name}


_WHITESPACE = re.compile(r"[ \t\r\n]*")
# What may still follow a number that ends a buffer: more digits, a fraction, an exponent.
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z")
# JSONDecodeError that close to the end of the buffer may just mean "read more".
_END_MARGIN = 16


def _json_array(text: io.TextIOBase) -> Iterator[tuple[int, Any]]:
    """Walk a JSON array element by element, reading the text in chunks, so each problem
    can name its line and the file is never held whole.

    The buffer holds the element being parsed and what follows it; ``raw_decode`` is
    retried with more text (read in doubling chunks, so a long element costs linear
    time) while the element may be incomplete, up to MAX_ROW_CHARS.
    """
    buf, pos, eof = "", 0, False
    line_at_mark, mark = 1, 0  # the line number of buf[mark]; mark <= pos

    def read_more(at_least: int = _CHUNK) -> bool:
        nonlocal buf, pos, eof, mark, line_at_mark
        if eof:
            return False
        if pos:  # forget what was consumed, counting its lines
            line_at_mark += buf.count("\n", mark, pos)
            buf, pos, mark = buf[pos:], 0, 0
        chunk = text.read(max(_CHUNK, at_least))
        if not chunk:
            eof = True
            return False
        buf += chunk
        return True

    def line_of(at: int) -> int:
        nonlocal mark, line_at_mark
        if at >= mark:
            line_at_mark += buf.count("\n", mark, at)
            mark = at
            return line_at_mark
        return line_at_mark - buf.count("\n", at, mark)

    def skip_whitespace() -> None:
        nonlocal pos
        while True:
            pos = _WHITESPACE.match(buf, pos).end()
            if pos < len(buf) or not read_more():
                return

    def fail(at: int, en: str, zh: str) -> Invalid:
        line = line_of(at)
        return file_error(f"line {line}: {en}", f"第 {line} 行：{zh}")

    def element() -> tuple[Any, int]:
        while True:
            size = len(buf) - pos
            try:
                value, end = DECODER.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - _END_MARGIN
                if incomplete and not eof and size <= MAX_ROW_CHARS:
                    read_more(size)  # more text, or now we know there is none: parse again
                    continue
                if incomplete and not eof:
                    raise fail(pos, f"an item is longer than {MAX_ROW_CHARS:,} characters",
                               f"有事项超过 {MAX_ROW_CHARS:,} 个字符") from None
                raise fail(min(exc.pos, len(buf)), f"invalid JSON: {exc.msg}", f"JSON 格式错误：{exc.msg}") from None
            except (ValueError, RecursionError) as exc:
                en, zh = json_problem(exc)
                raise fail(pos, en, zh) from None
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not eof and (end == len(buf) or (number and _NUMBER_TAIL.match(buf, end))):
                # The element may go on in the text not read yet ("12" of "123").
                if size > MAX_ROW_CHARS:
                    raise fail(pos, f"an item is longer than {MAX_ROW_CHARS:,} characters",
                               f"有事项超过 {MAX_ROW_CHARS:,} 个字符")
                read_more(size)  # (it moves the buffer: parse again either way)
                continue
            return value, end

    read_more()
    if buf.startswith("\ufeff"):
        buf = buf[1:]
    skip_whitespace()
    if pos >= len(buf) or buf[pos] != "[":
        raise file_error("a JSON file must hold an array of items", "JSON 文件必须是事项数组")
    pos += 1
    skip_whitespace()
    if pos < len(buf) and buf[pos] == "]":
        pos += 1
    else:
        while True:
            line = line_of(pos)  # before element(), which may move the buffer
            value, pos = element()
            yield line, _shallow(value)
            skip_whitespace()
            if pos < len(buf) and buf[pos] == ",":
                pos += 1
                skip_whitespace()
                continue
            if pos < len(buf) and buf[pos] == "]":
                pos += 1
                break
            if pos >= len(buf):
                raise fail(pos, "the array is not closed with ']'", "数组缺少结尾的“]”")
            raise fail(pos, "expected ',' or ']'", "应为“,”或“]”")
    skip_whitespace()
    if pos < len(buf):
        raise fail(pos, "there is more after the closing ']' of the array", "数组结尾的“]”之后还有多余内容")


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


def _shown_code(raw: dict) -> str | None:
    """The row's task_code as far as it can be shown back: text, at most 100 characters,
    without what cannot be encoded (the problem list is JSON and HTML)."""
    code = raw.get("task_code")
    if not isinstance(code, str):
        return None
    return unsafe_replaced(code[:100])


def validate_rows(rows: Iterator[tuple[int, Any]], *, progress: Callable[[int], None] | None = None,
                  max_rows: int | None = None, max_problems: int = MAX_PROBLEMS) -> Checked:
    """Validate every row; collect the problems (the first ``max_problems``, all counted).

    Raises ``Invalid`` when the file cannot be read on, or holds more than ``max_rows``
    rows (checked as each row arrives: the rest of the file is not read).
    """
    schema = ItemImport()
    known = schema.fields.keys()
    checked = Checked(max_problems=max_problems)
    seen: dict[str, int] = {}
    for line, raw in rows:
        if max_rows is not None and checked.rows >= max_rows:
            raise file_error(f"it has more than {max_rows:,} rows (the limit); split it into smaller files",
                             f"超过 {max_rows:,} 行的上限，请拆分成多个文件")
        checked.rows += 1
        if progress:
            progress(1)
        if isinstance(raw, Unparsable):
            checked.add(Problem(line, "_row", raw.en, raw.zh))
            continue
        if not isinstance(raw, dict):
            checked.add(Problem(line, "_row", "each item must be an object", "每个事项必须是一个对象"))
            continue
        if not any(key in known and value not in (None, "") for key, value in raw.items()):
            # Cheap, and one problem rather than one per required field: a file of "{}" lines.
            checked.add(Problem(line, "_row", "the item is empty: it has none of the import fields (task_name, ...)",
                                "事项为空：没有任何导入字段（task_name 等）"))
            continue
        try:
            item = schema.load(raw)
        except ma.ValidationError as exc:
            for problem in _problems_from(exc, line, _shown_code(raw)):
                checked.add(problem)
            continue
        first = seen.get(item["task_code"])
        if first is not None:
            checked.add(Problem(
                line, "task_code", f"duplicate task_code, first on line {first}",
                f"实施编码重复，第 {first} 行已出现", item["task_code"]))
            continue
        seen[item["task_code"]] = line
        checked.valid.append(item)
    return checked


def source_name(filename: str | None) -> str | None:
    """An uploaded file's name as the audit log records it (``audit_entry.target`` is
    VARCHAR(200)): without NUL or unpaired surrogates, at most 200 characters."""
    if not filename:
        return None
    return unsafe_replaced(filename)[-200:]  # the end keeps the extension


def import_limits(config: Mapping[str, Any]) -> dict[str, int]:
    """``max_rows`` and ``max_problems`` from the settings KIOSK_IMPORT_MAX_ROWS and
    KIOSK_IMPORT_MAX_PROBLEMS (config.py)."""
    return {"max_rows": int(config["KIOSK_IMPORT_MAX_ROWS"]),
            "max_problems": max(1, int(config["KIOSK_IMPORT_MAX_PROBLEMS"]))}


def check_source(source: bytes | IO[bytes], *, filename: str | None = None, fmt: str | None = None,
                 progress: Callable[[int], None] | None = None, max_rows: int | None = None,
                 max_problems: int = MAX_PROBLEMS) -> Checked:
    """Parse and validate a catalog file (bytes or a binary stream, read once as a stream).

    The format is ``fmt``, else guessed from ``filename`` and the first bytes. Raises
    ``Invalid`` when the file as a whole cannot be read or is over ``max_rows``.
    """
    stream = as_stream(source)
    try:
        if fmt is None:
            start = stream.tell()
            head = stream.read(64)
            stream.seek(start)
            fmt = detect_format(filename, head)
        rows = read_rows(stream, fmt)
        try:
            return validate_rows(rows, progress=progress, max_rows=max_rows, max_problems=max_problems)
        finally:
            rows.close()  # stop reading now, even when refused half-way
    finally:
        if stream is not source:
            stream.close()  # a copy of ours
