"""A resident logged in at a kiosk (identity/kiosk.py, kiosk/idle.js), in real Chromium: the
top bar greets by masked name with 退出; the idle warning's 继续办理 extends the session on
the server; when the countdown runs out the server session ends (idle), the kiosk is home
and nothing of the resident is left in the page, the browser's storage or its cookies.

The session is started directly (identity.sessions.start, as the QR login's consume does) and
its token put in the kiosk browser's ``kiosk_session`` cookie; the QR flow itself has its own
two-context test. Time in the page is Playwright's fake clock (tests/browser/test_idle.py);
the server's clock is real, and its idle time (the screen's idle time + countdown + grace)
is far longer than this test takes.
"""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, COMMUNITY, GUIDE_CODE, PORTRAIT, POST_OFFICE, SCREENS, enrol, expect
from .test_accessibility import _blocking_violations
from .test_idle import IDLE_MS, WARNING_S, _open_paused

pytestmark = pytest.mark.browser

NAME, MASKED = "欧阳娜娜", "欧**娜"


@pytest.fixture
def session_kiosk(kiosk_app):
    """A kiosk of its own (a new login ends the kiosk's live session), idle after 5 s, 20 s countdown."""
    return enrol(kiosk_app, settings={"idle_timeout_seconds": 5, "idle_warning_seconds": 20})


def start_session(app, kiosk, *, name=NAME, absolute=None):
    """A resident's kiosk session on ``kiosk``; returns (session id, token)."""
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import Kiosk
    from kiosk_backend.identity import kiosk as identity_kiosk
    from kiosk_backend.identity import sessions
    from kiosk_backend.identity.models import Resident

    with app.app_context():
        resident = Resident(provider="demo", subject=f"browser-{kiosk.id}-{absolute}", name=name)
        db.session.add(resident)
        row = db.session.get(Kiosk, kiosk.id)
        idle, limit = identity_kiosk.session_limits(row)
        record, token = sessions.start(db.session, channel="kiosk", resident=resident, kiosk_id=kiosk.id,
                                       idle_seconds=idle, absolute_seconds=absolute or limit, actor=SYSTEM)
        db.session.commit()
        session_id = record.id
        db.session.remove()
    return session_id, token


def session_state(app, session_id):
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import ResidentSession

    with app.app_context():
        record = db.session.get(ResidentSession, session_id)
        state = (record.last_seen_at, record.ended_at, record.end_reason)
        db.session.remove()
    return state


def add_session_cookie(page, token):
    # As set_session_cookie sets it (a login's answer): path /kiosk, HttpOnly, SameSite=Strict.
    page.context.add_cookies([{"name": "kiosk_session", "value": token, "domain": "127.0.0.1", "path": "/kiosk",
                               "httpOnly": True, "sameSite": "Strict"}])


def assert_nothing_left(page):
    expect(page).to_have_url(re.compile(r"/kiosk/(\?signed_out=1)?$"))
    expect(page.get_by_role("status")).to_have_text("已退出登录")
    assert MASKED not in page.content() and NAME not in page.content()
    expect(page.locator(".session-bar")).to_have_count(0)
    expect(page.get_by_role("button", name="退出")).to_have_count(0)
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    names = {c["name"] for c in page.context.cookies()}
    assert "kiosk_session" not in names and "kiosk_credential" in names  # the kiosk stays enrolled


def test_a_resident_is_greeted_extends_once_then_times_out_home_with_nothing_left(
        new_page, live_server, kiosk_app, session_kiosk, screenshot_dir):
    session_id, token = start_session(kiosk_app, session_kiosk)
    page = new_page(PORTRAIT, kiosk=session_kiosk)
    add_session_cookie(page, token)
    _open_paused(page, live_server(f"/kiosk/items/{GUIDE_CODE}"))

    # Logged in: the masked name and a large 退出 in the top bar, never the full name.
    topbar = page.locator("header.topbar")
    expect(topbar).to_contain_text(f"您好，{MASKED}")
    assert page.evaluate("(el => el.scrollWidth <= el.clientWidth && el.clientWidth > 0)"
                         "(document.querySelector('.session-who'))"), "the greeting is cut off"
    logout = page.get_by_role("button", name="退出")
    expect(logout).to_be_visible()
    box = logout.bounding_box()
    assert box["width"] >= 60 and box["height"] >= 60
    assert NAME not in page.content()
    page.evaluate("sessionStorage.setItem('draft', '欧阳娜娜 13800138000'); localStorage.setItem('last', 'sfz')")
    page.screenshot(path=str(screenshot_dir / "kiosk-session-logged-in-portrait.png"))

    # The idle warning: full screen, says the login will end, one 继续办理.
    page.clock.run_for(IDLE_MS + 100)
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"{WARNING_S} 秒后将自动退出登录并返回首页")
    page.screenshot(path=str(screenshot_dir / "kiosk-session-idle-warning-portrait.png"))
    seen_before, ended, _ = session_state(kiosk_app, session_id)
    assert ended is None

    # 继续办理 once: the server hears of it and extends the session.
    with page.expect_response(lambda r: r.url.endswith("/kiosk/session/extend")) as extended:
        page.get_by_role("button", name="继续办理").click()
    assert extended.value.ok and extended.value.json()["live"] is True
    assert extended.value.headers["cache-control"] == "no-store"
    expect(page.locator("#idle-overlay")).to_be_hidden()
    seen_after, ended, _ = session_state(kiosk_app, session_id)
    assert ended is None and seen_after > seen_before

    # Then nobody: the warning again, and when it runs out the session ends on the server.
    page.clock.run_for(IDLE_MS + 100)
    expect(page.locator("#idle-overlay")).to_be_visible()
    with page.expect_navigation(url=re.compile(r"/kiosk/\?signed_out=1$")):
        page.clock.run_for(WARNING_S * 1000 + 100)
    _, ended, reason = session_state(kiosk_app, session_id)
    assert ended is not None and reason == "idle"
    assert_nothing_left(page)
    page.screenshot(path=str(screenshot_dir / "kiosk-session-ended-home-portrait.png"))
    # The guide the resident had open is not one "back" away either.
    page.go_back()
    assert "/kiosk/items/" not in page.url


def test_logout_ends_the_session_and_leaves_nothing(new_page, live_server, kiosk_app, session_kiosk):
    session_id, token = start_session(kiosk_app, session_kiosk)
    page = new_page(PORTRAIT, kiosk=session_kiosk)
    add_session_cookie(page, token)
    page.goto(live_server("/kiosk/search"))
    page.evaluate("sessionStorage.setItem('draft', 'x'); localStorage.setItem('last', 'y')")
    with page.expect_navigation(url=re.compile(r"/kiosk/\?signed_out=1$")):
        page.get_by_role("button", name="退出").click()
    _, ended, reason = session_state(kiosk_app, session_id)
    assert ended is not None and reason == "logout"
    assert_nothing_left(page)


def test_the_absolute_limit_warns_that_the_login_is_ending(new_page, live_server, kiosk_app, session_kiosk,
                                                           screenshot_dir):
    session_id, token = start_session(kiosk_app, session_kiosk, absolute=40)
    page = new_page(PORTRAIT, kiosk=session_kiosk)
    add_session_cookie(page, token)
    _open_paused(page, live_server("/kiosk/search"))
    ends_in = int(page.locator("body").get_attribute("data-session-ends-in"))
    assert 30 <= ends_in <= 40
    # Busy all along: the idle warning never comes, but the limit's countdown does.
    for _ in range(4):
        page.clock.run_for(IDLE_MS - 1_000)
        page.keyboard.press("Shift")
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name("本次登录即将结束")
    expect(dialog).to_contain_text("秒后将自动退出")
    expect(page.get_by_role("button", name="继续办理")).to_be_hidden()
    page.screenshot(path=str(screenshot_dir / "kiosk-session-limit-portrait.png"))
    with page.expect_navigation(url=re.compile(r"/kiosk/\?signed_out=1$")):
        page.clock.run_for(WARNING_S * 1000 + 1_000)
    _, ended, reason = session_state(kiosk_app, session_id)
    assert ended is not None and reason == "expired"
    assert_nothing_left(page)


def test_a_helper_logs_in_at_the_kiosk_with_the_on_screen_keyboard(new_page, live_server, kiosk_app,
                                                                   session_kiosk, screenshot_dir):
    import sqlalchemy as sa

    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.identity import services as identity
    from kiosk_backend.sites.models import Site

    with kiosk_app.app_context():
        helper = identity.create_staff(db.session, username="zhou9", password="Helper-2026", role="helper",
                                       display_name="周明明", actor=SYSTEM)
        site = db.session.scalar(sa.select(Site).where(Site.code == "JZ01"))
        identity.assign_sites(db.session, helper, [site.id], actor=SYSTEM)
        db.session.commit()
        db.session.remove()
    page = new_page(PORTRAIT, kiosk=session_kiosk)
    page.goto(live_server("/kiosk/staff-login"))
    keyboard = page.get_by_role("group", name="屏幕键盘")
    page.get_by_label("用户名").click()
    for key in "zhou9":
        keyboard.get_by_role("button", name=key, exact=True).click()
    page.get_by_label("密码").click()
    keyboard.get_by_role("button", name="大写").click()
    keyboard.get_by_role("button", name="H", exact=True).click()
    keyboard.get_by_role("button", name="大写").click()
    for key in "elper-2026":
        keyboard.get_by_role("button", name=key, exact=True).click()
    expect(page.get_by_label("用户名")).to_have_value("zhou9")
    page.screenshot(path=str(screenshot_dir / "kiosk-staff-login-portrait.png"))
    with page.expect_navigation(url=re.compile(r"/kiosk/$")):
        page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("header.topbar")).to_contain_text("帮办员 周*明")
    expect(page.get_by_role("button", name="退出")).to_be_visible()


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK, COMMUNITY])
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_logged_in_top_bar_fits_every_screen_and_is_accessible(new_page, live_server, kiosk_app, axe,
                                                                    screenshot_dir, profile, lang):
    """The greeting and 退出 whole on one line in every orientation, language and the tablet's
    elder mode (its default), 退出 a large target; the staff login screen too; no serious axe
    violations on either."""
    kiosk = enrol(kiosk_app, profile)
    _, token = start_session(kiosk_app, kiosk)
    page = new_page(SCREENS[profile], kiosk=kiosk)
    add_session_cookie(page, token)
    page.goto(live_server(f"/kiosk/search?lang={lang}"))
    who = page.locator(".session-who")
    expect(who).to_contain_text(MASKED)
    fits = """() => {
        const bar = document.querySelector('header.topbar').getBoundingClientRect();
        const who = document.querySelector('.session-who');
        const out = document.querySelector('.btn.logout').getBoundingClientRect();
        return who.scrollWidth <= who.clientWidth && out.right <= bar.right && out.height <= bar.height;
    }"""
    assert page.evaluate(fits), "the greeting or 退出 does not fit the top bar"
    lang = page.locator("html").get_attribute("lang")  # the community tablet speaks Chinese only
    button = page.get_by_role("button", name="退出" if lang == "zh-CN" else "Log out")
    box = button.bounding_box()
    elder = "elder" in (page.locator("body").get_attribute("class") or "")
    assert min(box["width"], box["height"]) >= (60 if elder else 44)
    assert not _blocking_violations(axe, page)
    page.screenshot(path=str(screenshot_dir / f"kiosk-session-topbar-{profile}-{lang}.png"))

    page.goto(live_server("/kiosk/staff-login"))
    expect(page.get_by_role("heading", name="工作人员登录" if lang == "zh-CN" else "Staff login")).to_be_visible()
    for key in page.locator("#staff-keyboard button").all()[:3]:
        kb = key.bounding_box()
        assert min(kb["width"], kb["height"]) >= (60 if elder else 44)
    assert not _blocking_violations(axe, page)
    page.screenshot(path=str(screenshot_dir / f"kiosk-staff-login-{profile}-{lang}.png"))


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK, COMMUNITY])
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_in_elder_mode_the_logged_in_top_bar_keeps_the_services_name_and_the_screen_width(
        new_page, live_server, kiosk_app, screenshot_dir, profile, lang):
    """Elder mode with a resident logged in holds the most in the top bar (name, kiosk number,
    长辈版/English, greeting, 退出): where one line cannot, the bar takes a second one instead of
    squeezing the service's name to nothing or pushing the page past the screen's edge."""
    kiosk = enrol(kiosk_app, profile)
    _, token = start_session(kiosk_app, kiosk)
    page = new_page(SCREENS[profile], kiosk=kiosk)
    add_session_cookie(page, token)
    page.goto(live_server(f"/kiosk/?elder=1&lang={lang}"))
    expect(page.locator(".session-who")).to_contain_text(MASKED)
    width = SCREENS[profile]["width"]
    measured = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        name: document.querySelector('.brand span').getBoundingClientRect().width,
        out: document.querySelector('.btn.logout').getBoundingClientRect().right,
        main: document.querySelector('main').getBoundingClientRect().height,
    })""")
    assert measured["page"] <= width, measured
    assert measured["out"] <= width, measured
    assert measured["name"] >= 120, measured  # at least a few characters of 政务服务自助终端 stay readable
    assert measured["main"] >= SCREENS[profile]["height"] * 0.45, measured  # the screen keeps its room
    page.screenshot(path=str(screenshot_dir / f"kiosk-session-topbar-elder-{profile}-{lang}.png"))


@pytest.mark.parametrize("logged_in", [True, False])
def test_the_heartbeat_reports_a_login_on_the_home_screen_as_in_use(new_page, live_server, kiosk_app,
                                                                       session_kiosk, logged_in):
    """The console's "有居民正在使用" comes from the heartbeat's session_active: a resident who
    is logged in and back on the home screen is still using the kiosk; an empty home is not."""
    page = new_page(PORTRAIT, kiosk=session_kiosk)
    if logged_in:
        add_session_cookie(page, start_session(kiosk_app, session_kiosk)[1])
    with page.expect_request(lambda request: request.url.endswith("/api/v1/kiosk/heartbeat")) as beat:
        page.goto(live_server("/kiosk/"))
    assert beat.value.post_data_json["session_active"] is logged_in
