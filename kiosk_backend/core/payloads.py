"""Payload safety: inputs that the parsers below us cannot take are refused with a 4xx.

- **JSON request bodies** (every surface): nested deeper than ``MAX_JSON_DEPTH``, holding
  integers longer than Python converts (4,300 digits), or ``NaN``/``Infinity`` are refused
  with 400 in the one error shape before any view or webargs parser sees them. A body too
  deep for the parser itself (RecursionError) is refused the same way. JSON bodies larger
  than ``KIOSK_MAX_JSON_KB`` get 413.
- **Uploads over MAX_CONTENT_LENGTH** (``KIOSK_MAX_UPLOAD_MB``) get 413 saying the limit.
- **Text** that no database stores alike: NUL (PostgreSQL refuses it, SQLite keeps it) and
  unpaired surrogates (neither can encode them). ``Schema`` is the base of every input
  schema; it refuses such text anywhere in the data, naming the field, once, before any
  field is loaded. Forms, query strings, JSON bodies and catalog import rows all pass it.

Settings (config.py): KIOSK_MAX_JSON_KB (1024), KIOSK_MAX_UPLOAD_MB (MAX_CONTENT_LENGTH, 64).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import DomainError, error_response

MAX_JSON_DEPTH = 64
# Python refuses to convert longer digit strings to int (sys.get_int_max_str_digits()).
MAX_INT_DIGITS = 4300

_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_EXPONENT = re.compile(rb"[0-9][eE]")
UNSAFE_TEXT_MESSAGE = ("Contains a NUL character or an unpaired surrogate, which cannot be stored / "
                       "含有无法保存的字符（NUL 空字符或不成对的代理字符）")


class PayloadRefused(DomainError):
    """A request body that cannot be parsed safely (400)."""

    status_code = 400


class TooLarge(DomainError):
    status_code = 413


# ---------------------------------------------------------------- text

def unsafe_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or an unpaired surrogate."""
    return _UNSAFE_TEXT.search(value) is not None


def unsafe_replaced(value: str) -> str:
    """``value`` with each NUL or unpaired surrogate replaced by U+FFFD, for showing it back."""
    return _UNSAFE_TEXT.sub("\ufffd", value)


def find_unsafe_text(data: Any) -> str | None:
    """The path ("materials.0.name") of the first string, or mapping key, in ``data`` that
    holds unsafe text; None if there is none. Iterative: any depth is fine."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _UNSAFE_TEXT.search(value):
                return path or "_schema"
        elif isinstance(value, (Mapping, MultiDict)):
            pairs = value.items(multi=True) if isinstance(value, MultiDict) else value.items()
            for key, inner in pairs:
                name = str(key)
                here = f"{path}.{name}" if path else name
                if isinstance(key, str) and _UNSAFE_TEXT.search(key):
                    return path or "_schema"  # never echo the key itself: it cannot be encoded
                stack.append((here, inner))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}.{i}" if path else str(i), inner) for i, inner in enumerate(value))
    return None


class Schema(ma.Schema):
    """Base of every input schema: refuses NUL and unpaired surrogates in any string.

    The field that holds one is named (the top-level field; the error dict nests by
    field as marshmallow's do), so a dry run and a real import agree and neither
    database ever sees such a value.
    """

    @ma.pre_load
    def _refuse_unsafe_text(self, data, **kwargs):
        where = find_unsafe_text(data)
        if where is not None:
            top = where.split(".", 1)[0]
            raise ma.ValidationError({top: [UNSAFE_TEXT_MESSAGE]})
        return data


# ---------------------------------------------------------------- JSON

def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFinite(text)
    return value


def _no_constant(text: str):
    raise NonFinite(text)


class NonFinite(ValueError):
    """NaN, Infinity or a float literal too large for a double (1e400)."""


# Strict JSON: no NaN/Infinity, floats must be finite. Parse errors stay JSONDecodeError
# (ValueError); too-long integers are ValueError; too-deep nesting is RecursionError.
DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)


def depth_of(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), counted up to ``limit + 1``."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((inner, depth) for inner in (current.values() if isinstance(current, dict) else current))
    return deepest


def json_problem(error: BaseException) -> tuple[str, str] | None:
    """(English, Chinese) for a JSON value our parsers cannot take; None for plain syntax
    errors, which each parser words itself."""
    if isinstance(error, RecursionError):
        return (f"The JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)",
                f"JSON 嵌套层数过多（最多 {MAX_JSON_DEPTH} 层）")
    if isinstance(error, NonFinite):
        return ("NaN, Infinity and numbers too large for a double are not allowed in JSON",
                "JSON 中不允许 NaN、Infinity 或超出范围的数字")
    if isinstance(error, ValueError) and not isinstance(error, json.JSONDecodeError):
        return (f"A number has too many digits (at most {MAX_INT_DIGITS})", f"数字位数过多（最多 {MAX_INT_DIGITS} 位）")
    return None


def check_json_body(body: bytes) -> None:
    """Refuse (PayloadRefused) a JSON body that is too deep, holds a too-long integer or a
    non-finite number. Syntax errors are left to the parser of the view, which words them."""
    # Cheap exit for the common small body (heartbeats): it can be neither deeper than the
    # limit nor hold a number longer than Python converts.
    if (len(body) <= MAX_INT_DIGITS and body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH
            and b"NaN" not in body and b"Infinity" not in body and _EXPONENT.search(body) is None):
        return
    try:
        text = body.decode("utf-8-sig")
        value = DECODER.decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return
    except (ValueError, RecursionError) as exc:
        en, zh = json_problem(exc)
        raise PayloadRefused(f"{en}.", f"{zh}。") from None
    if depth_of(value) > MAX_JSON_DEPTH:
        en, zh = json_problem(RecursionError())
        raise PayloadRefused(f"{en}.", f"{zh}。")


def _guard_json_body() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    limit = int(current_app.config["KIOSK_MAX_JSON_KB"]) * 1024
    upload_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    # Read no more than the limit, also when the body is chunked (no Content-Length).
    cap = min(limit, upload_limit) if upload_limit else limit
    # A chunked body (no Content-Length) is cut at the request's limit without a word: allow
    # one byte more than the cap, and a body that reaches it went on.
    request.max_content_length = cap + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise _too_large(cap) from None
    if len(body) > cap:
        raise _too_large(cap)
    check_json_body(body)


def _too_large(limit_bytes: int) -> TooLarge:
    size = f"{limit_bytes / 1024 / 1024:g} MB" if limit_bytes >= 1024 * 1024 else f"{limit_bytes // 1024} KB"
    return TooLarge(f"The upload is larger than the limit of {size}.", f"上传的内容超过了 {size} 的上限。")


def _upload_too_large(error: RequestEntityTooLarge) -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        from .errors import handle_http_exception

        return handle_http_exception(error)
    return error_response(_too_large(int(limit)))


def init_app(app: Flask) -> None:
    app.before_request(_guard_json_body)
    app.register_error_handler(RequestEntityTooLarge, _upload_too_large)
