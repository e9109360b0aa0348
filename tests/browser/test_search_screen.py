"""The search screen of issue 11 in real Chromium, on the demo catalog, on each device profile
in its own screen size (portrait post office 1080 × 1920, landscape bank 1920 × 1080, community
tablet 1280 × 800):

- a homophone typo (公积金题取) gets the line 您是不是要找：公积金提取 above the results, the
  matched words marked in the first result, and a tap on the line searches for it in place;
- a situation (家里添了宝宝) gets its life event's group (办理“…”相关事项) first, then the
  other results under their own heading;
- a query with a meaning but no catalog word in it (火星探险: 火星移民 finds 往来港澳通行证签发
  through 移民) gets the calm empty screen: one heading, the catalog words nearest by pinyin as
  chips that search in place, popular items, a button to a person (the help screen), nothing wider than the
  screen, no two targets overlapping, every target big enough (44 px, 60 px in elder mode:
  UX.md, as tests/browser/test_touch_targets.py measures them), no serious axe violation.

Screenshots: test-artifacts/screenshots/search-{typo,life-event,none}-<profile>[-elder].png.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .browser_support import BANK, COMMUNITY, MEASURE_TARGETS, POST_OFFICE, describe, expect, overlapping, wait_ready
from .test_accessibility import _blocking_violations

pytestmark = pytest.mark.browser

PROFILES = [POST_OFFICE, BANK, COMMUNITY]
LEAST_TARGET = {0: 44, 1: 60}  # px, normal and elder mode (UX.md)
NOTHING = "火星探险"  # no item of the demo catalog has any of its words

# Everything that could make the screen wider than the window, and what sticks out.
OVERFLOW = """
() => {
  const found = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > innerWidth) found.push(`the document is ${doc.scrollWidth}px wide in ${innerWidth}px`);
  for (const box of [document.querySelector('main'), document.querySelector('.search-side')]) {
    if (box && box.scrollWidth > box.clientWidth + 0.5) found.push(`<${box.tagName.toLowerCase()} class="${box.className}"> scrolls sideways: ${box.scrollWidth}px in ${box.clientWidth}px`);
  }
  for (const el of document.querySelectorAll('#results-box *')) {
    if (!el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    const side = el.closest('.search-side, main').getBoundingClientRect();
    if (r.right > side.right + 0.5 || r.left < side.left - 0.5) {
      found.push(`<${el.tagName.toLowerCase()} class="${el.className}"> spans ${Math.round(r.left)}..${Math.round(r.right)}px outside ${Math.round(side.left)}..${Math.round(side.right)}px`);
      if (found.length > 10) break;
    }
  }
  return found;
}
"""


def _search(page, live_server, query: str, *, elder: int = 0, typed: bool = True) -> None:
    """The search screen with ``query``: typed into the box and sent with 搜索 (search.js
    swaps the results in), or opened by its address (the page as the server renders it)."""
    if typed:
        page.goto(live_server(f"/kiosk/search?elder={elder}"))
        wait_ready(page)
        page.locator("#q").fill(query)
        page.locator("#search-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"\?q=" + re.escape(quote(query)) + "$"))
    else:
        page.goto(live_server(f"/kiosk/search?q={quote(query)}&elder={elder}"))
    expect(page.locator("#results-box [data-status]")).to_have_count(1)  # the results are in
    expect(page.locator("#search-status")).not_to_have_text(re.compile("正在查找|Searching"))


def _fits(page, elder: int) -> list[str]:
    """What is wrong with the screen's layout: sideways scrolling, overlapping or small targets."""
    problems = list(page.evaluate(OVERFLOW))
    targets = page.evaluate(MEASURE_TARGETS)
    least = LEAST_TARGET[elder]
    for t in targets:
        if t["inSentence"]:
            problems.append(f"link inside a sentence {describe(t)}")
        elif t["width"] < least or t["height"] < least:
            problems.append(f"{describe(t)} is {t['width']:.0f}×{t['height']:.0f} px, needs ≥ {least}×{least}")
    problems += [f"{describe(a)} overlaps {describe(b)}" for a, b in overlapping(targets)]
    return problems


def _shot(page, screenshot_dir, name: str, profile: str, elder: int = 0) -> None:
    page.screenshot(path=str(screenshot_dir / f"search-{name}-{profile}{'-elder' if elder else ''}.png"))


@pytest.mark.parametrize("profile", PROFILES)
def test_a_homophone_typo_gets_did_you_mean_and_the_matched_words_marked(new_page, live_server, screenshot_dir,
                                                                         profile):
    page = new_page(kiosk=profile)
    _search(page, live_server, "公积金题取")
    line = page.locator("#results-box a.did-you-mean-link")
    expect(line).to_have_text("您是不是要找：公积金提取")
    expect(line).to_have_attribute("href", "/kiosk/search?q=" + quote("公积金提取"))
    first = page.locator("#results a.result").first
    expect(first).to_be_visible()
    assert line.bounding_box()["y"] < first.bounding_box()["y"], "the line is above the results"
    marks = first.locator(".result-name mark")
    expect(marks.first).to_be_visible()
    name = first.locator(".result-name").inner_text()
    assert all(m in name for m in marks.all_inner_texts()), (name, marks.all_inner_texts())
    assert any(word in "".join(marks.all_inner_texts()) for word in ("公积金", "提取")), name
    # Marked by more than colour: underlined, on a background, in dark ink.
    style = marks.first.evaluate("""m => { const s = getComputedStyle(m);
      return { line: s.textDecorationLine, bg: s.backgroundColor, weight: Number(s.fontWeight) }; }""")
    assert "underline" in style["line"] and style["bg"] != "rgba(0, 0, 0, 0)" and style["weight"] >= 700, style
    assert not _fits(page, 0), "\n".join(_fits(page, 0))
    _shot(page, screenshot_dir, "typo", profile)

    # A tap on the line searches for 公积金提取 in place: the box holds it, the line is gone.
    line.click()
    expect(page.locator("#q")).to_have_value("公积金提取")
    expect(page).to_have_url(re.compile(r"\?q=" + re.escape(quote("公积金提取")) + "$"))
    expect(page.locator("#results a.result").first).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text(re.compile(r"找到 \d+ 个事项"))


@pytest.mark.parametrize("profile", PROFILES)
def test_a_life_event_comes_first_as_its_own_group(new_page, live_server, screenshot_dir, profile):
    page = new_page(kiosk=profile)
    _search(page, live_server, "家里添了宝宝")
    headings = page.locator("#results-box h2")
    expect(headings.first).to_have_text(re.compile(r"^办理“.*出生.*”相关事项$"))
    group = page.locator("#results-box section.life-event").first
    expect(group.locator("a.result").first).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text(re.compile(r"找到 \d+ 个事项"))
    others = page.locator("#results-box section.other-results")
    if others.count():  # the ordinary results, when there are any, come after the group
        assert group.bounding_box()["y"] < others.bounding_box()["y"]
        expect(others.locator("h2")).to_have_text("其他相关事项")
        # ... and never repeat the group's items (the search contract).
        grouped = set(page.locator("#results-box section.life-event a.result").evaluate_all("els => els.map(a => a.pathname)"))
        repeated = [a for a in others.locator("a.result").evaluate_all("els => els.map(a => a.pathname)") if a in grouped]
        assert not repeated, f"in the group and again in the other results: {repeated}"
    assert not _fits(page, 0), "\n".join(_fits(page, 0))
    _shot(page, screenshot_dir, "life-event", profile)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("elder", [0, 1], ids=["normal", "elder"])
def test_nothing_found_is_a_calm_screen_with_popular_items_and_a_person(new_page, live_server, axe, screenshot_dir,
                                                                        profile, elder):
    page = new_page(kiosk=profile)
    _search(page, live_server, NOTHING, elder=elder)
    expect(page.get_by_role("heading", name="没有找到相关事项")).to_be_visible()
    expect(page.get_by_text("没有找到相关事项")).to_have_count(1)
    expect(page.locator("#search-status")).to_have_text("")
    popular = page.get_by_role("region", name="大家常办")
    expect(popular.locator("#popular-results a.result").first).to_be_attached()
    assert popular.locator("#popular-results a.result").count() >= 4
    helper = page.locator("#results-box a.ask-staff")
    expect(helper).to_have_text("请工作人员帮您找")
    expect(helper).to_be_in_viewport()  # a person to ask is the first way on, in sight
    words = page.get_by_role("region", name="您是不是要找").locator("a.chip")
    expect(words.first).to_be_visible()
    problems = _fits(page, elder) + [f"axe: {v}" for v in _blocking_violations(axe, page)]
    _shot(page, screenshot_dir, "none", profile, elder)
    assert not problems, "\n".join(problems)
    if elder:
        helper.click()
        expect(page).to_have_url(live_server("/kiosk/help"))
    else:  # a nearest word searches for itself in place
        word = words.first.inner_text()
        words.first.click()
        expect(page.locator("#q")).to_have_value(word)
        expect(page).to_have_url(re.compile(r"\?q=" + re.escape(quote(word)) + "$"))
        expect(page.locator("#results a.result").first).to_be_visible()


def test_the_empty_screen_is_the_same_without_javascript_and_in_english(new_page, live_server, screenshot_dir):
    page = new_page(kiosk=BANK)
    _search(page, live_server, NOTHING, typed=False)
    expect(page.locator("#results-box a.ask-staff")).to_have_attribute("href", "/kiosk/help")
    page.goto(live_server("/kiosk/search?q=" + quote(NOTHING) + "&lang=en"))
    expect(page.locator("#results-box a.ask-staff")).to_have_text("Ask a staff member to help you")
    expect(page.get_by_role("region", name="Popular services")).to_be_visible()
    assert not _fits(page, 0), "\n".join(_fits(page, 0))
    _shot(page, screenshot_dir, "none-en", BANK)
