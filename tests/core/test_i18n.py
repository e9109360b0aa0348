from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk_backend.core import i18n


def test_every_message_has_chinese_and_english():
    for key, entry in i18n.catalogue().items():
        assert entry.get("zh-CN") and entry.get("en"), key


def test_every_message_key_used_in_a_template_exists():
    templates = Path(i18n.UI_ROOT, "templates")
    used = set()
    for path in templates.rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'", path.read_text(encoding="utf-8")))
    tile_keys = {"tile.search", "tile.themes", "tile.bundles", "tile.departments"}
    used |= tile_keys | {f"{k}.hint" for k in tile_keys}
    # Keys built from data ("admin.role." ~ role) are checked value by value in test_message_keys.py.
    used = {key for key in used if not key.endswith(".")}
    assert used - set(i18n.catalogue()) == set()


def test_translate_fills_parameters_and_falls_back_to_the_key():
    assert i18n.translate("search.results", "zh-CN", total=3) == "找到 3 个事项"
    assert i18n.translate("search.results", "en", total=3) == "3 services found"
    assert i18n.translate("no.such.key", "en") == "no.such.key"


@pytest.mark.parametrize("asked,expected", [("en", "en"), ("en-US", "en"), ("zh", "zh-CN"), (None, "zh-CN"), ("fr", "zh-CN")])
def test_language_negotiation_defaults_to_chinese(asked, expected):
    assert i18n.negotiate_language(asked) == expected


@pytest.mark.parametrize("message,zh", [
    ("Missing data for required field.", "缺少必填字段。"),
    ("Must be greater than or equal to 1 and less than or equal to 100.", "必须在 1 到 100 之间。"),
    ("Longer than maximum length 50.", "长度不能超过 50。"),
    ("Must be 12 digits / 基本编码必须是 12 位数字", "基本编码必须是 12 位数字"),
])
def test_validation_messages_are_translated(message, zh):
    assert i18n.translate_validation_message(message) == zh


def test_nested_validation_errors_name_each_field_path():
    en, zh = i18n.describe_validation_errors({"json": {"materials": {0: {"name": ["Missing data for required field."]}}}})
    assert en == "Invalid input. materials.0.name: Missing data for required field."
    assert zh == "输入有误。字段 materials.0.name：缺少必填字段。"
