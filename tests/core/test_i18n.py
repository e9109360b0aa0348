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


def test_a_count_of_one_takes_the_singular_where_english_has_one():
    assert i18n.translate("guide.copies", "en", n=1) == "1 copy"
    assert i18n.translate("guide.copies", "en", n=2) == "2 copies"
    assert i18n.translate("guide.copies", "en", n=0) == "0 copies"
    assert i18n.translate("search.results", "en", total=1) == "1 service found"
    assert i18n.translate("guide.copies", "zh-CN", n=1) == "1 份"
    assert i18n.translate("search.understood", "en", what="x") == "Searched as “x”"  # no count: unchanged


def test_every_singular_has_its_plural_and_the_same_parameters():
    entries = i18n.catalogue()
    for key, entry in entries.items():
        if key.endswith(".one") and not key.startswith(i18n.CODE_PREFIX):
            plural = entries[key[: -len(".one")]]
            for lang in ("zh-CN", "en"):
                assert set(re.findall(r"{(\w+)}", entry[lang])) == set(re.findall(r"{(\w+)}", plural[lang])), key


@pytest.mark.parametrize("value,lang,count,shown", [
    ("行政确认", "en", None, "Administrative confirmation"), ("行政确认", "zh-CN", None, "行政确认"),
    ("自然人", "en", None, "Individuals"), ("全市", "en", None, "City-wide"), ("承诺件", "en", None, "Handled within a promised time"),
    ("必要", "en", None, "Required"), ("原件", "en", None, "Original"), ("纸质", "en", None, "On paper"),
    ("工作日", "en", 1, "working day"), ("工作日", "en", 5, "working days"), ("工作日", "zh-CN", 1, "工作日"),
    ("江州市公安局", "en", None, "江州市公安局"),  # names are data, shown as they are
    (None, "en", None, ""),
])
def test_coded_catalog_values_are_shown_in_the_screens_language(value, lang, count, shown):
    assert i18n.translate_value(value, lang, count) == shown


def test_every_coded_value_of_the_catalog_vocabulary_has_an_english_name():
    from kiosk_backend.catalog.import_schema import DAY_TYPES, MATERIAL_FORMS, MATERIAL_TYPES, NECESSITY, PROJECT_TYPES
    from kiosk_backend.catalog.schemas import HANDLE_AREAS, SERVER_TYPES, TASK_TYPES

    for value in (*TASK_TYPES.values(), *SERVER_TYPES, *HANDLE_AREAS, *DAY_TYPES, *PROJECT_TYPES, *NECESSITY,
                  *MATERIAL_FORMS, *MATERIAL_TYPES):
        english = i18n.translate_value(value, "en")
        assert english != value and english.isascii(), value
