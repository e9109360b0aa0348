"""The query pipeline (kiosk_backend.catalog.query), stage by stage: fold, padding,
corrections and dialect, segmentation, pinyin, homophones, synonyms, did-you-mean.

Pure: the vocabulary is that of a small SearchIndex built from make_entry() entries."""
from __future__ import annotations

import pytest

from kiosk_backend.catalog.pinyin import pinyin_keys
from kiosk_backend.catalog.query import Vocabulary, chinese_number, fold, fold_keep_spaces
from kiosk_backend.catalog.search import Dictionary, SearchIndex, make_entry

NAMES = [
    # (code, name, department, popularity, keywords)
    ("ID1", "居民身份证申领", "江州市公安局", 90000, ["办身份证"]),
    ("ID2", "居民身份证补领", "江州市公安局", 30000, []),
    ("GJ1", "住房公积金提取（租房）", "江州市住房公积金管理中心", 35000, []),
    ("YB2", "异地就医备案", "江州市医疗保障局", 25000, []),
    ("YB3", "医保关系转移接续", "江州市医疗保障局", 5000, []),
    ("HY1", "补领结婚证", "江州市民政局", 1500, []),
    ("HY2", "结婚登记", "江州市民政局", 9000, []),
    ("JZ1", "机动车驾驶证换证", "江州市公安局交通管理支队", 7000, []),
    ("LN1", "七十周岁以上老年人优待证办理", "江州市民政局", 3000, []),
    ("CS2", "新生儿入户", "江州市公安局", 6000, []),
    ("XX1", "孩子入学登记", "江州市教育局", 4000, []),
    ("GS1", "特殊工时制度审批", "江州市人力资源和社会保障局", 300, []),
    ("GS2", "行政处罚决定公示", "江州市司法局", 200, []),
]
DICTIONARY = Dictionary.from_rows(
    [("驾照", "驾驶证", "synonym"), ("身分证", "身份证", "correction")],
    dialect=[("伢崽", "孩子")],
    padding=[("你好", True), ("麻烦问下", True), ("怎么办", True), ("应该怎么操作", True), ("呢", False)],
)


def entry(code, name, dept, popularity, keywords):
    pinyin, initials = pinyin_keys(name)
    return make_entry(id=hash(code), task_code=code, task_name=name, keywords=keywords, department=dept,
                      pinyin=pinyin, initials=initials, popularity=popularity,
                      summary={"task_code": code, "task_name": name})


@pytest.fixture(scope="module")
def index():
    return SearchIndex([entry(*row) for row in NAMES], DICTIONARY)


@pytest.fixture(scope="module")
def vocab(index):
    return index.vocabulary


def texts(pq):
    return [w.text for w in pq.words]


def best(pq):
    """Each word's first reading as shown."""
    return [w.alternatives[0].shown for w in pq.words]


# ------------------------------------------------------------------ 1. fold and numbers

@pytest.mark.parametrize("text,value", [
    ("十六", 16), ("七十", 70), ("十", 10), ("一百零五", 105), ("二零二五", 2025), ("两", 2), ("七十三", 73),
])
def test_chinese_number_reads_numerals(text, value):
    assert chinese_number(text) == value


def test_chinese_number_is_none_for_other_text():
    assert chinese_number("身份") is None and chinese_number("十a") is None


def test_written_and_spoken_ages_fold_to_the_same_text():
    assert fold("70岁以上") == fold("七十周岁以上") == "70岁以上"
    assert fold("满十六周岁") == fold("满16周岁") == "满16岁"


def test_a_year_read_digit_by_digit_folds_to_digits():
    assert fold("二零二五年") == "2025年"


def test_numerals_not_before_a_unit_stay_words():
    # 一件事 is not "1件事": only numbers before a unit are rewritten.
    assert fold("一件事") == "一件事"


def test_fold_undoes_full_width_case_and_punctuation():
    assert fold("ＳＦＺ１２") == "sfz12"
    assert fold("  身份证？！ ") == "身份证"


def test_fold_turns_traditional_into_simplified():
    assert fold("戶口遷移（遷入）") == "户口迁移迁入"


def test_fold_keep_spaces_keeps_latin_runs_apart():
    assert fold_keep_spaces("yidijiuyi  bei\u3000AN") == "yidijiuyi bei an"


def test_a_query_in_words_meets_an_item_name_in_numerals(index):
    assert [e.task_code for e in index.search("70岁以上老人优待证").entries][:1] == ["LN1"]


# ------------------------------------------------------------------ 2. padding

def test_padding_is_removed_anywhere_in_the_query(vocab):
    assert vocab.strip_padding("你好身份证麻烦问下怎么办").strip() == "身份证"
    assert vocab.strip_padding("麻烦问下居住证应该怎么操作你好").strip() == "居住证"


def test_padding_is_never_the_whole_query(vocab):
    assert vocab.strip_padding("你好") == "你好"
    assert vocab.strip_padding("麻烦问下你好") == "麻烦问下你好"


def test_parse_drops_padding_and_word_padding(index):
    assert texts(index.parse("你好，麻烦问下身份证怎么办呢")) == ["身份证"]
    assert texts(index.parse("你好")) == ["你好"]


# ------------------------------------------------------------------ 3. corrections and dialect

def test_a_dialect_word_is_mapped_to_the_standard_word_and_noted(index):
    pq = index.parse("伢崽入学")
    assert "孩子" in texts(pq) and "伢崽→孩子" in pq.notes
    assert index.search("伢崽入学").entries[0].task_code == "XX1"


def test_the_dialect_map_is_a_dictionary_switched_off_with_them():
    plain = SearchIndex([entry(*row) for row in NAMES], DICTIONARY, use_dictionary=False)
    pq = plain.parse("伢崽入学")
    assert "孩子" not in texts(pq) and pq.notes == []


def test_a_dialect_word_is_read_as_dialect(index):
    word = next(w for w in index.parse("伢崽入学").words if w.alternatives[0].shown == "孩子")
    assert word.alternatives[0].how == "dialect"


def test_corrections_are_applied_and_noted(index):
    pq = index.parse("身分证补领")
    assert texts(pq) == ["身份证", "补领"] and pq.notes == ["身分证→身份证"]


def test_a_correction_is_not_applied_when_the_right_word_is_already_there(vocab):
    notes = []
    assert vocab.apply_corrections("身份证身分证", notes) == "身份证身分证" and notes == []


# ------------------------------------------------------------------ 4. segmentation

def test_segmentation_keeps_a_word_only_the_catalog_has_whole():
    bare = Vocabulary.build(known=(), doc_freq={}, pinyin_words=(), user_words=())
    catalog = Vocabulary.build(known=(), doc_freq={}, pinyin_words=(), user_words=["新生儿入户", "公积金提取"])
    assert bare.segment("新生儿入户") != ["新生儿入户"]  # jieba alone cuts it
    assert catalog.segment("新生儿入户") == ["新生儿入户"]
    assert catalog.segment("公积金提取") == ["公积金提取"]


def test_a_general_word_the_catalog_lacks_is_split_into_the_words_it_has():
    # jieba's own dictionary has 交通违章; the catalog knows 交通 and the dictionary 违章.
    vocab = Vocabulary.build(known=["交通", "安全"], doc_freq={}, pinyin_words=(), user_words=(),
                             synonyms=[("违章", "违法行为")])
    assert vocab.segment("交通违章") == ["交通", "违章"]
    assert vocab.segment("交通违章", split=False) == ["交通违章"]


def test_a_word_the_catalog_has_is_never_split():
    vocab = Vocabulary.build(known=["交通违章", "交通"], doc_freq={}, pinyin_words=(), user_words=["交通违章"],
                             synonyms=[("违章", "违法行为")])
    assert vocab.segment("交通违章") == ["交通违章"]


def test_a_word_with_nothing_known_inside_stays_whole():
    vocab = Vocabulary.build(known=["户口"], doc_freq={}, pinyin_words=(), user_words=())
    assert vocab.split_compound("交通违章") == ["交通违章"]


def test_a_number_and_the_character_the_dictionary_knows_with_it_are_one_word():
    vocab = Vocabulary.build(known=["登记"], doc_freq={}, pinyin_words=(), user_words=(),
                             synonyms=[("二胎", "生育"), ("三孩", "生育")])
    assert "2胎" in vocab.segment(fold("生了二胎"))
    assert vocab.segment(fold("3孩登记"))[:2] == ["3孩", "登记"]
    assert vocab.segment(fold("3个月内"))[0] == "3"  # no such word: the number stays apart


def test_the_index_segments_with_its_own_item_names(index):
    assert texts(index.parse("新生儿入户")) == ["新生儿入户"]


@pytest.mark.parametrize("query,tokens", [
    ("gjj提取", ["gjj", "提取"]),
    ("医保 zhuanyi", ["医保", "zhuanyi"]),
    ("jsz换证", ["jsz", "换证"]),
    ("提取gjj", ["提取", "gjj"]),
])
def test_segmentation_cuts_latin_runs_out(vocab, query, tokens):
    assert vocab.segment(fold_keep_spaces(query)) == tokens


# ------------------------------------------------------------------ 5. pinyin

def test_pinyin_initials_read_as_a_catalog_word(vocab):
    assert vocab.read_latin("sfz", at_end=False) == [["身份证"]]


def test_full_pinyin_reads_as_a_catalog_word(vocab):
    assert vocab.read_latin("shenfenzheng", at_end=False) == [["身份证"]]


@pytest.mark.parametrize("run,word", [("gongjijing", "公积金"), ("shenfenzhen", "身份证"), ("zhuanyi", "转移")])
def test_near_homophone_pinyin_typos_read_as_the_catalog_word(vocab, run, word):
    assert vocab.read_latin(run, at_end=False)[0][0] == word


def test_a_run_spelling_nothing_in_the_catalog_is_not_read(vocab):
    assert vocab.read_latin("qwrtx", at_end=False) is None
    assert vocab.read_latin("q", at_end=True) is None


def test_pinyin_split_by_spaces_is_read_as_one_run(index):
    pq = index.parse("yidijiuyi bei an")
    assert best(pq) == ["异地就医备案"] and pq.words[0].alternatives[0].how == "pinyin"
    assert index.search("yidijiuyi bei an").entries[0].task_code == "YB2"


def test_latin_inside_a_chinese_query_is_read_as_characters(index):
    assert best(index.parse("gjj提取")) == ["公积金", "提取"]
    assert best(index.parse("医保 zhuanyi")) == ["医保", "转移"]
    assert index.search("gjj提取").entries[0].task_code == "GJ1"


def test_the_start_of_a_word_being_typed_is_read_only_at_the_end(vocab, index):
    assert vocab.read_latin("tiq", at_end=True) == [["提取"]]
    assert vocab.read_latin("tiq", at_end=False) is None
    assert best(index.parse("公积金 tiq")) == ["公积金", "提取"]


# ------------------------------------------------------------------ 5b. homophone characters

@pytest.mark.parametrize("query,typo,word", [
    ("公积金题取", "题取", "提取"),
    ("异地就医被案", "被案", "备案"),
    ("节婚证", "节婚证", "结婚证"),
    ("身份正", "身份正", "身份证"),
])
def test_homophone_characters_are_read_as_the_catalog_word(index, query, typo, word):
    pq = index.parse(query)
    read = next(w for w in pq.words if w.text == typo)
    assert read.alternatives[0].shown == word and read.alternatives[0].how == "corrected"
    assert f"{typo}→{word}" in pq.notes


def test_read_homophones_gives_the_span_it_replaces(vocab):
    assert vocab.read_homophones("公积金题取") == [("提取", "corrected", 3, 5)]


def test_a_word_the_catalog_knows_is_not_corrected_to_its_homophone(vocab, index):
    # 工时 (特殊工时制度审批) sounds like 公示 (行政处罚决定公示): both are catalog words.
    assert "工时" in vocab.known and "公示" in vocab.by_pinyin.get("gongshi", [])
    assert vocab.read_homophones("工时") == []
    pq = index.parse("工时")
    assert best(pq) == ["工时"] and pq.notes == [] and pq.did_you_mean is None
    assert index.search("工时").entries[0].task_code == "GS1"


# ------------------------------------------------------------------ 6. synonyms

def test_synonyms_expand_a_word_inside_a_longer_query(index):
    pq = index.parse("驾照到期换证")
    word = next(w for w in pq.words if w.text == "驾照")
    synonyms = [a for a in word.alternatives if a.how == "synonym"]
    assert [a.terms for a in synonyms] == [("驾驶证",)]
    assert word.alternatives[0].how == "exact"  # the word as typed stays first
    assert index.search("驾照到期换证").entries[0].task_code == "JZ1"


def test_synonyms_are_not_used_without_dictionaries():
    plain = SearchIndex([entry(*row) for row in NAMES], DICTIONARY, use_dictionary=False)
    word = next(w for w in plain.parse("驾照到期换证").words if w.text == "驾照")
    assert all(a.how != "synonym" for a in word.alternatives)


# ------------------------------------------------------------------ did you mean

@pytest.mark.parametrize("query,meant", [
    ("公积金题取", "公积金提取"),   # corrected homophone
    ("gjj提取", "公积金提取"),      # pinyin initials
    ("shenfenzhen", "身份证"),       # pinyin typo
    ("身份正", "身份证"),
])
def test_did_you_mean_rewrites_a_query_that_was_read_differently(index, query, meant):
    assert index.parse(query).did_you_mean == meant


@pytest.mark.parametrize("query", ["公积金提取", "驾照换证", "你好身份证", "70岁以上"])
def test_did_you_mean_is_none_when_every_word_was_taken_as_typed_or_by_synonym(index, query):
    assert index.parse(query).did_you_mean is None


def test_did_you_mean_is_set_for_a_dialect_word(index):
    assert index.parse("伢崽入学").did_you_mean == "孩子入学"


def test_did_you_mean_is_set_for_a_hand_written_correction(index):
    assert index.parse("身分证补领").did_you_mean == "身份证补领"


def test_a_spoken_number_meets_an_item_name_in_digits():
    rows = [("M16", "年满16周岁居民首次申领身份证", "江州市公安局", 10, []),
            ("ID1", "居民身份证申领", "江州市公安局", 90000, [])]
    idx = SearchIndex([entry(*row) for row in rows], DICTIONARY)
    assert [e.task_code for e in idx.search("满十六周岁办身份证").entries][:1] == ["M16"]
