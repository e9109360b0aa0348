"""The query pipeline's shipped word lists: data/padding.txt and data/dialect.tsv."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk_backend.catalog.pinyin import normalize
from kiosk_backend.catalog.services import DEMO_ITEMS

DATA = Path(__file__).resolve().parents[2] / "kiosk_backend" / "catalog" / "data"
MODES = {"substring", "word"}


def rows(name: str) -> list[list[str]]:
    """Tab-separated rows of a data file, comments and blank lines skipped."""
    text = (DATA / name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


PADDING = rows("padding.txt")
DIALECT = rows("dialect.tsv")
DEMO_NAMES = [normalize(item["task_name"]) for item in json.loads(DEMO_ITEMS.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("name", ["padding.txt", "dialect.tsv"])
def test_each_file_starts_with_a_header_saying_what_it_is_and_where_it_comes_from(name):
    header = [line for line in (DATA / name).read_text(encoding="utf-8").splitlines()[:6] if line.startswith("#")]
    assert len(header) >= 3 and any("kiosk-backend" in line for line in header)


def test_padding_rows_are_a_phrase_and_how_it_may_be_removed():
    assert 80 <= len(PADDING) <= 150
    for row in PADDING:
        assert len(row) == 2 and row[1] in MODES, row
        assert row[0] and row[0] == row[0].strip() and normalize(row[0]) == row[0], row


def test_padding_has_no_duplicates():
    phrases = [row[0] for row in PADDING]
    assert len(set(phrases)) == len(phrases)


def test_single_characters_are_removed_only_as_whole_words():
    assert all(mode == "word" for phrase, mode in PADDING if len(phrase) == 1)


def test_substring_padding_never_occurs_inside_a_demo_item_name():
    for phrase, mode in PADDING:
        if mode == "substring":
            assert not any(phrase in name for name in DEMO_NAMES), phrase


def test_the_usual_padding_is_there():
    phrases = {row[0] for row in PADDING}
    assert {"你好", "您好", "请问", "麻烦问下", "想咨询一下", "应该怎么操作", "去哪个窗口", "需要哪些材料", "谢谢"} <= phrases


def test_dialect_rows_are_spoken_standard_and_note():
    assert 40 <= len(DIALECT) <= 80
    for row in DIALECT:
        assert len(row) == 3 and all(cell and cell == cell.strip() for cell in row), row
        assert row[0] != row[1], row


def test_dialect_has_no_duplicate_spoken_words():
    spoken = [row[0] for row in DIALECT]
    assert len(set(spoken)) == len(spoken)


def test_dialect_targets_are_not_padding():
    padding = {row[0] for row in PADDING}
    assert not {row[1] for row in DIALECT} & padding
    assert not {row[0] for row in DIALECT} & padding


def test_jiangxi_words_are_mapped():
    mapping = {row[0]: row[1] for row in DIALECT}
    assert mapping["伢崽"] == mapping["细伢子"] == mapping["娃"] == "孩子"
    assert mapping["堂客"] == "妻子"
