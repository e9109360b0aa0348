"""Ranking by what matched (kiosk_backend.catalog.search.SearchIndex): coverage, fields,
popularity, OR semantics, characters, explain(), life events, nearest words, paging, filters.

Pure: the index is built from make_entry() entries, no database."""
from __future__ import annotations

import pytest

from kiosk_backend.catalog.life_events import LifeEvent
from kiosk_backend.catalog.pinyin import pinyin_keys
from kiosk_backend.catalog.search import Dictionary, SearchIndex, make_entry, make_filter

NAMES = [
    # (code, name, department, popularity, keywords, text)
    ("HJ1", "户籍证明开具", "江州市公安局", 10, [], ""),
    ("HJ2", "户籍迁移登记", "江州市公安局", 100000, ["户籍", "户籍业务"], ""),
    ("ZM1", "出生医学证明办理", "江州市卫生健康委员会", 6000, [], ""),
    ("ZM2", "无犯罪记录证明", "江州市公安局", 5000, [], ""),
    ("ZM3", "收入证明开具", "江州市人力资源和社会保障局", 5000, [], ""),
    ("ZM4", "死亡医学证明办理", "江州市卫生健康委员会", 500, [], ""),
    ("ZM5", "婚姻状况证明", "江州市民政局", 100, [], ""),
    ("ZM6", "亲属关系证明", "江州市公安局", 100, [], ""),
    ("ZM7", "居住证明开具", "江州市公安局", 100, [], ""),
    ("ZM8", "独生子女证明", "江州市卫生健康委员会", 100, [], ""),
    ("ZM9", "退休证明", "江州市人力资源和社会保障局", 100, [], ""),
    ("ZM10", "学历证明", "江州市教育局", 100, [], ""),
    ("ZM11", "纳税证明", "江州市税务局", 100, [], ""),
    ("ID1", "居民身份证申领", "江州市公安局", 90000, [], ""),
    ("ID2", "居民身份证补领", "江州市公安局", 30000, [], ""),
    ("CS1", "新生儿入户", "江州市公安局", 6000, [], ""),
    ("CS2", "出生登记", "江州市卫生健康委员会", 3000, [], ""),
    ("YY1", "营业执照办理", "江州市市场监督管理局", 100, [], ""),
    ("YY2", "个体工商户设立登记", "江州市市场监督管理局", 100, ["营业执照"], ""),
    ("YY3", "食品经营许可", "江州市市场监督管理局", 100000, [], "申请人须先取得营业执照"),
    ("YY4", "税务登记", "江州市营业执照服务中心", 100000, [], ""),
    ("YY5", "年度报告公示", "江州市市场监督管理局", 100, ["营业执照年报"], ""),
]
EVENTS = [
    LifeEvent("newborn", "新生儿出生", ("生孩子", "添了宝宝"), ("出生医学证明", "新生儿入户", "出生登记"), "test"),
    LifeEvent("opening", "开办企业", ("开店", "开公司"), ("营业执照", "设立登记"), "test"),
]
DICTIONARY = Dictionary(padding=[("你好", True)], life_events=EVENTS)


def entry(code, name, dept, popularity, keywords, text="", **attrs):
    pinyin, initials = pinyin_keys(name)
    return make_entry(id=hash(code), task_code=code, task_name=name, keywords=keywords, department=dept,
                      pinyin=pinyin, initials=initials, popularity=popularity,
                      summary={"task_code": code, "task_name": name}, text=text, **attrs)


def build(rows=NAMES, dictionary=DICTIONARY, **kw):
    return SearchIndex([entry(*row) for row in rows], dictionary, **kw)


@pytest.fixture(scope="module")
def index():
    return build()


def codes(index, q, n=20, **kw):
    return [e.task_code for e in index.search(q, limit=n, **kw).entries]


def before(order, a, b):
    return order.index(a) < order.index(b)


# ------------------------------------------------------------------ coverage and fields

def test_an_item_matching_every_word_outranks_one_matching_only_the_rarer_word(index):
    # HJ2 names the rarer word 户籍 twice (name and alias) and is 10,000 times more used;
    # HJ1 names both 户籍 and the common 证明.
    order = codes(index, "户籍证明")
    assert order[:2] == ["HJ1", "HJ2"]


def test_the_name_outranks_the_same_word_only_in_text_or_department(index):
    order = codes(index, "营业执照")
    # YY3 (conditions text) and YY4 (department) are far more used, yet come after the name.
    assert before(order, "YY1", "YY3") and before(order, "YY1", "YY4")
    assert order.index("YY3") >= 3 and order.index("YY4") >= 3


def test_an_alias_equal_to_the_query_counts_like_the_name(index):
    order = codes(index, "营业执照")
    # YY2's alias is the query itself: it ranks with the name, above the more popular
    # items that only mention the word, and above YY5 whose keyword merely contains it.
    assert set(order[:2]) == {"YY1", "YY2"}
    assert before(order, "YY2", "YY3") and before(order, "YY2", "YY4") and before(order, "YY2", "YY5")


def test_popularity_orders_equal_matches():
    assert codes(build(), "居民身份证")[:2] == ["ID1", "ID2"]
    swapped = [(c, n, d, {"ID1": 30000, "ID2": 90000}.get(c, p), k, t) for c, n, d, p, k, t in NAMES]
    assert codes(build(swapped), "居民身份证")[:2] == ["ID2", "ID1"]


def test_or_semantics_a_word_nothing_has_does_not_hide_the_others(index):
    assert set(codes(index, "户籍 火星")) == {"HJ1", "HJ2"}
    assert codes(index, "户籍火星")[:1] == ["HJ2"]


def test_characters_alone_never_create_a_match():
    rows = NAMES + [("JZ1", "居民居住证办理", "江州市公安局", 1000, [], "")]
    outcome = build(rows).search("火星移民")  # 民 is in 居民, 移 nowhere as a word
    assert outcome.total == 0 and outcome.entries == []


def test_characters_break_ties_between_items_the_words_found(index):
    # 补办 is no catalog word; its 补 tells 补领 from the more used 申领.
    assert codes(index, "身份证补办")[:2] == ["ID2", "ID1"]
    assert codes(index, "身份证")[:2] == ["ID1", "ID2"]


# ------------------------------------------------------------------ explain

def test_explain_says_which_word_matched_what_how_and_where(index):
    outcome = index.search("户籍证明", limit=2)
    first, second = outcome.matches
    assert first.words == [
        {"word": "户籍", "matched": "户籍", "how": "exact", "field": "name"},
        {"word": "证明", "matched": "证明", "how": "exact", "field": "name"},
    ]
    assert [w["word"] for w in second.words] == ["户籍"]


def test_explain_reports_keyword_text_and_department_fields(index):
    outcome = index.search("营业执照", limit=10)
    fields = {e.task_code: m.words[0]["field"] for e, m in zip(outcome.entries, outcome.matches)}
    assert fields["YY1"] == "name" and fields["YY2"] == "keywords"
    assert fields["YY3"] == "text" and fields["YY4"] == "department"


def test_explain_reports_a_corrected_word_and_a_pinyin_word(index):
    corrected = index.search("户籍正明", limit=1)
    assert corrected.entries[0].task_code == "HJ1"
    assert {"word": "正明", "matched": "证明", "how": "corrected", "field": "name"} in corrected.matches[0].words
    pinyin = index.search("hujizhengming", limit=1)
    assert pinyin.entries[0].task_code == "HJ1"
    assert pinyin.matches[0].words[0]["how"] == "pinyin"


def test_highlight_is_substrings_of_the_display_name_longest_first_none_nested(index):
    for query in ("户籍证明开具", "居民身份证补领", "身份证补办", "新生儿入户", "营业执照办理"):
        outcome = index.search(query, limit=5)
        for e, match in zip(outcome.entries, outcome.matches):
            display = e.summary["task_name"]
            assert all(h in display for h in match.highlight), (query, display, match.highlight)
            assert [len(h) for h in match.highlight] == sorted((len(h) for h in match.highlight), reverse=True)
            assert not any(a != b and a in b for a in match.highlight for b in match.highlight)
    assert index.search("户籍证明", limit=1).matches[0].highlight == ["户籍", "证明"]


def test_highlight_is_empty_when_the_word_is_not_in_the_name(index):
    outcome = index.search("营业执照", limit=10)
    by_code = dict(zip((e.task_code for e in outcome.entries), outcome.matches))
    assert by_code["YY2"].highlight == [] and by_code["YY4"].highlight == []


def test_explain_reports_a_number_written_in_words_in_the_name_as_name():
    rows = [("LN1", "七十周岁以上老年人优待证办理", "江州市民政局", 3000, [], "")]
    match = build(rows).search("70岁以上老年人", limit=1).matches[0]
    number = next(w for w in match.words if w["word"] == "70")
    assert number["field"] == "name"


# ------------------------------------------------------------------ life events

def test_a_trigger_returns_its_life_event_with_its_items(index):
    outcome = index.search("家里添了宝宝")
    assert [event.key for event, _ in outcome.life_events] == ["newborn"]
    assert {e.task_code for e in outcome.life_events[0][1]} == {"ZM1", "CS1", "CS2"}
    assert [event.key for event, _ in index.life_events("我想开店")] == ["opening"]


def test_no_life_events_without_dictionaries():
    plain = build(use_dictionary=False)
    assert plain.life_events("家里添了宝宝") == []
    assert plain.search("家里添了宝宝").life_events == []


def test_life_events_only_on_the_first_page(index):
    assert index.search("家里添了宝宝", offset=20).life_events == []


# ------------------------------------------------------------------ nothing found

def test_nearest_words_when_nothing_is_found(index):
    outcome = index.search("火星证件")
    assert outcome.total == 0 and outcome.life_events == []
    assert "证明" in outcome.nearest_words and "身份证" in outcome.nearest_words
    # Catalog words that share a character with the query, none of the query's own words.
    assert all(set(w) & set("火星证件") and w not in ("火星", "证件") for w in outcome.nearest_words)
    assert index.search("宇宙飞船").nearest_words == []


def test_no_nearest_words_when_something_is_found(index):
    assert index.search("户籍").nearest_words == []


# ------------------------------------------------------------------ paging, filters, code, memo

def test_paging_returns_disjoint_pages_with_the_same_total(index):
    first = index.search("证明", offset=0, limit=3)
    second = index.search("证明", offset=3, limit=3)
    assert first.total == second.total >= 6
    page1, page2 = [e.task_code for e in first.entries], [e.task_code for e in second.entries]
    assert len(page1) == len(page2) == 3 and not set(page1) & set(page2)
    assert page1 + page2 == codes(index, "证明", n=6)


def test_filters_restrict_results_and_their_total(index):
    where = make_filter({"department": "江州市公安局"})
    outcome = index.search("证明", where=where)
    assert {e.task_code for e in outcome.entries} == {"HJ1", "ZM2", "ZM6", "ZM7"}
    assert outcome.total == 4


def test_flag_filters():
    rows = [("A", "异地就医备案", "d", 1, [], ""), ("B", "异地就医结算", "d", 1, [], "")]
    idx = SearchIndex([entry(*rows[0], is_online=True), entry(*rows[1])], DICTIONARY)
    assert codes(idx, "异地就医", where=make_filter({"is_online": True})) == ["A"]


def test_the_code_itself_finds_its_item(index):
    assert codes(index, "zm6")[:1] == ["ZM6"]
    assert codes(index, "ZM6")[:1] == ["ZM6"]


def test_the_memo_is_bounded_and_keeps_answers(monkeypatch):
    idx = build()
    monkeypatch.setattr(SearchIndex, "MEMO_SIZE", 3)
    first = codes(idx, "证明")
    for q in ("户籍", "营业执照", "身份证", "出生"):
        idx.search(q)
    assert len(idx._memo) == 3 and "证明" not in idx._memo
    assert codes(idx, "证明") == first
