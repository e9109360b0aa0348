"""Phone pages of courier bookings (courier/mobile.py): my bookings, one booking with its
merged timeline (our entries and the carrier's traces, newest first), and cancelling before
pickup with a confirm step — for the logged-in resident's own bookings only."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kiosk_backend.core.clock import utcnow
from kiosk_backend.courier import services
from kiosk_backend.courier.models import Booking, PickupSlot

from ..applications.test_mobile_pages import SAME_ORIGIN, logged_in
from ..conftest import APPLICANT_PHONE
from .conftest import RECIPIENT_MOBILE, SENDER_MOBILE, event
from .test_jobs import run

B_NAME, B_ID, B_PHONE = "欧阳娜娜", "440524188001010014", "13900139111"


def orders_listed(html: str) -> list[str]:
    return re.findall(r'data-order-no="([^"]+)"', html)


def full_numbers_in(html: str) -> list[str]:
    return [number for number in (APPLICANT_PHONE, SENDER_MOBILE, RECIPIENT_MOBILE, B_PHONE) if number in html]


@pytest.fixture
def phone_a(app, db, booker):
    return logged_in(app, db, booker)


@pytest.fixture
def resident_b(make_booker):
    return make_booker(B_NAME, id_number=B_ID, phone=B_PHONE)


def picked_up(db, booking, at=None):
    at = at or utcnow()
    services.record_tracking(db.session, booking, [
        event("accepted", at - timedelta(minutes=30), "【九江市浔阳路营业厅】已收寄", location="九江市浔阳路营业厅",
              waybill_no="EA000000001CN"),
        event("in_transit", at - timedelta(minutes=10), "离开【九江邮件处理中心】，下一站【深圳邮件处理中心】",
              location="九江邮件处理中心")], source="push")
    db.session.commit()


# ---------------------------------------------------------------- my bookings

@pytest.mark.parametrize("path", ["/m/bookings?page=2", "/m/bookings/KB20260101ABCDEFGH",
                                  "/m/bookings/KB20260101ABCDEFGH/cancel"])
def test_the_pages_need_a_login_and_come_back_after_it(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/m/login?next=" + path.replace("=", "%3D")


def test_my_bookings_are_mine_newest_first_with_status_symbol_purpose_application_and_window(
        db, phone_a, booker, resident_b, make_booking, make_application):
    start = utcnow() - timedelta(hours=5)
    application = make_application("concluded", number="AAAA00000001")
    older = make_booking(now=lambda: start)
    newer = make_booking(now=lambda: start + timedelta(hours=1), purpose="result_to_applicant",
                         application_number=application.number, item_type="licence")
    picked_up(db, older)
    make_booking(resident_b, now=lambda: start + timedelta(hours=2))
    page = phone_a.get("/m/bookings")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert orders_listed(html) == [newer.order_no, older.order_no]
    assert 'class="app-state booking-status tone-waiting" data-status="pending_pickup"' in html
    assert '<span class="app-symbol" aria-hidden="true">⏳</span>' in html and "待揽收" in html
    assert 'data-status="in_transit"' in html and "➜" in html and "运输中" in html
    assert "结果寄回家" in html and "寄件" in html
    assert "关联办件：AAAA00000001" in html
    day = newer.slot.day.isoformat()
    assert f"到网点交寄 · {day} 08:00–09:00" in html
    assert "运单号 EA000000001CN" in html
    assert f'href="/m/bookings/{newer.order_no}"' in html
    assert "已登录：张*" in html and not full_numbers_in(html)


def test_my_bookings_in_english(phone_a, make_booking):
    make_booking()
    html = phone_a.get("/m/bookings?lang=en").text
    assert "My parcels" in html and "Awaiting pickup" in html and "Hand in at the counter" in html


def test_a_resident_without_bookings_is_told_so(phone_a):
    html = phone_a.get("/m/bookings").text
    assert 'id="booking-empty"' in html and "您还没有预约过寄件" in html


def test_the_phone_list_pages_by_20(phone_a, make_booking):
    start = utcnow() - timedelta(days=1)
    made = [make_booking(now=lambda n=n: start + timedelta(minutes=n)).order_no for n in range(21)]
    first = phone_a.get("/m/bookings").text
    assert orders_listed(first) == made[:0:-1] and 'rel="next" href="/m/bookings?page=2"' in first
    second = phone_a.get("/m/bookings?page=2").text
    assert orders_listed(second) == made[:1] and 'rel="prev" href="/m/bookings?page=1"' in second
    assert phone_a.get("/m/bookings?page=-5").status_code == 200


# ---------------------------------------------------------------- one booking

def test_a_booking_shows_the_merged_timeline_newest_first_with_places_and_the_waybill(db, phone_a, make_booking):
    booking = make_booking(now=lambda: utcnow() - timedelta(hours=2))
    picked_up(db, booking)
    page = phone_a.get(f"/m/bookings/{booking.order_no.lower()}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert f'id="booking" data-order-no="{booking.order_no}"' in html
    assert 'data-status="in_transit"' in html and "运输中" in html
    assert '<strong class="waybill-no">EA000000001CN</strong>' in html
    timeline = html[html.index('id="timeline"'):]
    statuses = re.findall(r'<li data-status="([^"]+)" data-source="([^"]+)"', timeline)
    assert statuses == [("in_transit", "push"), ("accepted", "push"), ("pending_pickup", "ours")]
    assert "离开【九江邮件处理中心】，下一站【深圳邮件处理中心】" in timeline and "地点：九江市浔阳路营业厅" in timeline
    assert "张*" in html and "139****9000" in html and "李*" in html and "江西省九江市浔阳区浔阳路 1 号" in html
    assert not full_numbers_in(html) and "张三" not in html.replace("已登录：张*", "")
    # Picked up: no way to cancel here, and why.
    assert 'id="booking-cancel"' not in html and 'id="booking-not-cancellable"' in html


def test_a_booking_before_pickup_offers_to_cancel_and_links_its_application(db, phone_a, make_booking,
                                                                            make_application):
    make_application("concluded", number="AAAA00000001")
    booking = make_booking(purpose="result_to_applicant", application_number="AAAA00000001", item_type="licence")
    html = phone_a.get(f"/m/bookings/{booking.order_no}").text
    assert f'id="booking-cancel" href="/m/bookings/{booking.order_no}/cancel"' in html
    assert "快递公司接单后显示" in html  # no waybill yet
    assert 'href="/m/applications/AAAA00000001"' in html and "证照" in html


# ---------------------------------------------------------------- cancelling

def test_cancelling_asks_first_then_cancels_and_gives_the_window_back(db, phone_a, make_booking, fake_gateway):
    booking = make_booking()
    confirm = phone_a.get(f"/m/bookings/{booking.order_no}/cancel")
    assert confirm.status_code == 200
    html = confirm.text
    assert 'id="booking-confirm"' in html and "确认取消这次寄件预约吗？" in html
    assert f'method="post" action="/m/bookings/{booking.order_no}/cancel"' in html
    assert f'href="/m/bookings/{booking.order_no}">不取消，返回' in html
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "pending_pickup"  # asking changed nothing

    done = phone_a.post(f"/m/bookings/{booking.order_no}/cancel", data={"reason": "改天再寄"}, headers=SAME_ORIGIN)
    assert done.status_code == 303
    assert done.headers["Location"] == f"/m/bookings/{booking.order_no}?done=cancelled"
    db.session.expire_all()
    saved = db.session.get(Booking, booking.id)
    assert (saved.status, saved.order_state) == ("cancelled", "cancelling")
    assert db.session.get(PickupSlot, saved.slot_id).taken == 1  # until the carrier confirms
    assert run(db, services.PLACE_TOPIC, saved) == "done"  # sees the cancel: places nothing
    assert run(db, services.CANCEL_TOPIC, saved) == "done"
    db.session.expire_all()
    assert db.session.get(PickupSlot, saved.slot_id).taken == 0
    html = phone_a.get(done.headers["Location"]).text
    assert 'id="booking-done"' in html and "已取消预约" in html and "改天再寄" in html
    assert 'id="booking-cancel"' not in html and 'id="booking-not-cancellable"' not in html


def test_cancelling_after_pickup_is_refused_on_the_booking_page(db, phone_a, make_booking):
    booking = make_booking(now=lambda: utcnow() - timedelta(hours=2))
    picked_up(db, booking)
    assert 'id="booking-confirm"' not in phone_a.get(f"/m/bookings/{booking.order_no}/cancel").text
    answer = phone_a.post(f"/m/bookings/{booking.order_no}/cancel", data={}, headers=SAME_ORIGIN)
    assert answer.status_code == 409
    assert 'id="booking-error"' in answer.text and "已揽收" in answer.text
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "in_transit"


def test_a_cancel_posted_from_another_site_is_refused(db, phone_a, make_booking):
    booking = make_booking()
    answer = phone_a.post(f"/m/bookings/{booking.order_no}/cancel", data={},
                          headers={"Origin": "https://evil.example.com"})
    assert answer.status_code == 403
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "pending_pickup"


def test_a_bad_reason_is_a_422_and_nothing_changes(db, phone_a, make_booking):
    booking = make_booking()
    answer = phone_a.post(f"/m/bookings/{booking.order_no}/cancel", data={"reason": "x" * 101}, headers=SAME_ORIGIN)
    assert answer.status_code == 422 and "reason" in answer.text
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == "pending_pickup"


def test_someone_elses_unknown_and_malformed_bookings_get_the_same_404(db, phone_a, resident_b, make_booking):
    theirs = make_booking(resident_b)
    pages = [phone_a.get(f"/m/bookings/{number}") for number in (theirs.order_no, "KB20260101ABCDEFGH", "nope")]
    assert {p.status_code for p in pages} == {404}
    assert pages[0].text == pages[1].text == pages[2].text and theirs.order_no not in pages[0].text
    refused = phone_a.post(f"/m/bookings/{theirs.order_no}/cancel", data={}, headers=SAME_ORIGIN)
    assert refused.status_code == 404 and refused.text == pages[0].text
    db.session.expire_all()
    assert db.session.get(Booking, theirs.id).status == "pending_pickup"
