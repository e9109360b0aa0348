"""When the backend cannot be reached the kiosk says so plainly and sends people to the counter
(UX.md), instead of a browser error page. kiosk.js pings /kiosk/ping every 15 s and shows
the notice after two failures in a row; the service worker serves the offline page when a
navigation fails."""
from __future__ import annotations

import re

import pytest

from .browser_support import GUIDE_CODE, PORTRAIT, LiveServer, expect

pytestmark = pytest.mark.browser

COUNTER = "请到大厅服务台办理"


def _open_paused(page, url):
    page.clock.install()
    page.goto(url)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)


def test_two_failed_pings_show_the_offline_notice_and_retry_clears_it(new_page, live_server):
    page = new_page(PORTRAIT)  # service workers blocked (the default here): page.route sees the pings
    page.route("**/kiosk/ping", lambda route: route.abort("connectionrefused"))
    _open_paused(page, live_server(f"/kiosk/items/{GUIDE_CODE}"))
    notice = page.locator("#offline-overlay")

    with page.expect_event("requestfailed", lambda r: r.url.endswith("/kiosk/ping")):
        page.clock.run_for(15_000)
    page.wait_for_timeout(100)  # let the failed fetch settle in the page
    expect(notice, "one lost ping is not an outage").to_be_hidden()

    with page.expect_event("requestfailed", lambda r: r.url.endswith("/kiosk/ping")):
        page.clock.run_for(15_000)
    expect(notice).to_be_visible()
    expect(notice).to_have_attribute("role", "alert")
    expect(notice).to_contain_text("服务暂时不可用")
    expect(notice).to_contain_text(COUNTER)

    # Back online: "重新连接" checks at once and the notice goes away.
    page.unroute("**/kiosk/ping")
    page.get_by_role("button", name="重新连接").click()
    expect(notice).to_be_hidden()


def test_a_stopped_server_shows_the_notice_and_navigation_gets_the_offline_page(new_page, kiosk_app):
    server = LiveServer(kiosk_app)
    try:
        page = new_page(PORTRAIT, service_workers="allow")
        page.clock.install()
        page.goto(server(f"/kiosk/items/{GUIDE_CODE}"))
        # The service worker (127.0.0.1 is a secure context) installs and caches the offline page.
        assert page.evaluate("window.isSecureContext")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
    finally:
        server.stop()

    ping = "fetch('/kiosk/ping', {cache: 'no-store'}).then(() => 'answered', () => 'failed')"
    assert page.evaluate(ping) == "failed", "the server still answers after stopping"

    page.clock.run_for(30_000)
    notice = page.locator("#offline-overlay")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(COUNTER)

    # Tapping 首页 cannot reach the server: the kiosk shows its own offline page, not Chrome's.
    page.evaluate("document.getElementById('offline-overlay').hidden = true")
    page.get_by_role("link", name="首页").click()
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("服务暂时不可用")
    expect(page.get_by_role("alert").first).to_contain_text(COUNTER)
    # ...styled: the stylesheet came from the service worker's cache, at the profile's font
    # scale (1.2 × 24 px on the post-office kiosk), and it still says which kiosk this is.
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "28.8px"
    expect(page.locator(".kiosk-number")).to_contain_text("终端 ")


def _serve_on(app, port: int) -> LiveServer:
    """The app on a given port again (the kiosk's origin, so its cookie and service worker
    still apply): a backend coming back after an outage."""
    return LiveServer(app, port=port)


def test_the_offline_page_keeps_the_kiosk_and_recovers_by_itself(new_page, kiosk_app, kiosks, screenshot_dir):
    """Issue 7 §2.5: the offline page says which kiosk this is, at the profile's font scale, and
    when the server answers again it returns to the page the resident was going to."""
    server = LiveServer(kiosk_app)
    port = server.port
    restarted = None
    try:
        page = new_page(PORTRAIT, service_workers="allow")
        page.clock.install()
        page.goto(server(f"/kiosk/items/{GUIDE_CODE}"))
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.reload()  # a controlled page: it checks the service worker's copy of the offline page
        page.wait_for_load_state("load")
        server.stop()

        # The resident taps a link while the backend is away: the kiosk's own offline page,
        # at the address of the page they wanted.
        page.get_by_role("link", name="人工帮助").click()
        expect(page).to_have_url(re.compile(r"/kiosk/help$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("服务暂时不可用")
        expect(page.locator(".kiosk-number")).to_have_text(f"终端 {kiosks().number}")
        assert "fs-12" in page.locator("body").get_attribute("class")
        assert page.evaluate("getComputedStyle(document.body).fontSize") == "28.8px"
        expect(page.locator("#offline-overlay")).to_be_hidden()
        page.screenshot(path=str(screenshot_dir / "offline-kiosk-number-portrait.png"))

        page.clock.run_for(12_000)  # still away: it stays, and keeps trying
        expect(page.get_by_role("heading", level=1)).to_have_text("服务暂时不可用")

        restarted = _serve_on(kiosk_app, port)
        with page.expect_navigation():
            page.clock.run_for(6_000)
        expect(page).to_have_url(re.compile(r"/kiosk/help$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("需要人工帮助")
    finally:
        server.stop()
        if restarted is not None:
            restarted.stop()


def test_the_offline_page_at_its_own_address_goes_home_when_the_server_answers(new_page, live_server):
    page = new_page(PORTRAIT)
    page.route("**/kiosk/ping", lambda route: route.abort("connectionrefused"))
    page.clock.install()
    page.goto(live_server("/kiosk/offline"))
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/kiosk/ping")):
        page.clock.run_for(5_100)
    expect(page).to_have_url(re.compile(r"/kiosk/offline$"))
    page.unroute("**/kiosk/ping")
    with page.expect_navigation(url=re.compile(r"/kiosk/$")):
        page.clock.run_for(5_100)


def test_the_end_of_a_visit_keeps_the_offline_page(new_page, kiosk_app):
    """/kiosk/reset clears the resident's choices and the HTTP cache (Clear-Site-Data: "cache"),
    not the service worker or its copy of the offline page."""
    server = LiveServer(kiosk_app)
    try:
        page = new_page(PORTRAIT, service_workers="allow")
        page.goto(server("/kiosk/search"))
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        cached = "caches.match('/kiosk/offline').then(r => !!r)"
        assert page.evaluate(cached)
        page.goto(server("/kiosk/reset"))
        expect(page).to_have_url(re.compile(r"/kiosk/$"))
        assert page.evaluate(cached)
        assert page.evaluate("navigator.serviceWorker.controller !== null")
    finally:
        server.stop()
