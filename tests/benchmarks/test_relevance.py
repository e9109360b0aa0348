"""`kiosk bench relevance`: the hand-written query files, the metrics, the plain BM25 baseline
and the runner end to end (the figures themselves are measured by running the benchmark,
never asserted here)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiosk_backend.benchmarks import relevance
from kiosk_backend.benchmarks.relevance import (
    KINDS,
    PlainBM25,
    Query,
    groups_first,
    index_ranker,
    load_all,
    load_queries,
    recall_at,
    reciprocal_rank,
    run_relevance_benchmark,
)
from kiosk_backend.catalog.pinyin import normalize
from tests.conftest import PG_URL, item_row

DEMO = Path(relevance.__file__).resolve().parents[1] / "catalog" / "data" / "demo_items.json"


@pytest.fixture(scope="module")
def queries() -> list[Query]:
    return load_all()


@pytest.fixture(scope="module")
def demo_names() -> dict[str, str]:
    return {row["task_code"]: row["task_name"] for row in json.loads(DEMO.read_text(encoding="utf-8"))}


# ------------------------------------------------------------------ the query files

def test_the_files_hold_at_least_300_queries_of_every_kind(queries):
    assert len(queries) >= 300
    kinds = Counter(q.kind for q in queries)
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) >= 20, kinds


def test_every_acceptable_answer_is_an_item_of_the_demo_catalog(queries, demo_names):
    unknown = [(q.text, code) for q in queries for code in q.acceptable if code not in demo_names]
    assert not unknown


def test_about_a_third_is_held_out_and_every_kind_is_in_both_parts(queries):
    parts = Counter(q.part for q in queries)
    assert 0.30 <= parts["heldout"] / len(queries) <= 0.36, parts
    for kind in KINDS:
        assert {q.part for q in queries if q.kind == kind} == {"tuning", "heldout"}, kind


def test_no_query_is_written_twice_not_even_in_another_script(queries):
    # 離婚 and 离婚 are one query once normalised: in both parts the held-out one would leak.
    seen = Counter(normalize(q.text) for q in queries)
    assert [text for text, n in seen.items() if n > 1] == []


def test_the_files_say_how_they_were_written():
    for path in relevance.QUERY_FILES.values():
        head = "".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
                       if line.startswith("#"))
        assert "by hand before any search tuning" in head and "held-out" in head.lower()
    assert "never looked at while tuning" in relevance.QUERY_FILES["tuning"].read_text(encoding="utf-8")


def test_a_malformed_row_names_its_file_and_line(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("# comment\nkind\tquery\tacceptable\tnote\nquestion\t身份证\tC1|C2\tok\n"
                    "gossip\t身份证\tC1\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q.tsv:4: unknown kind 'gossip'"):
        load_queries(path, "tuning")
    path.write_text("kind\tquery\tacceptable\tnote\nquestion\t身份证\t\tno answer\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q.tsv:2: empty query or no acceptable"):
        load_queries(path, "tuning")
    path.write_text("question\t身份证\tC1\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        load_queries(path, "tuning")
    path.write_text("kind\tquery\tacceptable\tnote\n# skipped\n\nquestion\t身份证\t C1 | C2 \n", encoding="utf-8")
    assert load_queries(path, "heldout") == [Query("heldout", "question", "身份证", frozenset({"C1", "C2"}), "", 4)]


# ------------------------------------------------------------------ metrics

def test_recall_at_k_counts_an_acceptable_item_within_the_first_k():
    ranking = ["a", "b", "c", "d", "e", "f"]
    assert recall_at(ranking, {"a"}, 1) == 1.0
    assert recall_at(ranking, {"b"}, 1) == 0.0
    assert recall_at(ranking, {"e", "z"}, 5) == 1.0
    assert recall_at(ranking, {"f"}, 5) == 0.0
    assert recall_at([], {"a"}, 5) == 0.0


def test_mrr_is_one_over_the_rank_of_the_first_acceptable_item_within_ten():
    ranking = [str(i) for i in range(1, 13)]
    assert reciprocal_rank(ranking, {"1"}) == 1.0
    assert reciprocal_rank(ranking, {"4", "2"}) == 0.5
    assert reciprocal_rank(ranking, {"10"}) == pytest.approx(0.1)
    assert reciprocal_rank(ranking, {"11"}) == 0.0
    assert reciprocal_rank([], {"1"}) == 0.0


def test_summaries_average_per_kind_and_count_empty_screens():
    q1 = Query("tuning", "question", "q1", frozenset({"a"}))
    q2 = Query("tuning", "question", "q2", frozenset({"b"}))
    q3 = Query("heldout", "two_char", "q3", frozenset({"c"}))
    outcomes = [relevance.Outcome(q1, relevance.Ranked(["a", "x"], 2)),
                relevance.Outcome(q2, relevance.Ranked(["x", "y", "b"], 3)),
                relevance.Outcome(q3, relevance.Ranked([], 0, 1))]
    parts = relevance.by_part_and_kind(outcomes)
    question = parts["tuning"]["kinds"]["question"]
    assert (question["n"], question["r1"], question["r5"]) == (2, 0.5, 1.0)
    assert question["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    # A life-event group alone is not an empty screen, but it is a query without ordinary items.
    assert parts["heldout"]["overall"] | {"mrr": 0} == {"n": 1, "r1": 0.0, "r5": 0.0, "mrr": 0, "empty": 0,
                                                        "no_items": 1, "errors": 0}
    assert "two_char" not in parts["tuning"]["kinds"]


def test_life_event_groups_come_first_without_repeats():
    assert groups_first(["g1", "g2", "a"], ["a", "b", "g1", "c"]) == ["g1", "g2", "a", "b", "c"]
    assert groups_first([], ["a", "b"]) == ["a", "b"]


def _fake_index(ordinary: list[str], groups: list[list[str]] | None):
    def entry(code):
        return SimpleNamespace(task_code=code)

    index = SimpleNamespace(search=lambda q, limit: SimpleNamespace(entries=[entry(c) for c in ordinary][:limit]))
    if groups is not None:
        index.life_events = lambda q: [(SimpleNamespace(key=f"e{i}"), [entry(c) for c in g]) for i, g in enumerate(groups)]
    return index


def test_index_ranker_puts_life_event_groups_first_for_life_event_queries_only():
    rank = index_ranker(_fake_index(["a", "b"], [["g", "a"]]))
    event = rank(Query("tuning", "life_event", "家里添了宝宝", frozenset({"g"})))
    assert (event.codes, event.items, event.groups) == (["g", "a", "b"], 2, 1)
    other = rank(Query("tuning", "question", "身份证", frozenset({"a"})))
    assert other.codes == ["a", "b"]
    # Before the index has life events: ordinary results only; nothing at all is an empty screen.
    bare = index_ranker(_fake_index([], None))(Query("tuning", "life_event", "生孩子", frozenset({"g"})))
    assert (bare.codes, bare.items, bare.groups) == ([], 0, 0)


def test_a_query_the_index_fails_on_is_a_reported_miss():
    index = SimpleNamespace(search=lambda q, limit: (_ for _ in ()).throw(RuntimeError("boom")))
    ranked = index_ranker(index)(Query("tuning", "question", "身份证", frozenset({"a"})))
    assert (ranked.codes, ranked.error) == ([], "RuntimeError: boom")


# ------------------------------------------------------------------ plain BM25 baseline

ITEMS = [("C0", "居民身份证申领"), ("C1", "居民身份证换领"), ("C2", "户口迁移（迁入）"),
         ("C3", "结婚登记"), ("C4", "住房公积金提取（租房）"), ("C5", "普通护照签发")]


@pytest.fixture(scope="module")
def baseline() -> PlainBM25:
    return PlainBM25(ITEMS)


def test_the_baseline_ranks_an_exact_item_name_first(baseline):
    for code, name in ITEMS:
        assert baseline.search(name)[0] == code, name


def test_the_baseline_normalises_traditional_and_full_width(baseline):
    assert baseline.search("戶口遷移")[0] == "C2"
    assert baseline.search("结婚登记！")[0] == "C3"


def test_the_baseline_matches_all_latin_queries_against_pinyin(baseline):
    assert baseline.search("gjj") == ["C4"]
    assert baseline.search("SFZ") == ["C0", "C1"]
    assert baseline.search("jiehun")[0] == "C3"
    assert baseline.search("huzhao") == ["C5"]


def test_the_baseline_finds_nothing_for_unknown_words(baseline):
    assert baseline.search("火星") == []
    assert baseline.search("？？") == []


def test_the_baseline_ignores_words_added_to_jiebas_global_dictionary():
    # The search adds the catalog's words to jieba; the baseline keeps jieba's own dictionary.
    import jieba

    jieba.setLogLevel(60)
    before = PlainBM25([("X", "伢崽上户")]).tokens("伢崽上户")
    jieba.add_word("伢崽上户")
    try:
        assert "伢崽上户" in jieba.lcut_for_search("伢崽上户")
        assert PlainBM25([("X", "伢崽上户")]).tokens("伢崽上户") == before
        assert "伢崽上户" not in before
    finally:
        jieba.del_word("伢崽上户")


# ------------------------------------------------------------------ the runner

def _some(queries, n_per_part=4):
    out = []
    for part in ("tuning", "heldout"):
        out += [q for q in queries if q.part == part][:n_per_part]
    return out


def test_the_runner_prints_a_table_per_configuration_for_both_parts(queries):
    lines: list[str] = []
    chosen = _some(queries)
    report = run_relevance_benchmark(["full", "no-dictionary", "plain-bm25"], echo=lines.append,
                                     database_url=PG_URL, queries=chosen)
    out = "\n".join(lines)
    assert report["catalog_items"] == 350
    assert report["queries"] == {"tuning": 4, "heldout": 4}
    for config in ("full", "plain-bm25"):
        assert f"== {config} ==" in out
        parts = report["configs"][config]["parts"]
        assert parts["tuning"]["overall"]["n"] == 4 and parts["heldout"]["overall"]["n"] == 4
    assert "kind             |    n    R@1    R@5  MRR10 empty 0-items |    n    R@1" in out
    assert "\noverall          |    4 " in out
    nodict = report["configs"]["no-dictionary"]
    assert "== no-dictionary ==" in out and (nodict["available"] or "does not exist yet" in nodict["built"])


def test_misses_are_shown_for_the_tuning_part_only(queries):
    tuning = Query("tuning", "question", "火星签证办理", frozenset({"11369900015623817G4070010100001"}))
    heldout = Query("heldout", "question", "月球户口办理", frozenset({"11369900015623817G4070010100001"}))
    lines: list[str] = []
    report = run_relevance_benchmark(["plain-bm25"], show_misses=True, echo=lines.append, database_url=PG_URL,
                                     queries=[tuning, heldout])
    out = "\n".join(lines)
    assert "火星签证办理" in out and "want: 居民身份证申领" in out
    assert "月球户口办理" not in out
    assert [m["query"] for m in report["configs"]["plain-bm25"]["tuning_misses"]] == ["火星签证办理"]


def test_json_output_is_one_document(queries):
    lines: list[str] = []
    run_relevance_benchmark(["plain-bm25"], part="heldout", as_json=True, echo=lines.append, database_url=PG_URL,
                            queries=_some(queries, 3))
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert list(doc["configs"]["plain-bm25"]["parts"]) == ["heldout"]
    assert set(doc["configs"]["plain-bm25"]["parts"]["heldout"]["overall"]) == {
        "n", "r1", "r5", "mrr", "empty", "no_items", "errors"}


def test_no_dictionary_asks_build_index_for_dictionaries_off_or_says_it_cannot(monkeypatch):
    from kiosk_backend.catalog import services

    calls = []

    def with_keyword(session, *, dictionaries=True):
        calls.append(dictionaries)
        return _fake_index(["a"], None)

    monkeypatch.setattr(services, "build_index", with_keyword)
    ranker, built = relevance._build("no-dictionary", session=None)
    assert calls == [False] and ranker(Query("tuning", "question", "x", frozenset({"a"}))).codes == ["a"]
    assert "dictionaries=False" in built

    monkeypatch.setattr(services, "build_index", lambda session: _fake_index([], None))
    ranker, built = relevance._build("no-dictionary", session=None)
    assert ranker is None and "does not exist yet" in built


def test_unknown_configuration_or_part_is_refused():
    with pytest.raises(ValueError, match="unknown configuration"):
        run_relevance_benchmark(["bm99"], queries=[])
    with pytest.raises(ValueError, match="part"):
        run_relevance_benchmark(["plain-bm25"], part="all", queries=[])


def test_kiosk_bench_relevance_is_a_command(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kiosk_backend.cli import main

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "relevance", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--part", "--show-misses", "--config"):
        assert option in result.output
    bad = CliRunner().invoke(main, ["bench", "relevance", "--config", "full,bm99"])
    assert bad.exit_code != 0 and "bm99" in bad.output


def test_names_only_builds_over_names_and_leaves_the_catalog_as_it_was(db, make_items):
    from kiosk_backend.catalog.models import Item

    code = "T" + "N" * 20
    make_items(item_row(task_code=code, task_name="居民身份证申领", keywords=["补办证件"], popularity=900,
                        accept_condition="户籍在本市的居民"))
    by_keyword = Query("tuning", "question", "补办证件", frozenset({code}))
    by_text = Query("tuning", "question", "户籍在本市", frozenset({code}))
    by_name = Query("tuning", "question", "身份证申领", frozenset({code}))

    full, _ = relevance._build("full", db.session)
    names_only, built = relevance._build("names-only", db.session)
    assert "names and departments only" in built
    assert full(by_keyword).codes == [code] and full(by_text).codes == [code]
    assert names_only(by_keyword).codes == [] and names_only(by_text).codes == []
    assert names_only(by_name).codes == [code]
    db.session.expire_all()
    item = db.session.query(Item).filter_by(task_code=code).one()
    assert item.keywords == ["补办证件"] and item.popularity == 900 and item.accept_condition == "户籍在本市的居民"
