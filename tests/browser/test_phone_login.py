"""The phone's login page in Chromium at a phone's size: the demo provider's residents as big
touch targets, login greets by masked name, 退出登录 ends the session and leaves no cookie;
no serious accessibility violations. Screenshots under test-artifacts/screenshots."""
from __future__ import annotations

import pytest

from .browser_support import expect
from .test_accessibility import _blocking_violations

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def test_a_phone_logs_in_with_a_demo_resident_and_out_again(new_page, live_server, axe, screenshot_dir):
    phone = new_page(PHONE, kiosk=None)
    phone.goto(live_server("/m/login"))
    residents = phone.locator("button.resident")
    assert residents.count() == 5
    for index in range(residents.count()):
        box = residents.nth(index).bounding_box()
        assert box["height"] >= 48 and box["width"] >= PHONE["width"] * 0.8, box  # one column, big targets
    assert not _blocking_violations(axe, phone)
    phone.screenshot(path=str(screenshot_dir / "phone-login-demo.png"), full_page=True)

    phone.locator("button.resident", has_text="欧阳娜娜").click()
    expect(phone.locator(".signed-in")).to_have_text("已登录：欧**娜")
    assert "欧阳娜娜" not in phone.content()
    assert [c["name"] for c in phone.context.cookies()] == ["resident_session"]
    assert not _blocking_violations(axe, phone)
    phone.screenshot(path=str(screenshot_dir / "phone-login-signed-in.png"), full_page=True)

    phone.locator(".login button", has_text="退出登录").click()
    expect(phone.locator("button.resident")).to_have_count(5)
    assert phone.context.cookies() == []
