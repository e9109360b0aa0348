"""A new kiosk is enrolled at its screen: a browser without a credential is sent to the
activation screen, the installer types the enrolment code from the admin console, picks the
hardware model and presses 激活. A pre-authorized code opens the home screen at once; any
other code leaves the kiosk waiting for an administrator, and the home screen opens by
itself once one authorizes it."""
from __future__ import annotations

import re

import pytest

from .browser_support import BANK, KIOSK_COOKIE, POST_OFFICE, SITE, enrolment_code, expect

pytestmark = pytest.mark.browser

# Sites of their own, so the kiosk numbers are known whatever ran before.
READY_SITE = {**SITE, "code": "JZ03", "name": "九江十里邮政营业所", "address": "十里大道 9 号"}
WAITING_SITE = {**SITE, "code": "JZ04", "name": "九江滨江邮政营业所", "address": "滨江路 21 号"}


def _activate(page, code: str, profile: str) -> None:
    page.get_by_label("激活码").fill(code)
    page.get_by_label("设备型号").select_option(profile)
    page.get_by_role("button", name="激活").click()


def test_a_new_kiosk_is_activated_with_a_pre_authorized_code(new_page, live_server, kiosk_app):
    code = enrolment_code(kiosk_app, pre_authorized=True, site=READY_SITE)
    page = new_page(kiosk=None)
    page.goto(live_server("/kiosk/"))
    expect(page).to_have_url(re.compile(r"/kiosk/activate$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("激活本终端")

    # Typed as a person reads it off the admin screen: lower case, without the dash.
    _activate(page, code.replace("-", "").lower(), POST_OFFICE)
    expect(page).to_have_url(re.compile(r"/kiosk/$"))
    expect(page.locator(".kiosk-number")).to_have_text("终端 JZ03-01")
    expect(page.get_by_role("link", name=re.compile("查找事项"))).to_be_visible()

    # The credential is an HttpOnly cookie: page scripts cannot read it.
    cookie = next(c for c in page.context.cookies() if c["name"] == KIOSK_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert KIOSK_COOKIE not in page.evaluate("document.cookie")

    # The code was for one kiosk only: a second browser cannot use it again.
    other = new_page(kiosk=None)
    other.goto(live_server("/kiosk/activate"))
    _activate(other, code, POST_OFFICE)
    expect(other.get_by_role("alert")).to_have_text("该激活码已被使用。")


def test_without_pre_authorization_the_kiosk_waits_until_an_admin_authorizes_it(new_page, live_server, kiosk_app):
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet import services as fleet
    from kiosk_backend.fleet.models import Kiosk

    code = enrolment_code(kiosk_app, pre_authorized=False, site=WAITING_SITE)
    page = new_page(kiosk=None)
    page.clock.install()  # the waiting screen looks again every 15 s: the test moves the clock
    page.goto(live_server("/kiosk/activate"))

    _activate(page, "AAAAA-AAAAA", BANK)
    expect(page.get_by_role("alert")).to_have_text("激活码无效，请核对后重新输入。")

    _activate(page, code, BANK)
    expect(page.get_by_role("heading", level=1)).to_have_text("等待管理员授权")
    expect(page.get_by_role("status")).to_contain_text("JZ04-01")
    expect(page.get_by_role("status")).to_contain_text(WAITING_SITE["name"])
    # Nothing to use yet: other screens show the same.
    page.goto(live_server("/kiosk/search"))
    expect(page.get_by_role("heading", level=1)).to_have_text("等待管理员授权")
    page.goto(live_server("/kiosk/"))

    with kiosk_app.app_context():
        kiosk = db.session.query(Kiosk).filter_by(number="JZ04-01").one()
        fleet.authorize(db.session, kiosk, actor="test")
        db.session.commit()
        db.session.remove()
    with page.expect_navigation():
        page.clock.run_for(15_100)
    expect(page.locator("body")).to_have_class(re.compile(r"\bpage-home\b"))
    expect(page.locator(".kiosk-number")).to_have_text("终端 JZ04-01")
