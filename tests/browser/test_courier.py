"""结果寄回家 at the kiosk in real Chromium (courier/kiosk.py, kiosk/courier.js): a resident
logged in at a post-office kiosk opens her concluded application, books the return leg in
four screens with taps only, except the street, which nothing could prefill (typed on the
kiosk's own pinyin keyboard), and prints the cover sheet; the booking is then on her phone's
"my bookings". The screens fit the portrait kiosk in normal and elder mode and in English,
with large enough targets, and pass axe-core. Nothing is left in the browser's storage.
Screenshots under test-artifacts/screenshots/courier-*.png.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from .browser_support import MEASURE_TARGETS, POST_OFFICE, SCREENS, STUB_PRINT, describe, enrol, expect, overlapping
from .test_accessibility import _blocking_violations
from .test_kiosk_session import add_session_cookie

pytestmark = pytest.mark.browser

# A resident with her ID number and mobile on record, and her applications. Not the one of
# test_progress.py: the browser tests share one live database, and that test counts her
# applications (我的办件).
RESIDENT_ID, RESIDENT_PHONE, RESIDENT_NAME = "440524188001010014", "13800000009", "欧阳秀兰"
CONCLUDED = "JX2026C00101"  # 户口迁移, 办结（准予）: its result may come home by post
FOR_SIZES = "JX2026C00102"  # another, for the layout checks (each books nothing)
OFFICE = dict(org_name="九江市公安局", region_code="360400", recipient_name="户政收件窗口", phone="0792-8221234",
              province_code="36", city_code="3604", county_code="360402", address="长虹大道 100 号", postcode="332000")


@pytest.fixture(scope="module")
def courier_data(kiosk_app):
    """Her concluded applications, the office's address and pickup slots at the kiosks' site
    for the next days (made once for the module on the live server's database)."""
    from kiosk_backend.applications import services as applications
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.core.clock import LOCAL_TZ
    from kiosk_backend.core.workdays import Calendar
    from kiosk_backend.courier import authorities
    from kiosk_backend.courier import services as courier
    from kiosk_backend.extensions import db

    from .browser_support import SITE, ensure_site

    now = datetime.now(UTC).replace(microsecond=0)
    with kiosk_app.app_context():
        for number, item in ((CONCLUDED, "户口迁移"), (FOR_SIZES, "居民身份证换领")):
            if applications.get_by_number(db.session, number) is not None:
                continue
            received = now - timedelta(days=20)
            applications.create_application(db.session, applications.NewApplication(
                number=number, task_code="DEMO-ITEM", item_name=item, mode="local",
                applicant=applications.Applicant(name=RESIDENT_NAME, id_number=RESIDENT_ID, phone=RESIDENT_PHONE),
                receiving_org="九江市政务服务中心", receiving_region="360400", handling_org=OFFICE["org_name"],
                handling_region=OFFICE["region_code"], received_at=received, promise_days=20, promise_unit="工作日"),
                actor="system", actor_name="九江市政务服务中心")
            for day, (action, details) in enumerate((("accept", {}), ("start", {}),
                                                     ("conclude", {"outcome": "approved"})), start=1):
                applications.apply_event(db.session, number, applications.NewEvent(
                    action=action, occurred_at=received + timedelta(days=day), **details),
                    actor="system", actor_name=OFFICE["org_name"], calendar=Calendar.shipped())
        if authorities.find(db.session, OFFICE["org_name"], OFFICE["region_code"]) is None:
            authorities.save_authority(db.session, authorities.AuthorityIn(**OFFICE), actor=SYSTEM)
        site = ensure_site(db.session, **SITE)
        today = now.astimezone(LOCAL_TZ).date()
        for offset in (1, 2):
            courier.ensure_slots(db.session, site.id, today + timedelta(days=offset),
                                 windows=(("09:00", "11:00", 50), ("14:00", "16:00", 50)), actor=SYSTEM)
        db.session.commit()
        db.session.remove()
    return {"concluded": CONCLUDED, "sizes": FOR_SIZES}


def resident_session(app, kiosk, *, channel: str = "kiosk") -> str:
    """A session of the demo resident (her ID number and mobile on record) at ``kiosk``, or on
    the phone pages; returns its token."""
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.extensions import db
    from kiosk_backend.fleet.models import Kiosk
    from kiosk_backend.identity import kiosk as identity_kiosk
    from kiosk_backend.identity import residents, sessions
    from kiosk_backend.identity.models import Resident

    subject = f"courier-browser-{kiosk.id}"
    with app.app_context():
        resident = db.session.scalar(db.select(Resident).where(Resident.subject == subject))
        if resident is None:
            resident = Resident(provider="demo", subject=subject, name=RESIDENT_NAME,
                                id_number_hash=residents.keyed_hash("id", RESIDENT_ID),
                                id_number_masked=residents.mask_id_number(RESIDENT_ID),
                                phone_encrypted=residents.encrypt_phone(RESIDENT_PHONE),
                                phone_hash=residents.keyed_hash("phone", RESIDENT_PHONE),
                                phone_masked=residents.mask_phone(RESIDENT_PHONE))
            db.session.add(resident)
        if channel == "kiosk":
            idle, limit = identity_kiosk.session_limits(db.session.get(Kiosk, kiosk.id))
            _, token = sessions.start(db.session, channel="kiosk", resident=resident, kiosk_id=kiosk.id,
                                      idle_seconds=idle, absolute_seconds=limit, actor=SYSTEM)
        else:
            _, token = sessions.start(db.session, channel="mobile", resident=resident, idle_seconds=600,
                                      absolute_seconds=3600, actor=SYSTEM)
        db.session.commit()
        db.session.remove()
    return token


def storage_is_empty(page) -> bool:
    return page.evaluate("sessionStorage.length + localStorage.length") == 0


def step_is(page, n: int) -> None:
    expect(page.locator("#courier-step-of")).to_have_text(f"第 {n} 步，共 4 步")


def tap_keys(page, *keys: str) -> None:
    keyboard = page.locator("#courier-keyboard")
    for key in keys:
        keyboard.get_by_role("button", name=key, exact=True).click()


def type_pinyin(page, syllable: str, character: str) -> None:
    tap_keys(page, *syllable)
    expect(page.locator("#courier-keyboard-pinyin")).to_have_text(syllable)
    page.locator("#courier-keyboard-candidates").get_by_role("button", name=character, exact=True).click()


def test_a_resident_books_the_return_leg_in_four_screens_and_prints_the_cover_sheet(
        new_page, live_server, kiosk_app, courier_data, axe, screenshot_dir):
    kiosk = enrol(kiosk_app, POST_OFFICE)  # its own kiosk: the print guard counts per kiosk
    page = new_page(kiosk=kiosk)
    page.add_init_script(STUB_PRINT)
    add_session_cookie(page, resident_session(kiosk_app, kiosk))
    screens = []
    page.on("request", lambda r: screens.append(r.url) if r.method == "POST" and "/kiosk/courier/" in r.url else None)
    problems = []

    page.goto(live_server("/kiosk/progress"))
    page.get_by_role("region", name="我的办件").locator("a.progress-card", has_text="户口迁移").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("户口迁移")
    page.get_by_role("link", name="结果寄回家").click()

    # 1 who: the office and she herself, prefilled; her number only masked.
    step_is(page, 1)
    expect(page.get_by_role("heading", level=1)).to_have_text("结果寄回家 · 寄件人和收件人")
    expect(page.locator("#courier-office")).to_contain_text("长虹大道 100 号")
    expect(page.get_by_label("本人（欧**兰）")).to_be_checked()
    expect(page.get_by_label("使用本人手机号 138****0009")).to_be_checked()
    expect(page.locator("#courier-keyboard")).to_be_hidden()  # nothing to type here
    assert RESIDENT_PHONE not in page.content() and RESIDENT_NAME not in page.content()
    problems += [f"who: {v}" for v in _blocking_violations(axe, page)]
    page.screenshot(path=str(screenshot_dir / "courier-who-portrait.png"), full_page=True)
    page.get_by_role("button", name="下一步").click()

    # 2 where: no saved address: the county tapped, the street on the kiosk's keyboard.
    step_is(page, 2)
    picker = page.locator("#courier-divisions")
    expect(picker.get_by_role("button", name="浔阳区", exact=True)).to_be_visible()  # the kiosk's city first
    page.locator(".courier-crumbs").get_by_role("button", name="江西省").click()
    picker.get_by_role("button", name="九江市", exact=True).click()
    picker.get_by_role("button", name="浔阳区", exact=True).click()
    expect(picker.get_by_role("button", name="浔阳区", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#courier-chosen-name")).to_have_text("江西省 九江市 浔阳区")
    address = page.get_by_label("详细地址（街道、门牌号）")
    expect(address).to_have_class(re.compile(r"\bis-target\b"))
    type_pinyin(page, "xun", "浔")
    type_pinyin(page, "yang", "阳")
    tap_keys(page, "路", "1", "1", "8", "号", "3", "栋", "5", "0", "1", "室")
    expect(address).to_have_value("浔阳路118号3栋501室")
    problems += [f"where: {v}" for v in _blocking_violations(axe, page)]
    page.screenshot(path=str(screenshot_dir / "courier-where-portrait.png"), full_page=True)
    page.get_by_role("button", name="下一步").click()

    # 3 when: at this site's counter (preselected), the first time of tomorrow.
    step_is(page, 3)
    expect(page.get_by_label(re.compile("到本网点柜台交寄"))).to_be_checked()
    page.locator("label.choice.slot", has_text="09:00–11:00").first.click()
    problems += [f"when: {v}" for v in _blocking_violations(axe, page)]
    page.screenshot(path=str(screenshot_dir / "courier-when-portrait.png"), full_page=True)
    page.get_by_role("button", name="下一步").click()

    # 4 confirm: the summary; the government pays inside the province.
    step_is(page, 4)
    expect(page.locator("#courier-recipient")).to_contain_text("欧**兰")
    expect(page.locator("#courier-recipient")).to_contain_text("江西省九江市浔阳区浔阳路118号3栋501室")
    expect(page.locator("#courier-price")).to_have_text("政府付费，您无需支付")
    problems += [f"confirm: {v}" for v in _blocking_violations(axe, page)]
    page.screenshot(path=str(screenshot_dir / "courier-confirm-portrait.png"), full_page=True)
    page.get_by_role("button", name="确认预约").dblclick()  # a double tap books once

    expect(page.get_by_role("heading", level=1)).to_have_text("✓ 预约成功")
    expect(page.locator("#courier-status")).to_have_text("当前状态：待揽收")
    order_no = page.locator("#courier-order").inner_text()
    assert re.fullmatch(r"KB\d{8}[0-9A-Z]{8}", order_no)
    # Four screens, each sent once: the second tap of the double tap never left the page.
    assert [url.split("/kiosk/courier/")[1] for url in screens] == ["who", "where", "when", "confirm"]
    assert _bookings_of(kiosk_app, CONCLUDED) == [order_no]
    page.screenshot(path=str(screenshot_dir / "courier-done-portrait.png"), full_page=True)

    page.get_by_role("link", name="打印封面").click()
    expect(page).to_have_url(re.compile(rf"/kiosk/courier/bookings/{order_no}/cover\?paper=thermal80$"))
    expect(page.locator("#printout")).to_be_attached()
    page.wait_for_function("() => { const i = document.getElementById('printout'); return i && i.complete && i.naturalWidth > 0; }")
    assert page.locator("#printout").evaluate("img => img.naturalWidth") == 576
    page.wait_for_function("() => window.__prints >= 1")
    expect(page.locator("#print-status")).to_have_attribute("data-state", "printing")
    page.screenshot(path=str(screenshot_dir / "courier-cover-print-portrait.png"))
    assert storage_is_empty(page)

    # Her phone: the booking is among "my bookings".
    phone = new_page({"width": 390, "height": 844}, kiosk=None)
    phone.context.add_cookies([{"name": "resident_session", "value": resident_session(kiosk_app, kiosk, channel="mobile"),
                                "domain": "127.0.0.1", "path": "/m", "httpOnly": True, "sameSite": "Lax"}])
    phone.goto(live_server("/m/bookings"))
    expect(phone.locator("body")).to_contain_text(order_no)
    phone.screenshot(path=str(screenshot_dir / "courier-phone-bookings.png"), full_page=True)

    # The worker places the order with the demo carrier, and as the carrier moves the parcel
    # (a step every KIOSK_DEMO_CARRIER_STEP_MINUTES) its polling brings the steps in: the phone
    # shows the parcel moving, on the booking and on the application's timeline.
    _work_as_the_worker(kiosk_app, order_no, minutes_later=0)
    phone.goto(live_server(f"/m/bookings/{order_no}"))
    expect(phone.locator("body")).to_contain_text("待揽收")
    _work_as_the_worker(kiosk_app, order_no, minutes_later=3 * STEP_MINUTES + 1)
    phone.reload()
    expect(phone.locator("body")).to_contain_text("派送中")
    expect(phone.locator("body")).to_contain_text("已收寄")
    phone.screenshot(path=str(screenshot_dir / "courier-phone-booking-moving.png"), full_page=True)
    phone.goto(live_server(f"/m/applications/{CONCLUDED}"))
    expect(phone.locator("#timeline")).to_contain_text("办理结果正在派送")
    phone.screenshot(path=str(screenshot_dir / "courier-phone-application-timeline.png"), full_page=True)

    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/kiosk/\?signed_out=1$"))
    assert storage_is_empty(page) and order_no not in page.content()
    assert not problems, "\n".join(problems)


STEP_MINUTES = 2  # the demo carrier's default step (KIOSK_DEMO_CARRIER_STEP_MINUTES)


def _work_as_the_worker(app, order_no: str, *, minutes_later: float) -> None:
    """What ``kiosk worker`` does for this booking: place its order (once) with the demo
    carrier, then poll it as if ``minutes_later`` minutes had passed."""
    import sqlalchemy as sa

    from kiosk_backend.courier import carriers, jobs
    from kiosk_backend.courier.models import Booking
    from kiosk_backend.extensions import db

    later = datetime.now(UTC) + timedelta(minutes=minutes_later)
    with app.app_context():
        booking_id = db.session.scalar(sa.select(Booking.id).where(Booking.order_no == order_no))
        jobs.place_order(db.session, booking_id, gateway=carriers.gateway_for(db.session, "demo"))
        db.session.commit()
        if minutes_later:
            jobs.poll_quiet(db.session, quiet=timedelta(0), now=lambda: later,
                            gateway=carriers.gateway_for(db.session, "demo", now=lambda: later))
        db.session.remove()


def _bookings_of(app, number: str) -> list[str]:
    from kiosk_backend.applications.models import Application
    from kiosk_backend.courier.models import Booking
    from kiosk_backend.extensions import db

    with app.app_context():
        rows = db.session.scalars(db.select(Booking.order_no).join(Application, Application.id == Booking.application_id)
                                  .where(Application.number == number)).all()
        db.session.remove()
    return list(rows)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("elder", [0, 1], ids=["normal", "elder"])
def test_the_courier_screens_fit_the_kiosk_with_big_targets_and_pass_axe(new_page, live_server, kiosk_app,
                                                                          courier_data, axe, screenshot_dir, lang,
                                                                          elder):
    kiosk = enrol(kiosk_app, POST_OFFICE)
    page = new_page(kiosk=kiosk)
    add_session_cookie(page, resident_session(kiosk_app, kiosk))
    width = SCREENS[POST_OFFICE]["width"]
    least = 60 if elder else 44
    page.goto(live_server(f"/kiosk/courier/new?application={FOR_SIZES}&leg=result&elder={elder}&lang={lang}"))
    problems = []
    mode = f"{'elder' if elder else 'normal'}-{lang}"

    def small(targets):
        # The top bar's emblem link gives way to the greeting and 退出 of a session in elder
        # mode on every kiosk page (base.html's layout, not these screens'): left out here.
        return [t for t in targets if (t["width"] < least or t["height"] < least) and "brand" not in str(t["cls"])]

    for n, name in enumerate(("who", "where", "when", "confirm"), start=1):
        expect(page.locator(".courier-steps li[aria-current=step]")).to_have_count(1)
        assert ("elder" in page.locator("body").get_attribute("class").split()) == bool(elder)
        problems += [f"{name}: {v}" for v in _blocking_violations(axe, page)]
        # Nothing of the screen reaches past the right edge (the top bar's session greeting in
        # elder mode and English is base.html's, as above).
        wide = page.evaluate("""(width) => [...document.querySelectorAll('main *, nav.bottombar *')]
            .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > width + 0.5)
            .slice(0, 5).map((e) => e.tagName + '.' + e.className)""", width)
        if wide:
            problems.append(f"{name}: reaches past the screen's edge: {wide}")
        for t in small(page.evaluate(MEASURE_TARGETS)):
            problems.append(f"{name}: {describe(t)} is {t['width']:.0f}×{t['height']:.0f}, needs ≥ {least}")
        for a, b in overlapping(page.evaluate(MEASURE_TARGETS)):
            problems.append(f"{name}: {describe(a)} overlaps {describe(b)}")
        page.screenshot(path=str(screenshot_dir / f"courier-{name}-portrait-{mode}.png"), full_page=True)
        if name == "who":
            # "Someone else" shows the name box and the keyboard with it.
            page.locator("input[name=name_choice][value=other]").check()
            expect(page.locator("#courier-keyboard")).to_be_visible()
            for t in small(page.evaluate(MEASURE_TARGETS)):
                problems.append(f"who+keyboard: {describe(t)} is {t['width']:.0f}×{t['height']:.0f}")
            page.locator("input[name=name_choice][value=self]").check()
        if name == "where":
            page.locator("#courier-divisions button.division").first.click()
            page.locator("#courier-address").fill("浔阳路 1 号")
        if name == "when":
            page.locator("label.choice.slot:not(.full)").first.click()
        if name != "confirm":
            page.locator("#courier-next").click()
            expect(page.locator("#courier-step-of")).to_contain_text(str(n + 1))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
