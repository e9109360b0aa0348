"""A resident at the kiosk: find a service without typing, read the guide, print it."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, POST_OFFICE, STUB_PRINT, enrol, expect

pytestmark = pytest.mark.browser


def test_a_resident_finds_a_service_by_chip_reads_the_guide_and_prints_it(new_page, live_server):
    page = new_page(kiosk=POST_OFFICE)
    page.add_init_script(STUB_PRINT)
    page.goto(live_server("/kiosk/"))

    page.get_by_role("link", name=re.compile("查找事项")).click()
    expect(page).to_have_url(re.compile(r"/kiosk/search$"))
    results = page.locator("#results-box a.result")
    expect(results).to_have_count(0)

    # Tapping a chip fills the box and the results arrive without pressing "搜索".
    page.get_by_role("button", name="社保", exact=True).click()
    expect(page.locator("#q")).to_have_value("社保")
    expect(results.first).to_be_visible()
    expect(page.locator("#search-status")).to_contain_text(re.compile(r"找到 \d+ 个事项"))
    names = results.locator(".result-name").all_inner_texts()
    assert any("社会保" in name for name in names), names  # 社保 understood as 社会保险/保障
    expect(page).to_have_url(re.compile(r"/kiosk/search\?q=%E7%A4%BE%E4%BF%9D$"))  # survives a reload

    first_name = names[0]
    results.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(first_name)
    expect(page.get_by_role("heading", level=2, name="申请材料")).to_be_visible()

    # The materials checklist: a tap ticks, a second tap unticks; each box is named by its material.
    boxes = page.get_by_role("checkbox")
    assert boxes.count() >= 1
    first_box = boxes.first
    label = page.locator("label.check").first
    expect(first_box).to_have_accessible_name(re.compile(re.escape(label.locator(".mat-name").inner_text())))
    expect(first_box).not_to_be_checked()
    label.click()
    expect(first_box).to_be_checked()
    label.click()
    expect(first_box).not_to_be_checked()

    # Printing: the thermal printout is rendered by the server at the printer's 576 dots.
    page.get_by_role("link", name="打印办事指南").click()
    expect(page).to_have_url(re.compile(r"/print\?paper=thermal80$"))
    printout = page.locator("img#printout")
    page.wait_for_function("() => { const i = document.getElementById('printout'); return i.complete && i.naturalWidth > 0; }")
    assert printout.evaluate("img => img.naturalWidth") == 576
    page.wait_for_function("() => window.__prints >= 1")
    page.get_by_role("button", name="再打印一次").click()
    page.wait_for_function("() => window.__prints >= 2")

    page.get_by_role("link", name="返回指南").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(first_name)


def test_the_bank_kiosk_prints_on_a4_a_page_wide_image(new_page, live_server):
    page = new_page(kiosk=BANK)  # the bank lobby profile has an A4 printer
    page.add_init_script(STUB_PRINT)
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}"))
    page.get_by_role("link", name="打印办事指南").click()
    expect(page).to_have_url(re.compile(r"/print\?paper=a4$"))
    page.wait_for_function("() => { const i = document.getElementById('printout'); return i.complete && i.naturalWidth > 0; }")
    width, height = page.locator("#printout").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 576 and height > width, (width, height)  # portrait A4, wider than the thermal roll
    page.wait_for_function("() => window.__prints >= 1")


def test_pinyin_initials_on_the_on_screen_keyboard_find_the_identity_card(new_page, live_server):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/search"))
    for letter in "SFZ":
        page.get_by_role("button", name=letter, exact=True).click()
    expect(page.locator("#q")).to_have_value("sfz")
    result = page.locator("#results-box a.result", has_text="身份证").first
    expect(result).to_be_visible()

    # 删除 takes back one letter, 清空 empties the box and the results.
    page.get_by_role("button", name="删除", exact=True).click()
    expect(page.locator("#q")).to_have_value("sf")
    page.get_by_role("button", name="清空", exact=True).click()
    expect(page.locator("#q")).to_have_value("")
    expect(page.locator("#results-box a.result")).to_have_count(0)


def test_results_follow_each_key_as_it_is_typed(new_page, live_server):
    page = new_page(kiosk=BANK)
    page.goto(live_server("/kiosk/search"))
    status = page.locator("#search-status")
    page.get_by_role("button", name="H", exact=True).click()
    expect(page.locator("#results-box a.result").first).to_be_visible()
    first_status = status.inner_text()
    for letter in "YDJ":  # hydj: 婚姻登记
        page.get_by_role("button", name=letter, exact=True).click()
    expect(page.locator("#q")).to_have_value("hydj")
    expect(page.locator("#results-box a.result", has_text="婚").first).to_be_visible()
    expect(status).not_to_have_text(first_status)


def test_a_search_without_results_says_so_once_and_offers_popular_services_under_a_heading(new_page, live_server,
                                                                                          screenshot_dir):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/search?q=" + "火星探险"))
    expect(page.get_by_role("heading", name="没有找到相关事项")).to_be_visible()
    expect(page.get_by_text("没有找到相关事项")).to_have_count(1)  # not again in the status line
    popular = page.get_by_role("region", name="大家常办")
    expect(popular.get_by_role("heading", level=2)).to_have_text("大家常办")
    expect(popular.locator("#popular-results a.result").first).to_be_visible()
    # One way to a person: the bottom bar's, on every screen.
    expect(page.get_by_role("link", name="人工帮助")).to_have_count(1)
    expect(page.locator("nav.bottombar").get_by_role("link", name="人工帮助")).to_be_visible()

    # Typed the same way (search as you type), the answer is the same.
    page.goto(live_server("/kiosk/search"))
    page.locator("#q").fill("火星探险")
    page.locator("#q").dispatch_event("input")
    expect(page.get_by_role("heading", name="没有找到相关事项")).to_be_visible()
    expect(page.get_by_text("没有找到相关事项")).to_have_count(1)
    expect(page.get_by_role("link", name="人工帮助")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "search-none-tidy-portrait.png"))


@pytest.mark.parametrize("query", ["??", "。", "%", "_"])
def test_punctuation_alone_finds_nothing_and_lists_nothing(new_page, live_server, query):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/search"))
    page.get_by_role("button", name="社保", exact=True).click()
    expect(page.locator("#results-box a.result").first).to_be_visible()
    page.locator("#q").fill(query)
    page.locator("#q").dispatch_event("input")
    expect(page.locator("#results-box a.result")).to_have_count(0)
    expect(page.locator("#search-status")).to_have_text("")
    page.goto(live_server("/kiosk/search?q=" + quote(query)))  # and without JavaScript's help
    expect(page.locator("#results-box a.result")).to_have_count(0)
    expect(page.get_by_role("heading", name="没有找到相关事项")).to_have_count(0)


def test_home_offers_topic_tiles_and_popular_services(new_page, live_server):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/"))
    for name in ("查找事项", "按主题找", "一件事一次办", "按部门找"):
        expect(page.get_by_role("link", name=re.compile(name))).to_be_visible()
    chips = page.locator(".popular a.chip")
    expect(chips.first).to_be_visible()
    name = chips.first.inner_text()
    chips.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    page.get_by_role("link", name="首页").click()
    expect(page).to_have_url(re.compile(r"/kiosk/$"))


def test_browsing_by_topic_department_and_life_event_reaches_a_guide_and_back(new_page, live_server):
    page = new_page(kiosk=BANK)
    for tile in ("按主题找", "按部门找", "一件事一次办"):
        page.goto(live_server("/kiosk/"))
        page.get_by_role("link", name=re.compile(tile)).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(tile)
        list_url = page.url
        page.locator("a.tile").first.click()
        result = page.locator("a.result").first
        expect(result).to_be_visible()
        name = result.locator(".result-name").inner_text()
        listing_url = page.url
        result.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        # 返回 on the listing leads back to the list of topics / departments / life events.
        page.goto(listing_url)
        page.locator("nav.bottombar").get_by_role("link", name="返回").click()
        expect(page).to_have_url(list_url)


def _printout_loaded(page):
    page.wait_for_function("() => { const i = document.getElementById('printout'); return i.complete && i.naturalWidth > 0; }")


def test_a_double_tap_on_print_again_prints_once(new_page, live_server, kiosk_app, screenshot_dir):
    """Issue 7 §2.8: the button is off while a print is under way and until the server would
    accept another one; the screen says "printing" only once the print job was accepted."""
    page = new_page(kiosk=enrol(kiosk_app, POST_OFFICE))  # its own kiosk: the print guard counts per kiosk
    page.add_init_script(STUB_PRINT)
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}/print?paper=thermal80"))
    _printout_loaded(page)
    status = page.locator("#print-status")
    expect(status).to_have_attribute("data-state", "printing")
    expect(page.get_by_role("heading", level=1)).to_have_text("正在打印")
    assert page.evaluate("window.__prints") == 1
    again = page.get_by_role("button", name="再打印一次")
    expect(again).to_be_disabled()  # right after a print, a tap cannot print again

    expect(again).to_be_enabled()
    again.dblclick()
    page.wait_for_function("() => window.__prints >= 2")
    expect(again).to_be_disabled()
    expect(again).to_be_enabled()  # the guard is over: any second print would have happened by now
    assert page.evaluate("window.__prints") == 2
    page.screenshot(path=str(screenshot_dir / "print-printing-portrait.png"))


def test_a_second_print_screen_at_once_is_refused_by_the_server(new_page, live_server, kiosk_app):
    kiosk = enrol(kiosk_app, POST_OFFICE)
    first = new_page(kiosk=kiosk)
    first.add_init_script(STUB_PRINT)
    first.goto(live_server(f"/kiosk/items/{GUIDE_CODE}/print?paper=thermal80"))
    first.wait_for_function("() => window.__prints === 1")
    # A double tap on 打印办事指南 opens the print screen twice: the second prints nothing.
    second = first.context.new_page()
    second.add_init_script(STUB_PRINT)
    second.goto(live_server(f"/kiosk/items/{GUIDE_CODE}/print?paper=thermal80"))
    expect(second.locator("#print-status")).to_have_attribute("data-state", "duplicate")
    expect(second.get_by_role("heading", level=1)).to_have_text("刚刚已经打印过了")
    assert second.evaluate("window.__prints") == 0


def test_a_print_that_cannot_be_sent_says_so_and_offers_the_qr_code(new_page, live_server, kiosk_app, screenshot_dir):
    page = new_page(kiosk=enrol(kiosk_app, POST_OFFICE))
    page.add_init_script(STUB_PRINT)
    page.route("**/print?paper=thermal80", lambda route: route.abort("connectionrefused")
               if route.request.method == "POST" else route.continue_())
    page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}/print?paper=thermal80"))
    _printout_loaded(page)
    expect(page.locator("#print-status")).to_have_attribute("data-state", "failed")
    expect(page.get_by_role("heading", level=1)).to_have_text("没能打印")
    expect(page.get_by_text("正在打印")).to_have_count(0)
    expect(page.get_by_role("img", name="手机扫码带走指南")).to_be_visible()
    assert page.evaluate("window.__prints") == 0
    page.screenshot(path=str(screenshot_dir / "print-failed-portrait.png"))


def test_the_tablet_without_a_printer_offers_the_qr_code_instead(new_page, live_server, screenshot_dir):
    page = new_page(kiosk=COMMUNITY)
    page.add_init_script(STUB_PRINT)
    response = page.goto(live_server(f"/kiosk/items/{GUIDE_CODE}/print"))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("本机不能打印，请扫码带走")
    qr = page.locator("figure.to-phone img")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth") == 360
    expect(page.locator("nav.bottombar").get_by_role("link", name="首页")).to_be_visible()  # the kiosk's frame
    assert page.evaluate("window.__prints") == 0
    page.screenshot(path=str(screenshot_dir / "print-no-printer-tablet.png"))


def test_keys_and_quick_words_are_usable_only_once_the_keyboard_is_wired(new_page, live_server):
    """Served disabled, enabled by kiosk/keyboard.js: a tap during page load is refused visibly
    (and Playwright's click waits for it) instead of doing nothing."""
    page = new_page(kiosk=POST_OFFICE)
    page.route("**/static/js/kiosk/main.js", lambda route: route.abort())  # the modules never run
    page.goto(live_server("/kiosk/search"))
    expect(page.get_by_role("button", name="社保", exact=True)).to_be_disabled()
    expect(page.locator("#keyboard button[data-key='s']")).to_be_disabled()
    page.unroute("**/static/js/kiosk/main.js")
    page.reload()
    expect(page.get_by_role("button", name="社保", exact=True)).to_be_enabled()
    expect(page.locator("#keyboard button[data-key='s']")).to_be_enabled()
