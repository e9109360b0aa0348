"""Chinese by default, English on request; the choice sticks for the rest of the visit, and
elder mode likewise."""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, POST_OFFICE, expect

pytestmark = pytest.mark.browser


def test_english_labels_follow_the_resident_from_screen_to_screen(new_page, live_server):
    page = new_page(kiosk=BANK)
    page.goto(live_server("/kiosk/"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    for label in ("Find a service", "Browse by topic", "Life events", "Browse by department"):
        expect(page.get_by_role("link", name=re.compile(label))).to_be_visible()
    bar = page.locator("nav.bottombar")
    expect(bar.get_by_role("button", name=re.compile("^Back"))).to_be_visible()  # home: 返回 shown, disabled
    for label in ("Home", "Ask a person"):
        expect(bar.get_by_role("link", name=label)).to_be_visible()

    # Remembered without ?lang= on the next screens.
    page.get_by_role("link", name=re.compile("Find a service")).click()
    expect(page).to_have_url(re.compile(r"/kiosk/search$"))
    expect(page.get_by_role("button", name="Search", exact=True)).to_be_visible()
    expect(page.get_by_role("group", name="Pinyin initials keyboard")).to_be_visible()
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}"))
    expect(page.get_by_role("link", name="Print this guide")).to_be_visible()
    expect(page.get_by_role("heading", name="Documents to bring")).to_be_visible()

    # And back to Chinese.
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("link", name="打印办事指南")).to_be_visible()


def test_the_elder_switch_enlarges_everything_and_is_remembered(new_page, live_server):
    page = new_page(kiosk=BANK)
    page.goto(live_server("/kiosk/"))
    normal = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.get_by_role("link", name="长辈版").click()
    expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
    page.get_by_role("link", name=re.compile("按主题找")).click()
    expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
    page.wait_for_load_state("load")  # the body's class comes with the HTML, its size with the stylesheet
    elder = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert elder >= 30 > normal >= 24
    page.get_by_role("link", name="标准版").click()
    expect(page.locator("body")).not_to_have_class(re.compile(r"\belder\b"))


@pytest.mark.parametrize("profile", [BANK, POST_OFFICE, COMMUNITY])
def test_a_browser_in_english_still_opens_the_kiosk_in_the_profiles_language(new_page, live_server, profile):
    """Issue 7 §2.3: stock Chromium sends Accept-Language en-US; the device profile decides."""
    page = new_page(kiosk=profile, locale="en-US")
    assert page.evaluate("navigator.language") == "en-US"
    page.goto(live_server("/kiosk/"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("link", name=re.compile("查找事项"))).to_be_visible()
    if profile == COMMUNITY:  # Chinese only: no switch at all
        expect(page.get_by_role("link", name="English")).to_have_count(0)
        return
    # The resident's own choice wins from then on, until the visit ends.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name=re.compile("Find a service")).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_switching_language_mid_search_keeps_the_query_and_back_still_works(new_page, live_server, screenshot_dir):
    """Issue 7 §2.7: the switch comes back to the same screen with what was typed, in place of
    itself, so 返回 leads to the screen before the search."""
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/"))
    page.get_by_role("link", name=re.compile("查找事项")).click()
    expect(page).to_have_url(re.compile(r"/kiosk/search$"))
    page.wait_for_load_state("load")  # the keyboard is wired by the page's module script
    for letter in "SFZ":
        page.get_by_role("button", name=letter, exact=True).click()
    expect(page.locator("#q")).to_have_value("sfz")
    page.get_by_role("link", name="English").click()   # at once, before the address caught up or not

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#q")).to_have_value("sfz")
    expect(page.locator("#results-box a.result").first).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text("found")
    expect(page).to_have_url(re.compile(r"/kiosk/search\?q=sfz$"))  # the choice is in a cookie, not the address

    page.get_by_role("link", name="Large text").click()  # another switch: still one screen in history
    expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
    expect(page.locator("#q")).to_have_value("sfz")
    page.screenshot(path=str(screenshot_dir / "search-english-elder-portrait.png"))

    page.get_by_role("link", name="Back").click()
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")  # going back does not undo the choice


def test_english_guide_shows_coded_values_in_english_and_counts_properly(new_page, live_server):
    page = new_page(kiosk=BANK)
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}?lang=en"))
    # Coded values (not the free text of the guide, which the catalogue holds in Chinese only).
    coded = "\n".join(page.locator("#s-basic + dl dd, .mat-meta, #s-time + dl dd").all_inner_texts())
    for code in ("行政确认", "行政许可", "自然人", "法人", "全市", "全省", "承诺件", "即办件", "必要", "原件", "纸质",
                 "申请人自备", "工作日"):
        assert code not in coded, code
    assert not re.search(r"\b1 copies\b", coded) and re.search(r"\b1 copy\b", coded), coded
    assert re.search(r"\b(Required|Optional)\b", coded) and "working days" in coded, coded


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK])
def test_quick_words_and_the_elder_top_bar_in_english(new_page, live_server, profile, screenshot_dir):
    page = new_page(kiosk=profile)
    page.goto(live_server("/kiosk/search?lang=en&elder=1"))
    chips = page.locator("button.chip")
    expect(chips.first).to_have_text("Social insurance")
    assert not any(re.search(r"[\u4e00-\u9fff]", label) for label in chips.all_inner_texts())
    # Tapping a chip searches the (Chinese) catalogue with the word it stands for.
    page.get_by_role("button", name="Social insurance").click()
    expect(page.locator("#q")).to_have_value("社保")
    expect(page.locator("#results-box a.result").first).to_be_visible()

    # The top bar fits on one line: its parts side by side in one row, none of them wrapped
    # (a wrapped label is at least two lines of its font size tall).
    parts = page.evaluate("""() => [...document.querySelectorAll('header.topbar .brand span, header.topbar .kiosk-number, header.topbar .mode')]
        .filter(e => e.getClientRects().length).map(e => {
          const text = document.createRange(); text.selectNodeContents(e);
          const r = text.getBoundingClientRect(), box = e.getBoundingClientRect();
          return {name: e.textContent.trim(), textHeight: r.height, fontSize: parseFloat(getComputedStyle(e).fontSize),
                  middle: (box.top + box.bottom) / 2, right: box.right};
        })""")
    assert len(parts) == 4, parts
    for part in parts:
        assert part["textHeight"] < 1.9 * part["fontSize"], part
        assert part["fontSize"] >= 30, part  # still elder-mode text
    middles = [part["middle"] for part in parts]
    assert max(middles) - min(middles) <= 8, parts
    assert max(part["right"] for part in parts) <= page.viewport_size["width"], parts
    page.screenshot(path=str(screenshot_dir / f"topbar-english-elder-{profile}.png"))
