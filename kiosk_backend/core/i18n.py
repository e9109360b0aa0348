"""The message catalogue: every user-facing string in Chinese (zh-CN, default) and English.

UI strings live in ``kiosk_ui/messages.json`` (``{"key": {"zh-CN": "...", "en": "..."}}``)
so translators touch one file. Validation messages produced by marshmallow are English;
``translate_validation_message`` gives their Chinese form so every 4xx names the field in
both languages.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

UI_ROOT = Path(__file__).resolve().parent.parent.parent / "kiosk_ui"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    with open(UI_ROOT / "messages.json", encoding="utf-8") as fh:
        return json.load(fh)


# Parameters that count something. English says "1 copy" but "2 copies": a message whose
# count is 1 uses its "<key>.one" entry when the catalogue has one (Chinese has one form).
COUNT_PARAMS = ("n", "total", "days", "count")


def _singular(key: str, params: dict) -> str:
    count = next((params[name] for name in COUNT_PARAMS if name in params), None)
    if count == 1 and isinstance(count, int) and f"{key}.one" in catalogue():
        return f"{key}.one"
    return key


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **params) -> str:
    """The UI string ``key`` in ``lang``; the key itself if missing (visible, never a crash).
    A count of 1 (``n``, ``total``, ``days`` or ``count``) picks the singular ``<key>.one``."""
    entry = catalogue().get(_singular(key, params)) if params else catalogue().get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or key
    return text.format(**params) if params else text


CODE_PREFIX = "code."


def translate_value(value, lang: str = DEFAULT_LANGUAGE, count: int | None = None) -> str:
    """A coded value of the catalog (行政确认, 自然人, 全市, 承诺件, 必要, 原件, 纸质, 工作日 ...)
    shown in ``lang``: the catalogue's ``code.<value>`` entry, with ``count`` choosing the
    singular like ``translate``. Values without an entry (names, free text) are shown as
    they are; None is the empty string."""
    if value is None:
        return ""
    text = str(value)
    key = CODE_PREFIX + text
    if key not in catalogue():
        return text
    return translate(key, lang) if count is None else translate(key, lang, count=count)


def negotiate_language(requested: str | None) -> str:
    if requested and requested.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


# marshmallow/webargs default messages -> Chinese. Patterns, because some carry numbers.
_VALIDATION_ZH: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^Missing data for required field\.$"), "缺少必填字段。"),
    (re.compile(r"^Field may not be null\.$"), "不能为空。"),
    (re.compile(r"^Unknown field\.$"), "不认识的字段。"),
    (re.compile(r"^Not a valid integer\.$"), "不是有效的整数。"),
    (re.compile(r"^Not a valid number\.$"), "不是有效的数字。"),
    (re.compile(r"^Not a valid boolean\.$"), "不是有效的是/否值。"),
    (re.compile(r"^Not a valid string\.$"), "不是有效的文本。"),
    (re.compile(r"^Not a valid list\.$"), "不是有效的列表。"),
    (re.compile(r"^Not a valid mapping type\.$"), "不是有效的对象。"),
    (re.compile(r"^Invalid input type\.$"), "输入类型不正确。"),
    (re.compile(r"^Not a valid datetime\.$"), "不是有效的日期时间。"),
    (re.compile(r"^Not a valid date\.$"), "不是有效的日期。"),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), r"长度不能少于 \1。"),
    (re.compile(r"^Longer than maximum length (\d+)\.$"), r"长度不能超过 \1。"),
    (re.compile(r"^Length must be between (\d+) and (\d+)\.$"), r"长度必须在 \1 到 \2 之间。"),
    (re.compile(r"^Length must be (\d+)\.$"), r"长度必须为 \1。"),
    (re.compile(r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$"), r"必须在 \1 到 \2 之间。"),
    (re.compile(r"^Must be greater than or equal to (\S+)\.$"), r"不能小于 \1。"),
    (re.compile(r"^Must be less than or equal to (\S+)\.$"), r"不能大于 \1。"),
    (re.compile(r"^Must be one of: (.*)\.$"), r"必须是以下之一：\1。"),
    (re.compile(r"^String does not match expected pattern\.$"), "格式不正确。"),
    (re.compile(r"^Invalid value\.$"), "值无效。"),
]


def translate_validation_message(message: str) -> str:
    """Chinese for one validation message. Messages we wrote ourselves are bilingual
    already (``English / 中文``) and are split; unknown messages are kept as they are."""
    if " / " in message:
        return message.split(" / ", 1)[1]
    for pattern, zh in _VALIDATION_ZH:
        if pattern.match(message):
            return pattern.sub(zh, message)
    return message


def english_part(message: str) -> str:
    return message.split(" / ", 1)[0] if " / " in message else message


def _flatten(errors, prefix: str = ""):
    """Yield (field_path, message) from marshmallow's nested error dicts."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            # webargs nests by location ("json", "query", "files"): not a field name.
            if not prefix and key in ("json", "query", "form", "files", "headers", "view_args", "cookies"):
                yield from _flatten(value, "")
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            yield from _flatten(value, path)
    elif isinstance(errors, (list, tuple)):
        for item in errors:
            yield from _flatten(item, prefix)
    else:
        yield prefix or "_schema", str(errors)


def describe_validation_errors(errors) -> tuple[str, str]:
    """One-line English and Chinese summaries naming every bad field."""
    parts_en, parts_zh = [], []
    for field, message in _flatten(errors):
        parts_en.append(f"{field}: {english_part(message)}")
        parts_zh.append(f"字段 {field}：{translate_validation_message(message)}")
    return (
        "Invalid input. " + "; ".join(parts_en),
        "输入有误。" + "；".join(parts_zh),
    )


_HTTP_MESSAGES = {
    400: ("The request could not be understood.", "请求无法识别。"),
    401: ("Please sign in first.", "请先登录。"),
    403: ("You are not allowed to do this.", "您没有权限进行此操作。"),
    404: ("Not found.", "没有找到您要的内容。"),
    405: ("This method is not allowed here.", "不支持该请求方式。"),
    409: ("This conflicts with the current state.", "与当前状态冲突。"),
    413: ("The upload is too large.", "上传的内容太大。"),
    415: ("Unsupported content type.", "不支持的内容类型。"),
    422: ("The input could not be processed.", "输入内容无法处理。"),
    429: ("Too many requests. Please wait a moment.", "请求过于频繁，请稍候再试。"),
    500: (
        "Something went wrong on our side. Please try again or ask at the counter.",
        "系统出错了，请重试或到服务台咨询。",
    ),
    503: ("The service is temporarily unavailable.", "服务暂时不可用。"),
}


def http_message(code: int, custom: str | None) -> tuple[str, str]:
    en, zh = _HTTP_MESSAGES.get(code, ("Error.", "出错了。"))
    if custom and code < 500:
        # Custom abort messages are written bilingual ("English / 中文") in this project.
        return english_part(custom), translate_validation_message(custom) if " / " in custom else zh
    return en, zh
