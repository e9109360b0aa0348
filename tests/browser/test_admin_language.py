"""The admin console speaks the message catalogue: Chinese by default, English on request
(?lang=en, remembered), the usage chart's words included."""
from __future__ import annotations

import re

import pytest

from .browser_support import POST_OFFICE, expect
from .test_admin import DESKTOP, _log_in

pytestmark = pytest.mark.browser

def test_the_console_switches_to_english_and_back(new_page, live_server, kiosks, admin_account):
    shared = kiosks(POST_OFFICE)
    page = new_page(DESKTOP, kiosk=None)
    _log_in(page, live_server, admin_account)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("终端总览")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiosk overview")
    menu = page.get_by_role("navigation", name="Main menu")
    for label in ("Kiosks", "Alerts", "Sites", "Usage", "Import services", "Audit log"):
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # Remembered on the next page, the chart's summary included.
    page.goto(live_server(f"/admin/kiosks/{shared.id}"))
    expect(page.get_by_role("heading", name="Remote commands")).to_be_visible()
    expect(page.get_by_label("Command")).to_contain_text("Start maintenance (pause service)")
    chart = page.locator(".chart")
    expect(chart).to_have_attribute("aria-label", re.compile(r"^Uses in the last 14 days: \d+ sessions, \d+ searches, \d+ prints$"))

    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="远程指令")).to_be_visible()
    expect(page.locator(".chart")).to_have_attribute("aria-label", re.compile(r"^近 14 天使用次数：会话 \d+，搜索 \d+，打印 \d+$"))
