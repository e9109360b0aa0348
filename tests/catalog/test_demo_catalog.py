"""The demo catalog shipped in the project, and search on it as residents use it."""
from __future__ import annotations

import json

import pytest

from kiosk_backend.catalog import services

COMPLETE = ("accept_condition", "by_law", "handle_flow", "materials", "faq", "transact_addr", "link_way")


@pytest.fixture(scope="module")
def rows():
    return json.loads(services.DEMO_ITEMS.read_text(encoding="utf-8"))


def test_the_demo_catalog_is_large_and_varied_enough(rows):
    assert len(rows) >= 300
    assert len({r["dept_name"] for r in rows}) >= 15
    complete = [r for r in rows if all(r.get(f) for f in COMPLETE)]
    assert len(complete) >= 40
    areas = [r.get("handle_area") for r in rows]
    assert sum(a in ("全国", "跨省") for a in areas) >= 20 and areas.count("全省") >= 20


def test_the_demo_catalog_covers_the_everyday_life_of_residents(rows):
    names = " ".join(r["task_name"] for r in rows)
    for word in ("居民身份证", "户口迁移", "结婚登记", "出生医学证明", "社会保障卡", "异地就医备案", "失业保险金",
                 "住房公积金", "居住证", "残疾人证", "最低生活保障", "高龄津贴", "不动产", "个体工商户", "驾驶证", "普通护照"):
        assert word in names, word


def test_the_demo_catalog_imports_without_a_single_problem():
    checked = services.check_file(services.DEMO_ITEMS.read_bytes(), filename="demo_items.json")
    assert checked.problems == [] and checked.rows == len(checked.valid)


def test_every_shipped_synonym_leads_to_a_demo_item(rows):
    names = [r["task_name"] for r in rows]
    missing = [(t, e) for t, e, kind in services.shipped_dictionary_rows() if kind == "synonym" and not any(e in n for n in names)]
    assert missing == []


@pytest.mark.parametrize("query,expected_first", [
    ("社保", "社会保障卡申领"),
    ("户口", "户口迁移（迁入）"),
    ("医保", "医保电子凭证申领"),
    ("低保", "最低生活保障申请"),
    ("公租房", "公共租赁住房申请"),
    ("迁户口", "户口迁移（迁入）"),
    ("结婚证丢了", "补领结婚证"),
    ("异地看病", "异地就医备案"),
    ("sfz", "居民身份证申领"),
    ("jzz", "居住证申领"),
    ("shenfenzheng", "居民身份证申领"),
    ("戶口遷移", "户口迁移（迁入）"),
    ("護照", "普通护照签发"),
    ("身分证", "居民身份证申领"),
    ("驾照", "机动车驾驶证换证（有效期满换证）"),
    ("残疾证", "残疾人证新办"),
])
def test_demo_searches_put_the_likely_item_first(db, demo_catalog, query, expected_first):
    assert services.search(db.session, q=query, page_size=1)["items"][0]["task_name"] == expected_first
