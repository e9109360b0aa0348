"""The kiosk's search screen as issue 11 describes it (kiosk/_results.html, search.html, the
mark_matches filter in catalog/kiosk.py): matched words marked in each name, the "did you
mean" line, life-event groups (一件事) before the other results, and an empty screen that
always offers a way on (nearest words, close life events, popular items, a person to ask).

The results are made by hand in the shape of the search contract (notes: issue 11 contract,
the result of ``services.search``), rendered by the partial template directly and by the real
route with ``services.search`` replaced, so that these tests pin the screen, not the ranking.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import g, render_template
from markupsafe import Markup

from kiosk_backend.catalog import services
from kiosk_backend.catalog.kiosk import mark_matches


def summary(code: str, name: str, **extra) -> dict:
    """An ItemSummary as the search returns it (the fields the item list shows)."""
    return {"task_code": code, "task_name": name, "dept_name": "江州市住房公积金中心", "task_type": "07",
            "handle_area": "全市", "is_online": False, "is_express": False, "promise_day": 5, **extra}


def result(query: str, items=(), **fields) -> dict:
    """A search result in the contract's shape; ``fields`` override or add any key."""
    items = list(items)
    return {"query": query, "understood_as": [], "did_you_mean": None, "total": len(items), "page": 1,
            "page_size": 10, "items": items, "life_events": [], "popular": [], "help": None,
            "nearest_words": [], "nearest_life_events": [], **fields}


TYPO = result(
    "公积金题取", understood_as=["题取→提取"], did_you_mean="公积金提取",
    items=[summary("GJJ1", "住房公积金提取", match={"highlight": ["公积金", "提取"], "words": [
        {"word": "公积金", "matched": "公积金", "how": "exact", "field": "name"},
        {"word": "题取", "matched": "提取", "how": "corrected", "field": "name"}]}),
           summary("GJJ2", "住房公积金缴存", match={"highlight": ["公积金"], "words": []})])

NEWBORN = result(
    "家里添了宝宝",
    items=[summary("YB1", "城乡居民医疗保险参保登记", match={"highlight": [], "words": []})],
    life_events=[{"key": "newborn", "name": "新生儿出生", "source": "国务院办公厅 2024",
                  "items": [summary("CS1", "出生医学证明办理"), summary("HK1", "新生儿入户")]}])

NOTHING = result(
    "火星移民", popular=[summary("ID1", "居民身份证申领")],
    help={"message": "Ask staff", "message_zh": "请咨询工作人员"},
    nearest_words=["户口迁移", "移民"], nearest_life_events=[{"key": "move", "name": "户口迁移"}])


def render(app, found: dict, *, lang: str = "zh-CN") -> str:
    """kiosk/_results.html (the part search-as-you-type swaps in) rendered for ``found``."""
    with app.test_request_context("/kiosk/search?partial=1"):
        g.lang = lang
        return render_template("kiosk/_results.html", result=found, page_size=10)


@pytest.fixture
def searching(monkeypatch):
    """The kiosk route answers from hand-made results: ``searching({"q": result, ...})``."""
    def _use(answers: dict[str, dict]):
        monkeypatch.setattr(services, "search", lambda session, q="", **_: answers[q])
    return _use


def page_of(client, q: str, **args) -> str:
    extra = "".join(f"&{k}={v}" for k, v in args.items())
    return client.get(f"/kiosk/search?q={quote(q)}{extra}").get_data(as_text=True)


# ---------------------------------------------------------------- marking the matched words

def test_matched_words_are_marked_in_the_name():
    assert mark_matches("住房公积金提取", ["公积金", "提取"]) == "住房<mark>公积金提取</mark>"
    assert mark_matches("住房公积金缴存", ["提取"]) == "住房公积金缴存"
    assert isinstance(mark_matches("住房公积金提取", ["公积金"]), Markup)


def test_names_are_escaped_before_any_mark_and_words_never_become_markup():
    name = 'A&B <script>alert("x")</script> 提取'
    marked = mark_matches(name, ["<script>", "提取", "<b>"])
    assert marked == ('A&amp;B <mark>&lt;script&gt;</mark>alert(&#34;x&#34;)&lt;/script&gt; <mark>提取</mark>')
    assert "<script" not in marked and "<b>" not in marked
    assert mark_matches(name, []) == 'A&amp;B &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; 提取'
    # Words are looked for in the name, not in its escaped form: "amp" or "#34" are not in it.
    assert mark_matches('A&B "x"', ["amp", "#34", "quot"]) == "A&amp;B &#34;x&#34;"


@pytest.mark.parametrize("words, expected", [
    (["公积金", "积金提取"], "住房<mark>公积金提取</mark>申请"),        # overlapping: one mark over both
    (["公积金提取", "积金"], "住房<mark>公积金提取</mark>申请"),        # nested
    (["积金", "公积金提取"], "住房<mark>公积金提取</mark>申请"),        # nested, the inner one first
    (["住房", "提取"], "<mark>住房</mark>公积金<mark>提取</mark>申请"),  # apart: two marks
    (["房公", "公积"], "住<mark>房公积</mark>金提取申请"),              # touching: one mark
])
def test_overlapping_and_nested_words_make_one_mark(words, expected):
    assert mark_matches("住房公积金提取申请", words) == expected


def test_every_occurrence_is_marked_and_latin_letters_whatever_their_case():
    assert mark_matches("证明证明", ["证明"]) == "<mark>证明证明</mark>"
    assert mark_matches("ETC 卡办理", ["etc"]) == "<mark>ETC</mark> 卡办理"


def test_characters_outside_the_basic_plane_are_never_split():
    # 𠮷 (U+20BB7) is one character of the name, two UTF-16 units in the browser.
    assert mark_matches("𠮷祥𠮷", ["𠮷"]) == "<mark>𠮷</mark>祥<mark>𠮷</mark>"
    assert mark_matches("𠮷祥", ["祥"]) == "𠮷<mark>祥</mark>"


@pytest.mark.parametrize("words", [None, [], "公积金", [None, "", 3]])
def test_missing_or_odd_highlight_lists_mark_nothing(words):
    assert mark_matches("住房公积金<提取>", words) == "住房公积金&lt;提取&gt;"


def test_the_results_mark_the_highlight_and_escape_the_name(app):
    found = result("x", items=[summary("X1", "<script>&公积金", match={"highlight": ["公积金"]}),
                               summary("X2", "没有命中")])  # no "match" at all: the old shape
    page = render(app, found)
    assert '<span class="result-name">&lt;script&gt;&amp;<mark>公积金</mark></span>' in page
    assert '<span class="result-name">没有命中</span>' in page and "<script>" not in page


def test_other_item_lists_show_names_as_before(kiosk_client, make_items):
    from tests.conftest import item_row
    make_items(item_row(task_code="L1", task_name="教师资格<认定>", theme_natural=["教育"]))
    page = kiosk_client.get("/kiosk/themes/" + quote("教育")).get_data(as_text=True)
    assert '<span class="result-name">教师资格&lt;认定&gt;</span>' in page and "<mark>" not in page


# ---------------------------------------------------------------- did you mean

def test_did_you_mean_is_one_link_to_the_search_for_it_above_the_results(app):
    page = render(app, TYPO)
    link = f'<a class="did-you-mean-link" href="/kiosk/search?q={quote("公积金提取")}" data-q="公积金提取">'
    assert link + "您是不是要找：<strong>公积金提取</strong></a>" in page
    assert page.index("did-you-mean") < page.index('id="results"')
    assert "住房<mark>公积金提取</mark>" in page  # the first result, matched words marked


@pytest.mark.parametrize("did_you_mean", [None, "公积金题取"])  # none, or the query itself
def test_no_did_you_mean_line_without_a_different_wording(app, did_you_mean):
    assert "did-you-mean" not in render(app, {**TYPO, "did_you_mean": did_you_mean})
    assert "did-you-mean" not in render(app, {k: v for k, v in TYPO.items() if k != "did_you_mean"})


def test_did_you_mean_shows_on_the_empty_screen_too(app):
    page = render(app, {**NOTHING, "did_you_mean": "户口迁移"})
    assert page.index("您是不是要找：<strong>户口迁移</strong>") < page.index("没有找到相关事项")


def test_did_you_mean_is_escaped(app):
    page = render(app, {**TYPO, "did_you_mean": '<img src=x onerror="1">'})
    assert "<img" not in page and "您是不是要找：<strong>&lt;img src=x onerror=&#34;1&#34;&gt;</strong>" in page


# ---------------------------------------------------------------- life events first

def test_life_event_groups_come_first_then_the_other_results_under_their_own_heading(app):
    page = render(app, NEWBORN)
    order = ["办理“新生儿出生”相关事项", "/kiosk/items/CS1", "/kiosk/items/HK1", "其他相关事项", "/kiosk/items/YB1"]
    positions = [page.index(part) for part in order]
    assert positions == sorted(positions)
    assert '<h2 id="life-event-1-title">办理“新生儿出生”相关事项</h2>' in page
    assert page.count('class="life-event"') == 1
    assert 'data-status="找到 3 个事项"' in page  # the group's and the other results


def test_two_life_events_keep_their_order(app):
    second = {"key": "shop", "name": "开办理发店", "items": [summary("SH1", "公共场所卫生许可")]}
    page = render(app, {**NEWBORN, "life_events": [*NEWBORN["life_events"], second]})
    assert page.index("“新生儿出生”") < page.index("“开办理发店”") < page.index("其他相关事项")


def test_without_life_events_the_results_have_no_extra_heading(app):
    page = render(app, TYPO)
    assert "其他相关事项" not in page and 'class="life-event"' not in page


def test_a_life_event_alone_is_a_result_not_the_empty_screen(app):
    page = render(app, {**NEWBORN, "items": [], "total": 0})
    assert "/kiosk/items/CS1" in page and "没有找到相关事项" not in page and "其他相关事项" not in page
    assert 'data-status="找到 2 个事项"' in page  # what is shown


def test_life_events_without_items_and_on_later_pages_are_not_shown(app):
    empty_event = {**NEWBORN, "life_events": [{"key": "newborn", "name": "新生儿出生", "items": []}]}
    assert "新生儿出生" not in render(app, empty_event)
    assert "新生儿出生" not in render(app, {**NEWBORN, "page": 2, "total": 11})


# ---------------------------------------------------------------- the empty screen

def test_the_empty_screen_offers_nearest_words_life_events_popular_items_and_a_person(app):
    page = render(app, NOTHING)
    assert page.count("没有找到相关事项") == 1 and 'data-status=""' in page
    assert '<h2 id="nearest-words-title">您是不是要找</h2>' in page
    for word in ("户口迁移", "移民"):
        assert f'<a class="chip big" href="/kiosk/search?q={quote(word)}" data-q="{word}">{word}</a>' in page
    assert '<h2 id="nearest-events-title">您是不是在办这些事</h2>' in page
    assert f'<a class="chip" href="/kiosk/search?q={quote("户口迁移")}" data-q="户口迁移">户口迁移</a>' in page
    assert '<h2 id="popular-title">大家常办</h2>' in page and "/kiosk/items/ID1" in page
    assert '<a class="btn ask-staff" href="/kiosk/help">请工作人员帮您找</a>' in page
    order = ["没有找到相关事项", "请工作人员帮您找", "nearest-words-title", "nearest-events-title", "popular-title"]
    assert [page.index(part) for part in order] == sorted(page.index(part) for part in order)


def test_the_empty_screen_without_the_new_fields_still_has_popular_items_and_a_person(app):
    old = {"query": "火星移民", "understood_as": [], "total": 0, "page": 1, "items": [],
           "popular": [summary("ID1", "居民身份证申领")], "help": None}
    page = render(app, old)
    assert "没有找到相关事项" in page and "/kiosk/items/ID1" in page and "/kiosk/help" in page
    assert "nearest" not in page and "did-you-mean" not in page


# ---------------------------------------------------------------- through the kiosk route

def test_the_search_screen_and_its_partial_carry_every_new_part(kiosk_client, searching):
    searching({"公积金题取": TYPO, "家里添了宝宝": NEWBORN, "火星移民": NOTHING})
    for partial in ("0", "1"):
        typo = page_of(kiosk_client, "公积金题取", partial=partial)
        assert "您是不是要找：<strong>公积金提取</strong>" in typo and "<mark>公积金提取</mark>" in typo
        assert typo.count("data-status=") == 1 and 'data-status="找到 2 个事项 · 已按“提取”为您查找"' in typo
        assert "办理“新生儿出生”相关事项" in page_of(kiosk_client, "家里添了宝宝", partial=partial)
        nothing = page_of(kiosk_client, "火星移民", partial=partial)
        assert "/kiosk/help" in nothing and 'data-q="移民"' in nothing and "/kiosk/items/ID1" in nothing
        assert ("<html" in typo) == (partial == "0")


def test_the_full_screen_status_line_matches_the_partials(kiosk_client, searching):
    searching({"公积金题取": TYPO, "家里添了宝宝": {**NEWBORN, "items": [], "total": 0}, "火星移民": NOTHING})
    typo = page_of(kiosk_client, "公积金题取")
    assert '<p id="search-status" class="status">找到 2 个事项 · 已按“提取”为您查找</p>' in typo
    assert '<p id="search-status" class="status">找到 2 个事项</p>' in page_of(kiosk_client, "家里添了宝宝")
    assert '<p id="search-status" class="status"></p>' in page_of(kiosk_client, "火星移民")


def test_english_labels(kiosk_client, searching):
    searching({"公积金题取": TYPO, "家里添了宝宝": NEWBORN, "火星移民": NOTHING})
    typo = page_of(kiosk_client, "公积金题取", lang="en")
    assert "Did you mean: <strong>公积金提取</strong>" in typo and "您是不是要找" not in typo
    newborn = page_of(kiosk_client, "家里添了宝宝", lang="en")
    assert "Things to do for “新生儿出生”" in newborn and ">Other matching services</h2>" in newborn
    assert "相关事项" not in newborn
    nothing = page_of(kiosk_client, "火星移民", lang="en")
    for label in ('<h2 id="nearest-words-title">Did you mean</h2>', ">Are you dealing with one of these?</h2>",
                  ">Ask a staff member to help you</a>"):
        assert label in nothing, label
