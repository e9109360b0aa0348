"""Life events (一件事): the shipped data and the pure matcher (kiosk_backend.catalog.life_events)."""
from __future__ import annotations

import json
import re

import pytest

from kiosk_backend.catalog.life_events import (
    SHIPPED_LIFE_EVENTS,
    LifeEvent,
    LifeEventIndex,
    load_shipped,
    pattern_parts,
    trigger_runs,
)
from kiosk_backend.catalog.pinyin import normalize
from kiosk_backend.catalog.services import DEMO_ITEMS

DEMO_NAMES = [item["task_name"] for item in json.loads(DEMO_ITEMS.read_text(encoding="utf-8"))]
SHIPPED = load_shipped()


@pytest.fixture(scope="module")
def index():
    return LifeEventIndex(SHIPPED, [normalize(name) for name in DEMO_NAMES])


def matched(index, query, tokens=None):
    q = normalize(query)
    return [(event.key, [DEMO_NAMES[i] for i in items]) for event, items, _ in index.match(q, tokens or [q])]


def event(key="e", triggers=("添了宝宝",), patterns=("出生医学证明",), name="测试") -> LifeEvent:
    return LifeEvent(key=key, name=name, triggers=tuple(triggers), patterns=tuple(patterns), source="tests")


# ---------------------------------------------------------------- shipped data

def test_the_shipped_file_loads_with_unique_ascii_keys_and_a_source_per_event():
    assert len(SHIPPED) >= 20
    keys = [e.key for e in SHIPPED]
    assert len(set(keys)) == len(keys) and all(re.fullmatch(r"[a-z][a-z0-9_]{1,39}", k) for k in keys)
    for e in SHIPPED:
        assert e.source and e.batch and e.name, e.key
        assert 5 <= len(e.triggers) <= 25, e.key
        assert len(set(e.triggers)) == len(e.triggers) and len(set(e.patterns)) == len(e.patterns), e.key


def test_the_first_2024_batch_is_shipped_whole_with_its_document():
    first = {e.name for e in SHIPPED if e.batch == "2024年第一批"}
    assert first == {"企业信息变更", "开办运输企业", "开办餐饮店", "企业破产信息核查", "水电气网联合报装",
                     "企业上市合法合规信息核查", "新生儿出生", "教育入学", "社会保障卡居民服务",
                     "二手房转移登记及水电气网联动过户", "残疾人服务", "退休", "员工录用"}
    assert all("国发〔2024〕3号" in e.source for e in SHIPPED if e.batch == "2024年第一批")


def test_triggers_are_stored_normalised():
    for e in SHIPPED:
        for trigger in e.triggers:
            assert " ".join(normalize(run) for run in trigger.split()) == trigger, (e.key, trigger)


def test_triggers_are_folded_like_queries_so_numbers_written_in_characters_match():
    # fold() turns 二胎 in a query into 2胎: a trigger written 二胎 must meet it.
    assert trigger_runs("生了二胎") == ("生了2胎",)
    assert trigger_runs("七十周岁 补贴") == ("70岁", "补贴")


def test_every_shipped_event_resolves_to_3_to_12_demo_items(index):
    assert [e.key for e in index.events] == [e.key for e in SHIPPED]  # none dropped on the demo catalog
    for e in SHIPPED:
        assert 3 <= len(index.items_of(e.key)) <= 12, (e.key, [DEMO_NAMES[i] for i in index.items_of(e.key)])


def test_patterns_are_generic_name_parts_never_task_codes():
    codes = {item["task_code"] for item in json.loads(DEMO_ITEMS.read_text(encoding="utf-8"))}
    for e in SHIPPED:
        for pattern in e.patterns:
            assert pattern not in codes and not re.search(r"[0-9a-z]{6,}", pattern.lower()), (e.key, pattern)


@pytest.mark.parametrize("document", [
    {"events": [{"key": "a", "name": "x", "source": "s", "triggers": [], "patterns": ["p"]}]},
    {"events": [{"key": "中文", "name": "x", "source": "s", "triggers": ["t"], "patterns": ["p"]}]},
    {"events": [{"key": "a", "name": "x", "source": "s", "triggers": ["！！"], "patterns": ["p"]}]},
    {"events": [{"key": "a", "name": "x", "source": "s", "triggers": ["t"], "patterns": ["出生+"]}]},
    {"events": [{"key": "a", "name": "x", "triggers": ["t"], "patterns": ["p"]}]},
    {"events": [{"key": "a", "name": "x", "source": "s", "triggers": ["t"], "patterns": ["p"]}] * 2},
    [],
])
def test_a_malformed_file_is_refused(tmp_path, document):
    path = tmp_path / "events.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError):
        load_shipped(path)


def test_load_shipped_reads_the_file_it_is_given(tmp_path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": [{"key": "x1", "name": "名", "source": "s", "batch": "b",
                                            "triggers": ["甲乙"], "patterns": ["丙"]}]}), encoding="utf-8")
    assert load_shipped(path) == [LifeEvent("x1", "名", ("甲乙",), ("丙",), "s", "b")]
    assert load_shipped() == load_shipped(SHIPPED_LIFE_EVENTS)


# ---------------------------------------------------------------- matching residents' phrasings

def test_a_new_baby_brings_up_the_newborn_event_first(index):
    (key, items), *_ = matched(index, "家里添了宝宝")
    assert key == "newborn"
    assert items[0] == "出生医学证明首次签发" and {"新生儿入户", "社会保障卡申领", "城乡居民基本医疗保险参保登记"} <= set(items)
    assert "出生医学证明补发" not in items  # 出生医学证明+签发: both parts


@pytest.mark.parametrize("query,key", [
    ("我要开理发店", "sole_trader"),
    ("我想开个小饭馆", "restaurant"),
    ("准备买车", "car_trade_in"),
    ("老人去世了要办什么", "after_death"),
    ("家里老人走了", "after_death"),
    ("孩子上小学", "school_enrolment"),
    ("到退休年龄了", "retirement"),
    ("社保卡丢了怎么办", "social_security_card"),
    ("退伍回来了", "veteran"),
    ("宝宝出生", "newborn"),
    ("戶口遷移", "hukou_move"),  # traditional characters, normalised
])
def test_residents_phrasings_find_their_event(index, query, key):
    assert matched(index, query)[0][0] == key


def test_the_longer_more_specific_trigger_wins(index):
    # 生孩子补贴 holds 生孩子 (newborn) but 生孩子补贴 is the childcare subsidy.
    assert [key for key, _ in matched(index, "生孩子补贴")] == ["childcare_subsidy", "newborn"]


def test_unrelated_queries_match_no_event(index):
    for query in ("身份证", "办身份证", "居民身份证换领", "护照", "公积金提取", "火星移民"):
        assert matched(index, query) == [], query


def test_at_most_two_events_match(index):
    assert len(matched(index, "生孩子补贴 退休 社保卡 结婚")) == 2


def test_tokens_mapped_from_dialect_match_too(index):
    # 屋里生了伢崽: the query pipeline maps 伢崽 → 孩子, 屋里 → 家里; the raw text holds no trigger.
    assert matched(index, "屋里生了伢崽") == []
    assert matched(index, "屋里生了伢崽", ["家里", "生了", "孩子"])[0][0] == "newborn"


def test_a_trigger_of_several_words_needs_each_word_in_any_order():
    idx = LifeEventIndex([event(triggers=("自己 交社保",), patterns=("灵活就业",))], ["灵活就业人员社会保险费缴纳"])
    assert [e.key for e, _, _ in idx.match("我自己想交社保", ["我", "自己", "想", "交社保"])] == ["e"]
    assert [e.key for e, _, _ in idx.match("交社保我自己", [])] == ["e"]
    assert idx.match("单位交社保", ["单位", "交社保"]) == []


def test_the_event_name_is_a_trigger():
    idx = LifeEventIndex([event(name="新生儿出生", triggers=("添了宝宝",))], ["出生医学证明首次签发"])
    assert [e.key for e, _, _ in idx.match("新生儿出生", [])] == ["e"]


# ---------------------------------------------------------------- resolving patterns

def test_a_plus_b_pattern_needs_both_parts():
    names = [normalize(n) for n in ("出生医学证明首次签发", "出生医学证明补发", "签发护照")]
    idx = LifeEventIndex([event(patterns=("出生医学证明+签发",))], names)
    assert idx.items_of("e") == [0]


def test_items_are_in_pattern_order_then_by_position_without_repeats():
    names = ["b新生儿入户", "a出生医学证明", "c新生儿入户出生医学证明"]
    idx = LifeEventIndex([event(patterns=("出生医学证明", "新生儿入户"))], names)
    assert idx.items_of("e") == [1, 2, 0]


def test_repeated_names_resolve_to_every_position():
    idx = LifeEventIndex([event(patterns=("结婚登记",))], ["结婚登记", "离婚登记", "结婚登记"])
    assert idx.items_of("e") == [0, 2]


def test_a_pattern_never_matches_across_two_names():
    idx = LifeEventIndex([event(patterns=("证明新生",))], ["出生医学证明", "新生儿入户"])
    assert idx.events == [] and idx.items_of("e") == []


def test_events_without_items_are_dropped():
    idx = LifeEventIndex([event(key="kept"), event(key="gone", patterns=("火星",))], ["出生医学证明首次签发"])
    assert [e.key for e in idx.events] == ["kept"] and idx.items_of("gone") == []
    assert idx.match("添了宝宝", []) != [] and all(e.key == "kept" for e, _, _ in idx.match("添了宝宝", []))


# ---------------------------------------------------------------- nearest (empty screen)

def test_nearest_offers_events_sharing_words_with_the_query(index):
    assert [e.key for e in index.nearest("宝宝", ["宝宝"])][:1] == ["newborn"]
    assert "veteran" in [e.key for e in index.nearest("退役证明", ["退役", "证明"])]


def test_nearest_is_empty_for_a_query_sharing_nothing(index):
    assert index.nearest("火星移民", ["火星", "移民"]) == []
    assert index.nearest("", []) == []


def test_nearest_respects_the_limit(index):
    assert len(index.nearest("出生证明", ["出生", "证明"], limit=1)) == 1


def test_helpers_normalise_parts():
    assert trigger_runs("自己  交社保！") == ("自己", "交社保")
    assert pattern_parts("出生醫學證明+簽發") == ("出生医学证明", "签发")
    assert pattern_parts("出生+") == ()
