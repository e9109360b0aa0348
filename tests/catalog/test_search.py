"""The search index on its own: every kind of query a resident types."""
from __future__ import annotations

import pytest

from kiosk_backend.catalog.pinyin import normalize, pinyin_keys
from kiosk_backend.catalog.search import (
    Dictionary,
    SearchIndex,
    is_meaningful,
    make_entry,
    make_filter,
)

NAMES = [
    # (code, name, department, popularity, keywords)
    ("ID1", "居民身份证申领", "江州市公安局", 90000, ["办身份证"]),
    ("ID2", "居民身份证补领", "江州市公安局", 30000, ["身份证丢了"]),
    ("ID3", "临时居民身份证办理", "江州市公安局", 500, []),
    ("HK1", "户口迁移（迁入）", "江州市公安局", 20000, []),
    ("HK2", "户籍证明开具", "江州市公安局", 3000, []),
    ("SB1", "城乡居民基本养老保险参保登记", "江州市人力资源和社会保障局", 8000, []),
    ("SB2", "社会保险登记", "江州市人力资源和社会保障局", 15000, []),
    ("SB3", "社会保障卡申领", "江州市人力资源和社会保障局", 40000, ["社保卡"]),
    ("YB1", "基本医疗保险参保登记", "江州市医疗保障局", 12000, []),
    ("YB2", "异地就医备案", "江州市医疗保障局", 25000, []),
    ("DB1", "最低生活保障申请", "江州市民政局", 4000, []),
    ("GZ1", "公共租赁住房申请", "江州市住房和城乡建设局", 2000, []),
    ("HY1", "补领结婚证", "江州市民政局", 1500, []),
    ("HY2", "结婚登记", "江州市民政局", 9000, []),
    ("GJ1", "住房公积金提取（租房）", "江州市住房公积金管理中心", 35000, []),
    ("WY1", "网络预约出租汽车驾驶员证核发", "江州市交通运输局", 800, []),
]
DICTIONARY = Dictionary.from_rows([
    ("社保", "社会保险", "synonym"), ("社保", "社会保障", "synonym"), ("医保", "医疗保险", "synonym"),
    ("低保", "最低生活保障", "synonym"), ("公租房", "公共租赁住房", "synonym"),
    ("迁户口", "户口迁移", "synonym"), ("结婚证丢了", "补领结婚证", "synonym"),
    ("网约车", "网络预约出租汽车", "synonym"), ("身分证", "身份证", "correction"), ("公机金", "公积金", "correction"),
])


def entry(code, name, dept, popularity, keywords, **attrs):
    pinyin, initials = pinyin_keys(name)
    return make_entry(id=hash(code), task_code=code, task_name=name, keywords=keywords, department=dept,
                      pinyin=pinyin, initials=initials, popularity=popularity, summary={"task_code": code}, **attrs)


@pytest.fixture(scope="module")
def index():
    return SearchIndex([entry(*row) for row in NAMES], DICTIONARY)


def codes(index, q, n=3, **kw):
    return [e.task_code for e in index.search(q, limit=n, **kw).entries]


@pytest.mark.parametrize("query,first", [
    ("身份证", "ID1"),          # plain words, the everyday item first
    ("户口", "HK1"),            # two characters
    ("社保", "SB3"),            # abbreviation → 社会保障 / 社会保险
    ("医保", "YB1"),
    ("低保", "DB1"),
    ("公租房", "GZ1"),
    ("迁户口", "HK1"),          # colloquial order
    ("我想迁户口", "HK1"),      # with filler words
    ("结婚证丢了怎么办", "HY1"),  # colloquial phrase
    ("网约车", "WY1"),
    ("sfz", "ID1"),             # pinyin initials
    ("SFZ", "ID1"),
    ("hkqy", "HK1"),
    ("shenfenzheng", "ID1"),    # full pinyin
    ("shen fen zheng", "ID1"),
    ("gongjijin", "GJ1"),
    ("戶口遷移", "HK1"),        # traditional characters
    ("結婚登記", "HY2"),
    ("身分证", "ID1"),          # common miswriting
    ("公机金", "GJ1"),
    ("ＳＦＺ", "ID1"),          # full-width letters from some IMEs
    ("身份证丢了", "ID2"),       # keywords
    ("ID2", "ID2"),             # the code itself
])
def test_the_item_a_resident_most_likely_means_comes_first(index, query, first):
    assert codes(index, query)[0] == first


def test_an_exact_name_outranks_a_more_popular_partial_match(index):
    assert codes(index, "社会保险登记")[0] == "SB2"


def test_popularity_breaks_ties_between_equal_matches(index):
    assert codes(index, "居民身份证", n=3) == ["ID1", "ID2", "ID3"]


def test_corrections_and_synonyms_say_how_the_query_was_understood(index):
    assert index.search("身分证").understood_as == ["身分证→身份证"]
    assert "低保→最低生活保障" in index.search("低保").understood_as


def test_nothing_unrelated_matches_a_two_character_query(index):
    found = set(codes(index, "户口", n=20))
    assert found == {"HK1"}


def test_a_partial_phrase_still_finds_the_item(index):
    assert codes(index, "身份证补办")[0] == "ID2"


def test_an_unknown_query_finds_nothing(index):
    outcome = index.search("火星移民签证")
    assert outcome.total == 0 and outcome.entries == []


def test_an_empty_query_browses_by_popularity(index):
    assert codes(index, "  ", n=2) == ["ID1", "SB3"]


@pytest.mark.parametrize("query", ["??", "。", "%", "_", "%_%", "！？…", "()*+"])
def test_a_query_of_punctuation_only_matches_nothing_rather_than_everything(index, query):
    assert not is_meaningful(query)
    outcome = index.search(query)
    assert outcome.total == 0 and outcome.entries == []
    # ...while punctuation around words is ignored, as before.
    assert index.search("%身份证%").total == index.search("身份证").total > 0


@pytest.mark.parametrize("query,meaningful", [("", False), ("   ", False), (None, False), ("a", True), ("社保?", True),
                                              ("12", True)])
def test_what_counts_as_something_to_search_for(query, meaningful):
    assert is_meaningful(query) is meaningful


def test_a_single_letter_matches_initials_only_at_the_start(index):
    assert set(codes(index, "j", n=20)) == {"ID1", "ID2", "YB1", "HY2"}


def test_paging_returns_disjoint_slices_and_the_same_total(index):
    first = index.search("申", offset=0, limit=2)
    second = index.search("申", offset=2, limit=2)
    assert first.total == second.total >= 4
    assert not {e.task_code for e in first.entries} & {e.task_code for e in second.entries}


def test_filters_apply_to_results(index):
    where = make_filter({"department": "江州市民政局"})
    assert set(codes(index, "登记", n=10, where=where)) == {"HY2"}
    assert make_filter({}) is None


def test_flag_filters_compare_booleans():
    idx = SearchIndex([entry("A", "异地就医备案", "d", 1, [], is_online=True), entry("B", "异地就医结算", "d", 1, [])])
    assert codes(idx, "异地就医", where=make_filter({"is_online": False})) == ["B"]
    assert codes(idx, "异地就医", where=make_filter({"is_online": True})) == ["A"]


def test_normalize_folds_width_case_script_and_punctuation():
    assert normalize(" 戶口遷移（遷入） ") == "户口迁移迁入"
    assert normalize("ＳＦＺ") == "sfz"


def test_pinyin_keys_keep_latin_and_digits():
    assert pinyin_keys("居民身份证申领") == ("juminshenfenzhengshenling", "jmsfzsl")
    assert pinyin_keys("ETC办理") == ("etcbanli", "etcbl")


def test_a_dictionary_ignores_empty_and_identity_rows():
    d = Dictionary.from_rows([("", "x", "synonym"), ("社保", "社保", "synonym"), ("医保", "医疗保险", "other")])
    assert d.synonyms == [("医保", "医疗保险")] and d.corrections == []


def test_pinyin_initials_of_a_dictionary_word_search_that_word_and_its_synonyms(index):
    outcome = index.search("sb", limit=3)
    assert outcome.entries[0].task_code == "SB3"
    assert outcome.understood_as[0] == "sb→社保"


def test_full_pinyin_of_a_dictionary_word_searches_that_word(index):
    assert codes(index, "dibao")[0] == "DB1"


def test_memoized_rankings_are_the_same_and_bounded(monkeypatch):
    idx = SearchIndex([entry(*row) for row in NAMES], DICTIONARY)
    monkeypatch.setattr(SearchIndex, "MEMO_SIZE", 2)
    first = codes(idx, "社保", n=5)
    assert codes(idx, "社保", n=5) == first
    for q in ("户口", "医保", "低保"):
        idx.search(q)
    assert len(idx._memo) == 2 and "社保" not in idx._memo
    idx.clear_memo()
    assert codes(idx, "社保", n=5) == first


def test_normalize_keeps_characters_beyond_the_basic_block():
    # OpenCC maps the extension-A 㑮 to the extension-C U+2B748; 𨑖 is extension B (rare
    # characters of people's and places' names). Neither may vanish, or a trigger or name
    # made of them would be empty.
    assert normalize("\U00028456\u346e") == "\U00028456\U0002b748"


# ------------------------------------------------------------------ memory at 150,000 items

def _summary(code, name, popularity, **more):
    return {"task_code": code, "task_name": name, "dept_name": "江州市公安局", "task_type": "01",
            "task_type_name": "行政许可", "handle_area": "3699", "is_online": True, "is_express": False,
            "is_service_terminals": False, "promise_day": 20, "promise_type": "工作日", "popularity": popularity,
            **more}


def _entry(code, name, popularity, summary, **attrs):
    from kiosk_backend.catalog.search import make_entry

    return make_entry(id=hash(code), task_code=code, task_name=name, keywords=[], department="江州市公安局",
                      pinyin="", initials="", popularity=popularity, summary=summary, **attrs)


def test_an_entry_gives_back_the_summary_it_was_made_from():
    summary = _summary("A1", "居民身份证申领（首次）", 900)
    e = _entry("A1", "居民身份证申领（首次）", 900, summary, handle_area="3699", is_online=True,
               themes=frozenset({"户籍"}), bundles=frozenset())
    assert e.summary == summary
    # The summary says otherwise than the entry: the summary's word is kept.
    odd = _entry("A2", "居民身份证换领", 5, _summary("A2", "居民身份证换领", 7), handle_area="3601")
    assert odd.summary["popularity"] == 7 and odd.summary["handle_area"] == "3699"


def test_entries_share_what_they_have_alike():
    # 150,000 items hold a handful of distinct summaries, theme and bundle sets: one object each.
    a = _entry("B1", "婚姻登记", 10, _summary("B1", "婚姻登记", 10), handle_area="3699", is_online=True,
               themes=frozenset({"婚姻"}), bundles=frozenset())
    b = _entry("B2", "补领结婚证", 20, _summary("B2", "补领结婚证", 20), handle_area="3699", is_online=True,
               themes=frozenset({"婚姻"}), bundles=frozenset())
    assert a.summary_json is b.summary_json and a.themes is b.themes and a.bundles is b.bundles
    assert a.raw_name == "" and a.summary["task_name"] == "婚姻登记"  # the name is kept once when it needs no folding
