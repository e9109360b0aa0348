"""QR login in real Chromium with two browser contexts, a kiosk and a phone: the kiosk's home
offers 扫码登录, its login screen shows the QR code, the match code and a countdown; the
phone opens the code's URL, logs in with the demo identity provider, sees the kiosk and the
same match code, confirms; the kiosk (polling) shows the logged-in screen. Also: 不是我 on the
phone makes the kiosk show a new code, and the login screen fits each profile's screen.
Screenshots under test-artifacts/screenshots (the session's screenshot_dir).
"""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from .browser_support import BANK, COMMUNITY, POST_OFFICE, SCREENS, SITE, enrol, expect, wait_ready

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def qr_kiosk(kiosk_app):
    """A kiosk of its own: a login ends the kiosk's live session, so tests do not share one."""
    return enrol(kiosk_app)


def open_login_screen(page, live_server):
    page.goto(live_server("/kiosk/"))
    page.locator("#qr-login-entry").click()
    expect(page).to_have_url(re.compile(r"/kiosk/login$"))
    code = page.locator("#qr-login-code")
    expect(code).to_be_visible()
    assert page.evaluate("() => document.getElementById('qr-login-code').naturalWidth") >= 300  # a real picture
    return code.get_attribute("data-phone-url"), page.locator("#qr-match").inner_text().strip()


def phone_logs_in_and_opens(phone, url):
    """The phone opens the QR's URL: the phone login first (demo provider), then back to the code."""
    phone.goto(url)
    expect(phone).to_have_url(re.compile(r"/m/login\?next="))
    phone.locator("button.resident").first.click()
    expect(phone).to_have_url(url)


def test_phone_confirms_and_the_kiosk_shows_the_logged_in_screen(new_page, live_server, qr_kiosk, screenshot_dir):
    kiosk = new_page(kiosk=qr_kiosk)
    url, match = open_login_screen(kiosk, live_server)
    assert url.startswith(live_server("/m/login/")) and re.fullmatch(r"\d{3}", match)
    expect(kiosk.locator("#qr-countdown")).to_contain_text("秒后更换二维码")
    kiosk.screenshot(path=str(screenshot_dir / "qr-login-kiosk-portrait.png"))

    phone = new_page(PHONE, kiosk=None)
    phone_logs_in_and_opens(phone, url)
    expect(phone.locator(".qr-site")).to_have_text(SITE["name"])
    expect(phone.locator(".qr-kiosk")).to_have_text(qr_kiosk.number)
    expect(phone.locator("#qr-match")).to_have_text(match)
    confirm, deny = phone.locator("#qr-confirm"), phone.locator("#qr-deny")
    expect(confirm).to_have_text("确认登录")
    expect(deny).to_have_text("不是我 / 我不在这台机器前")
    sizes = [button.bounding_box() for button in (confirm, deny)]
    assert sizes[0]["width"] == sizes[1]["width"] and sizes[0]["height"] == sizes[1]["height"]  # equally large
    phone.screenshot(path=str(screenshot_dir / "qr-login-phone-confirm.png"))
    # The kiosk saw the scan.
    expect(kiosk.locator("#qr-status")).to_have_text("已扫码，请在手机上确认登录")

    confirm.click()
    expect(phone.locator("#qr-done")).to_have_attribute("data-outcome", "confirmed")
    # The kiosk's next poll logs it in and goes to the logged-in home.
    expect(kiosk).to_have_url(live_server("/kiosk/"))
    expect(kiosk.locator(".session-bar")).to_be_visible()
    expect(kiosk.locator("#qr-login-entry")).to_have_count(0)  # logged in: no 扫码登录 on home
    kiosk.screenshot(path=str(screenshot_dir / "qr-login-kiosk-logged-in.png"))
    cookies = {c["name"]: c for c in kiosk.context.cookies()}
    assert cookies["kiosk_session"]["httpOnly"] and cookies["kiosk_session"]["sameSite"] == "Strict"


def test_not_me_on_the_phone_makes_the_kiosk_show_a_new_code(new_page, live_server, qr_kiosk):
    kiosk = new_page(kiosk=qr_kiosk)
    url, _ = open_login_screen(kiosk, live_server)
    phone = new_page(PHONE, kiosk=None)
    phone_logs_in_and_opens(phone, url)
    phone.locator("#qr-deny").click()
    expect(phone.locator("#qr-done")).to_have_attribute("data-outcome", "denied")
    expect(kiosk.locator("#qr-status")).to_have_text("已取消登录，即将更换二维码")
    # A new code (another URL) replaces it; the kiosk stays logged out.
    expect(kiosk.locator("#qr-login-code")).not_to_have_attribute("data-phone-url", url, timeout=10_000)
    assert "kiosk_session" not in {c["name"] for c in kiosk.context.cookies()}
    # The old code on the phone is now a plain page saying what to do.
    phone.goto(url)
    expect(phone.locator("#qr-gone")).to_have_attribute("data-reason", "denied")


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK, COMMUNITY])
def test_the_entry_and_the_login_screen_fit_each_profile(new_page, live_server, kiosk_app, profile, screenshot_dir):
    page = new_page(kiosk=enrol(kiosk_app, profile))
    width = SCREENS[profile]["width"]
    page.goto(live_server("/kiosk/"))
    entry = page.locator("#qr-login-entry").bounding_box()
    assert entry["x"] >= 0 and entry["x"] + entry["width"] <= width and entry["height"] >= 64  # a large target
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # no sideways scrolling
    page.screenshot(path=str(screenshot_dir / f"qr-login-home-{profile}.png"))
    open_login_screen(page, live_server)
    bottom = page.locator("nav.bottombar").bounding_box()["y"]  # 返回 / 首页 / 人工帮助, always on top
    for element in ("#qr-login-code", "#qr-match", "#qr-countdown"):
        box = page.locator(element).bounding_box()
        assert box["y"] + box["height"] <= bottom and box["x"] + box["width"] <= width, element  # all in sight
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(screenshot_dir / f"qr-login-screen-{profile}.png"))


def test_the_screen_shows_a_new_code_before_the_old_one_expires(new_page, live_server, kiosk_app, qr_kiosk):
    """Time in the page is Playwright's fake clock: after 105 s of the code's 120 the screen
    fetches a new one (another URL, another challenge); the old one has expired on the server."""
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import LoginChallenge

    kiosk = new_page(kiosk=qr_kiosk)
    kiosk.clock.install()
    kiosk.goto(live_server("/kiosk/login"))
    first = kiosk.locator("#qr-login-code").get_attribute("data-phone-url")
    expect(kiosk.locator("#qr-countdown")).to_have_text("105 秒后更换二维码")
    kiosk.clock.run_for(60_000)
    expect(kiosk.locator("#qr-countdown")).to_have_text("45 秒后更换二维码")
    kiosk.clock.run_for(46_000)
    expect(kiosk.locator("#qr-login-code")).not_to_have_attribute("data-phone-url", first)
    with kiosk_app.app_context():
        states = db.session.scalars(sa.select(LoginChallenge.state).where(LoginChallenge.kiosk_id == qr_kiosk.id)
                                    .order_by(LoginChallenge.id)).all()
        db.session.remove()
    assert states == ["expired", "pending"]


def test_a_qr_login_extended_once_then_left_idle_ends_with_nothing_of_the_resident_left(
        new_page, live_server, kiosk_app, screenshot_dir):
    """The whole visit, in two contexts: the kiosk shows the code, the phone confirms, the kiosk
    greets the resident; the idle warning comes, 继续办理 once, then nobody: the session ends
    on the server (idle) and the kiosk is home with nothing of the resident in the page, its
    storage or its cookies. The kiosk's page runs on Playwright's fake clock (flowing normally
    until the test moves it on); the kiosk's idle time is 5 s with a 20 s countdown."""
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import ResidentSession

    from .test_idle import IDLE_MS, WARNING_S

    idle_kiosk = enrol(kiosk_app, settings={"idle_timeout_seconds": IDLE_MS // 1000, "idle_warning_seconds": WARNING_S})
    kiosk = new_page(kiosk=idle_kiosk)
    kiosk.clock.install()
    url, _ = open_login_screen(kiosk, live_server)
    phone = new_page(PHONE, kiosk=None)
    phone_logs_in_and_opens(phone, url)
    phone.locator("#qr-confirm").click()
    expect(kiosk).to_have_url(live_server("/kiosk/"))
    wait_ready(kiosk)  # the idle timer is armed before the clock is moved
    greeting = kiosk.locator(".session-who")
    expect(greeting).to_contain_text("您好，")
    masked = greeting.inner_text().split("，", 1)[1].strip()
    assert "*" in masked  # the masked name, never the full one
    kiosk.evaluate("sessionStorage.setItem('draft', 'x'); localStorage.setItem('last', 'y')")

    def session_row():
        with kiosk_app.app_context():
            row = db.session.scalar(sa.select(ResidentSession).where(ResidentSession.kiosk_id == idle_kiosk.id))
            state = (row.last_seen_at, row.ended_at, row.end_reason)
            db.session.remove()
        return state

    kiosk.clock.pause_at(kiosk.evaluate("Date.now()") / 1000 + 1)
    kiosk.keyboard.press("Shift")  # activity: the idle timer starts at the paused time
    kiosk.clock.run_for(IDLE_MS + 100)
    expect(kiosk.get_by_role("alertdialog")).to_be_visible()
    seen_before, ended, _ = session_row()
    with kiosk.expect_response(lambda r: r.url.endswith("/kiosk/session/extend")) as extended:
        kiosk.get_by_role("button", name="继续办理").click()
    assert extended.value.json()["live"] is True
    seen_after, ended, _ = session_row()
    assert ended is None and seen_after > seen_before

    kiosk.clock.run_for(IDLE_MS + 100)
    expect(kiosk.locator("#idle-overlay")).to_be_visible()
    with kiosk.expect_navigation(url=re.compile(r"/kiosk/\?signed_out=1$")):
        kiosk.clock.run_for(WARNING_S * 1000 + 100)
    _, ended, reason = session_row()
    assert ended is not None and reason == "idle"
    assert masked not in kiosk.content()
    expect(kiosk.locator(".session-bar")).to_have_count(0)
    assert kiosk.evaluate("sessionStorage.length + localStorage.length") == 0
    names = {c["name"] for c in kiosk.context.cookies()}
    assert "kiosk_session" not in names and "kiosk_credential" in names
    kiosk.screenshot(path=str(screenshot_dir / "qr-login-kiosk-after-idle-end.png"))
