"""办件进度 at the kiosk in real Chromium (applications/kiosk.py, kiosk/progress.js): a resident
looks an application up by its number and the last 4 characters of the ID number on the
on-screen keyboard, reads the result, switches to elder mode without losing it and prints the
receipt; a wrong answer gets the one not-found screen; a resident logged in at the kiosk sees
我的办件 and prints a receipt of their own; the screens fit each profile and pass axe-core.
Nothing of the application is left in the browser's storage. Screenshots under
test-artifacts/screenshots/progress-*.png.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from .browser_support import BANK, COMMUNITY, POST_OFFICE, SCREENS, STUB_PRINT, enrol, expect
from .test_accessibility import _blocking_violations
from .test_kiosk_session import add_session_cookie, start_session

pytestmark = pytest.mark.browser

# A demo resident (identity/data/demo_residents.json, demo-3 欧阳娜娜) and the applications the
# tests look up: the first is hers, the second someone else's.
RESIDENT_ID, RESIDENT_PHONE, RESIDENT_NAME = "110105200002290160", "13800000003", "欧阳娜娜"
OTHER_ID, OTHER_PHONE = "360403198503150123", "13800000001"
NUMBER = "JX2026A00017"
OWN_OLDER = "JX2026A00009"
OTHERS = "GD2026B00002"


@pytest.fixture(scope="module")
def applications(kiosk_app):
    """Three applications on the live server's database (made once for the module)."""
    from kiosk_backend.applications import services
    from kiosk_backend.core.workdays import Calendar
    from kiosk_backend.extensions import db

    def make(number, *, id_number, phone, item, received, mode="local", handling=("九江市公安局", "360400"),
             steps=()):
        data = services.NewApplication(
            number=number, task_code="DEMO-ITEM", item_name=item, mode=mode,
            applicant=services.Applicant(name=RESIDENT_NAME if id_number == RESIDENT_ID else "张三",
                                         id_number=id_number, phone=phone),
            receiving_org="九江市政务服务中心", receiving_region="360400", handling_org=handling[0],
            handling_region=handling[1], received_at=received, promise_days=20, promise_unit="工作日")
        services.create_application(db.session, data, actor="system", actor_name="九江市政务服务中心")
        for day, (action, details) in enumerate(steps, start=1):
            services.apply_event(db.session, number,
                                 services.NewEvent(action=action, occurred_at=received + timedelta(days=day), **details),
                                 actor="system", actor_name=handling[0], calendar=Calendar.shipped())

    now = datetime.now(UTC).replace(microsecond=0)
    with kiosk_app.app_context():
        make(NUMBER, id_number=RESIDENT_ID, phone=RESIDENT_PHONE, item="居民身份证换领", received=now - timedelta(days=4),
             mode="proxy", handling=("广州市公安局", "440100"),
             steps=[("accept", {}), ("request_supplement", {"missing": ("户口簿原件", "近期免冠照片")})])
        make(OWN_OLDER, id_number=RESIDENT_ID, phone=RESIDENT_PHONE, item="户口迁移", received=now - timedelta(days=30),
             steps=[("accept", {}), ("start", {}), ("conclude", {"outcome": "approved"})])
        make(OTHERS, id_number=OTHER_ID, phone=OTHER_PHONE, item="结婚登记", received=now - timedelta(days=2))
        db.session.commit()
        db.session.remove()
    return {"number": NUMBER, "older": OWN_OLDER, "others": OTHERS}


def resident_session(app, kiosk):
    """A session of the demo resident (with her ID number) on ``kiosk``; returns its token."""
    from kiosk_backend.extensions import db
    from kiosk_backend.identity import residents
    from kiosk_backend.identity.models import Resident

    _, token = start_session(app, kiosk, name=RESIDENT_NAME)
    with app.app_context():
        resident = db.session.scalars(db.select(Resident).where(Resident.subject == f"browser-{kiosk.id}-None")).one()
        resident.id_number_hash = residents.keyed_hash("id", RESIDENT_ID)
        resident.id_number_masked = residents.mask_id_number(RESIDENT_ID)
        db.session.commit()
        db.session.remove()
    return token


def tap(page, text: str) -> None:
    keys = page.locator("#progress-keyboard")
    for ch in text:
        keys.get_by_role("button", name=ch, exact=True).click()


def storage_is_empty(page) -> bool:
    return page.evaluate("sessionStorage.length + localStorage.length") == 0


def printout_loaded(page) -> None:
    expect(page.locator("#printout")).to_be_attached()
    page.wait_for_function("() => { const i = document.getElementById('printout'); return i && i.complete && i.naturalWidth > 0; }")


def test_a_resident_looks_an_application_up_on_the_keyboard_and_prints_the_receipt(
        new_page, live_server, kiosk_app, applications, screenshot_dir):
    page = new_page(kiosk=enrol(kiosk_app, POST_OFFICE))  # its own kiosk: the print guard counts per kiosk
    page.add_init_script(STUB_PRINT)
    page.goto(live_server("/kiosk/"))
    page.get_by_role("link", name=re.compile("办件进度")).click()
    expect(page).to_have_url(live_server("/kiosk/progress"))
    number, tail = page.get_by_label("办件编号", exact=True), page.get_by_label("身份证号或手机号后 4 位", exact=True)
    expect(number).to_have_class(re.compile(r"\bis-target\b"))  # the keys type into the number first

    tap(page, NUMBER + "9")
    page.locator("#progress-keyboard").get_by_role("button", name="删除").click()
    expect(number).to_have_value(NUMBER)
    tail.click()
    expect(tail).to_have_class(re.compile(r"\bis-target\b"))
    # Only digits and X fit the last 4 characters: the other letters are off.
    expect(page.locator("#progress-keyboard").get_by_role("button", name="A", exact=True)).to_be_disabled()
    expect(page.locator("#progress-keyboard").get_by_role("button", name="X", exact=True)).to_be_enabled()
    tap(page, "01605")
    expect(tail).to_have_value("0160")  # four at most
    page.screenshot(path=str(screenshot_dir / "progress-lookup-portrait.png"))
    page.get_by_role("button", name="查询", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("居民身份证换领")
    expect(page.locator("#progress-state")).to_have_text("⚠ 待补正")
    expect(page.locator("#progress-deadline")).to_have_text("计时暂停")
    expect(page.locator("#progress-missing li")).to_have_text(["户口簿原件", "近期免冠照片"])
    expect(page.locator("#progress-cross")).to_have_text("跨省通办")
    expect(page.locator("#progress-applicant")).to_have_text("欧**娜 1101**********0160")
    expect(page.locator("#progress-timeline .timeline-what")).to_have_text(["一次性告知补正材料", "受理", "接件"])
    assert RESIDENT_ID not in page.content() and RESIDENT_NAME not in page.content()
    assert storage_is_empty(page)
    page.screenshot(path=str(screenshot_dir / "progress-result-portrait.png"), full_page=True)

    # 长辈版 on the result: the same result, larger, not the empty form.
    page.locator("nav.modes").get_by_role("link", name="长辈版").click()
    expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
    expect(page.get_by_role("heading", level=1)).to_have_text("居民身份证换领")
    page.screenshot(path=str(screenshot_dir / "progress-result-portrait-elder.png"))

    page.get_by_role("link", name="打印回执").click()
    expect(page).to_have_url(re.compile(r"/kiosk/progress/receipt\?t=[^&]+&paper=thermal80$"))
    printout_loaded(page)
    assert page.locator("#printout").evaluate("img => img.naturalWidth") == 576
    page.wait_for_function("() => window.__prints >= 1")
    expect(page.locator("#print-status")).to_have_attribute("data-state", "printing")
    page.screenshot(path=str(screenshot_dir / "progress-print-portrait.png"))

    # 返回 shows the result again (posting its view token), not a page from history.
    page.locator("nav.bottombar").get_by_role("button", name="返回").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("居民身份证换领")
    page.locator("nav.bottombar").get_by_role("link", name="返回").click()
    expect(page).to_have_url(live_server("/kiosk/progress"))
    expect(page.get_by_label("办件编号", exact=True)).to_have_value("")
    assert storage_is_empty(page)


def test_a_wrong_last_4_gets_the_one_not_found_answer(new_page, live_server, applications, screenshot_dir):
    page = new_page(kiosk=POST_OFFICE)
    page.goto(live_server("/kiosk/progress"))
    tap(page, NUMBER)
    page.get_by_label("身份证号或手机号后 4 位", exact=True).click()
    tap(page, "1234")
    page.get_by_role("button", name="查询", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(re.compile("没有找到与该编号和验证信息相符的办件"))
    expect(page.get_by_label("办件编号", exact=True)).to_have_value(NUMBER)  # no need to type it all again
    expect(page.get_by_label("身份证号或手机号后 4 位", exact=True)).to_have_value("")
    expect(page.get_by_label("身份证号或手机号后 4 位", exact=True)).to_have_class(re.compile(r"\bis-target\b"))
    assert "居民身份证换领" not in page.content()
    page.screenshot(path=str(screenshot_dir / "progress-not-found-portrait.png"))


def test_a_logged_in_resident_sees_my_applications_and_prints_one(new_page, live_server, kiosk_app, applications,
                                                                  screenshot_dir):
    kiosk = enrol(kiosk_app, BANK)
    page = new_page(kiosk=kiosk)
    page.add_init_script(STUB_PRINT)
    add_session_cookie(page, resident_session(kiosk_app, kiosk))
    page.goto(live_server("/kiosk/"))
    expect(page.locator(".session-who")).to_have_text("您好，欧**娜")
    page.get_by_role("link", name=re.compile("办件进度")).click()

    mine = page.get_by_role("region", name="我的办件")
    cards = mine.locator("a.progress-card")
    expect(cards).to_have_count(2)  # hers, newest first; not the other resident's
    expect(cards.locator(".progress-card-name")).to_have_text(["居民身份证换领", "户口迁移"])
    expect(cards.nth(0)).to_contain_text("待补正")
    expect(cards.nth(1)).to_contain_text("已办结")
    assert "结婚登记" not in page.content()
    expect(page.get_by_role("heading", name="查询其他办件")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "progress-mine-landscape.png"))

    cards.nth(1).click()
    expect(page).to_have_url(live_server(f"/kiosk/progress/{OWN_OLDER}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("户口迁移")
    expect(page.locator("#progress-state")).to_have_text("✓ 已办结（准予）")
    page.get_by_role("link", name="打印回执").click()
    expect(page).to_have_url(re.compile(r"paper=a4$"))
    printout_loaded(page)
    page.wait_for_function("() => window.__prints >= 1")

    # Someone else's number in the address: the lookup's not-found answer.
    response = page.goto(live_server(f"/kiosk/progress/{OTHERS}"))
    assert response.status == 404
    expect(page.get_by_role("alert")).to_have_text(re.compile("没有找到"))
    assert "结婚登记" not in page.content()

    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/kiosk/\?signed_out=1$"))
    assert storage_is_empty(page) and "户口迁移" not in page.content()


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK, COMMUNITY])
@pytest.mark.parametrize("elder", [0, 1], ids=["normal", "elder"])
def test_the_progress_screens_fit_each_profile_and_pass_axe(new_page, live_server, kiosk_app, applications, axe,
                                                            screenshot_dir, profile, elder):
    page = new_page(kiosk=profile)
    width = SCREENS[profile]["width"]
    page.goto(live_server(f"/kiosk/progress?elder={elder}"))
    problems = [f"lookup: {v}" for v in _blocking_violations(axe, page)]
    # Every key and the 查询 button in sight without scrolling sideways; keys big enough.
    bottom = page.locator("nav.bottombar").bounding_box()["y"]
    least = 60 if elder else 44
    for key in page.locator("#progress-keyboard button").all():
        box = key.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, key.inner_text()
        assert box["width"] >= least and box["height"] >= least, (key.inner_text(), box)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    mode = "elder" if elder else "normal"
    page.screenshot(path=str(screenshot_dir / f"progress-lookup-{profile}-{mode}.png"))

    page.get_by_label("办件编号", exact=True).fill(NUMBER)
    page.get_by_label("身份证号或手机号后 4 位", exact=True).fill("0160")
    page.get_by_role("button", name="查询", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("居民身份证换领")
    problems += [f"result: {v}" for v in _blocking_violations(axe, page)]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    state = page.locator("#progress-state").bounding_box()
    assert state["y"] + state["height"] <= bottom  # the state is read without scrolling
    page.screenshot(path=str(screenshot_dir / f"progress-result-{profile}-{mode}.png"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", [POST_OFFICE, BANK])
def test_the_progress_screens_fit_in_english_in_elder_mode(new_page, live_server, applications, axe, screenshot_dir,
                                                          profile):
    """English words are longer than Chinese ones (the tablet offers Chinese only)."""
    page = new_page(kiosk=profile)
    width = SCREENS[profile]["width"]
    page.goto(live_server("/kiosk/progress?lang=en&elder=1"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check an application")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.get_by_label("Application number", exact=True).fill(NUMBER)
    page.get_by_label("Last 4 characters of the ID or mobile number", exact=True).fill("0160")
    page.get_by_role("button", name="Look up", exact=True).click()
    expect(page.locator("#progress-state")).to_have_text("⚠ Documents missing")
    expect(page.locator("#progress-deadline")).to_have_text("Clock stopped")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    problems = _blocking_violations(axe, page)
    page.screenshot(path=str(screenshot_dir / f"progress-result-{profile}-elder-en.png"))
    assert not problems, "\n".join(problems)
