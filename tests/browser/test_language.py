"""Chinese by default, English on request; the choice sticks for the rest of the visit, and
elder mode likewise."""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, GUIDE_CODE, expect

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
    for label in ("Back", "Home", "Ask a person"):
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
