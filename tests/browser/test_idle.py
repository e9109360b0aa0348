"""The idle countdown (UX.md, SECURITY.md "Sessions on a shared screen"): after the idle time a
full-screen warning counts down at least 20 s with one big "继续办理" button that can be used
again and again; when it runs out the kiosk forgets the visit and goes home.

The kiosk under test has its own settings: idle after 5 s (the least kiosk.js accepts), warn
for 20 s; other kiosks take their profile's times (checked in test_screens.py).
Time is Playwright's fake clock: installed before the page loads, then paused, so every
second below is moved by the test and nothing depends on the machine's speed.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .browser_support import GUIDE_CODE, PORTRAIT, expect

pytestmark = pytest.mark.browser

IDLE_MS = 5_000
WARNING_S = 20


def _open_paused(page, url):
    """Open ``url`` with the fake clock paused; the idle timer starts exactly at the pause."""
    page.clock.install()
    page.goto(url)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)  # in the future even on a slow machine
    page.keyboard.press("Shift")  # activity: the idle timer restarts at the paused time


def test_the_countdown_appears_after_the_idle_time_and_continue_works_many_times(new_page, live_server, idle_kiosk):
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    _open_paused(page, live_server(f"/kiosk/items/{GUIDE_CODE}"))
    overlay = page.locator("#idle-overlay")
    button = page.get_by_role("button", name="继续办理")

    page.clock.run_for(IDLE_MS - 500)
    expect(overlay).to_be_hidden()
    page.clock.run_for(600)
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name("您还在吗？")
    expect(dialog).to_contain_text(f"{WARNING_S} 秒后将返回首页")
    assert int(page.locator("#idle-count").inner_text()) >= 20
    expect(button).to_be_focused()  # a keyboard or switch user lands on it

    # Full screen: it covers the whole viewport, so nothing behind it can be hit by mistake.
    box = overlay.bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, PORTRAIT["width"], PORTRAIT["height"])
    assert page.evaluate("document.elementFromPoint(540, 1850).closest('#idle-overlay') !== null")

    # The countdown ticks, and tapping elsewhere does not dismiss it: only the button does.
    page.clock.run_for(3_000)
    expect(page.locator("#idle-count")).to_have_text(str(WARNING_S - 3))
    page.mouse.click(540, 300)
    expect(overlay).to_be_visible()

    for round_ in range(12):
        button.click()
        expect(overlay).to_be_hidden()
        page.clock.run_for(IDLE_MS - 500)
        expect(overlay, f"round {round_}: warning came back too early").to_be_hidden()
        page.clock.run_for(600)
        expect(overlay, f"round {round_}: warning did not come back").to_be_visible()
        expect(page.locator("#idle-count")).to_have_text(str(WARNING_S))
    assert re.search(r"/kiosk/items/", page.url)


def test_activity_postpones_the_countdown(new_page, live_server, idle_kiosk):
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    _open_paused(page, live_server(f"/kiosk/items/{GUIDE_CODE}"))
    for _ in range(3):
        page.clock.run_for(IDLE_MS - 1_000)
        page.locator("label.check").first.click()  # a resident ticking off materials
    page.clock.run_for(IDLE_MS - 1_000)
    expect(page.locator("#idle-overlay")).to_be_hidden()
    page.clock.run_for(1_100)
    expect(page.locator("#idle-overlay")).to_be_visible()


def test_when_the_countdown_runs_out_the_kiosk_forgets_the_visit_and_goes_home(new_page, live_server, idle_kiosk):
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    _open_paused(page, live_server("/kiosk/search?q=" + quote("社保")))
    page.evaluate("sessionStorage.setItem('draft', '张三 13800138000'); localStorage.setItem('last', 'sfz')")
    page.clock.run_for(IDLE_MS + 100)
    expect(page.locator("#idle-overlay")).to_be_visible()
    page.clock.run_for((WARNING_S - 2) * 1000)
    expect(page.locator("#idle-count")).to_have_text("2")
    assert "/kiosk/search" in page.url

    with page.expect_navigation():
        page.clock.run_for(2_100)
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    expect(page.locator("#idle-overlay")).to_be_hidden()
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    # The search is not one "back" away: the countdown replaced the history entry.
    page.go_back()
    assert "/kiosk/search" not in page.url


def test_the_home_screen_does_not_count_down(new_page, live_server, idle_kiosk):
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    _open_paused(page, live_server("/kiosk/"))
    page.clock.run_for(IDLE_MS + WARNING_S * 1000 + 1_000)
    expect(page.locator("#idle-overlay")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/kiosk/$"))


def test_the_next_resident_gets_the_kiosks_language_and_text_size_back(new_page, live_server, idle_kiosk,
                                                                        screenshot_dir):
    """Issue 7 §2.2: language and 长辈版 are choices of one resident; the idle reset forgets them
    (server-side cookies and browser storage) and home comes back in the profile's defaults
    (post-office kiosk: Chinese, standard text)."""
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    page.goto(live_server("/kiosk/search"))
    page.get_by_role("link", name="长辈版").click()
    expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    names = {c["name"] for c in page.context.cookies()}
    assert {"lang", "elder"} <= names

    _open_paused(page, page.url)  # the same screen, now under the fake clock
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.evaluate("sessionStorage.setItem('lang', 'en'); localStorage.setItem('elder', '1')")
    page.clock.run_for(IDLE_MS + 100)
    expect(page.get_by_role("alertdialog")).to_have_accessible_name("Are you still there?")
    with page.expect_navigation(url=re.compile(r"/kiosk/$")):
        page.clock.run_for(WARNING_S * 1000 + 100)

    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("body")).not_to_have_class(re.compile(r"\belder\b"))
    expect(page.get_by_role("link", name="长辈版")).to_be_visible()
    expect(page.get_by_role("link", name="English")).to_be_visible()
    assert {c["name"] for c in page.context.cookies()} & {"lang", "elder"} == set()
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    page.screenshot(path=str(screenshot_dir / "idle-reset-home-portrait.png"))


def test_a_choice_made_on_the_home_screen_is_forgotten_too(new_page, live_server, idle_kiosk):
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    page.goto(live_server("/kiosk/"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    _open_paused(page, live_server("/kiosk/"))
    page.clock.run_for(IDLE_MS + 100)
    expect(page.locator("#idle-overlay")).to_be_visible()  # home counts down once a choice was made
    with page.expect_navigation(url=re.compile(r"/kiosk/$")):
        page.clock.run_for(WARNING_S * 1000 + 100)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.clock.run_for(IDLE_MS + WARNING_S * 1000)
    expect(page.locator("#idle-overlay")).to_be_hidden()  # and stops counting once it is forgotten


def test_without_a_login_the_countdown_asks_nothing_of_the_server(new_page, live_server, idle_kiosk):
    """继续办理 extends a login on the server (tests/browser/test_kiosk_session.py); a visit
    without one has nothing to extend, and its end goes to /kiosk/reset without a reason."""
    page = new_page(PORTRAIT, kiosk=idle_kiosk)
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/kiosk/session" in r.url else None)
    _open_paused(page, live_server(f"/kiosk/items/{GUIDE_CODE}"))
    for _ in range(3):
        page.clock.run_for(IDLE_MS + 100)
        page.get_by_role("button", name="继续办理").click()
    page.clock.run_for(IDLE_MS + 100)
    with page.expect_request(re.compile(r"/kiosk/reset$")):
        page.clock.run_for(WARNING_S * 1000 + 100)
    assert asked == []
