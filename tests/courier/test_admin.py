"""The console's courier pages (courier/admin.py, slots_admin.py, authorities.py): the bookings
list and its filters, a booking with its raw carrier events (masked personal data only), pickup
slots per site (capacity never below the places taken), handling authorities' addresses,
reconciliation findings and carrier accounts (credentials never shown again), and who may do
what. Access per role over every /admin route is in tests/test_admin_access.py."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications.deadlines import china_day
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.courier import admin, authorities, slots_admin
from kiosk_backend.courier.models import (
    Booking,
    CarrierAccount,
    HandlingAuthority,
    PickupSlot,
    ReconciliationFinding,
    TrackingEvent,
)
from kiosk_backend.identity import residents
from tests.conftest import SITE2

RESIDENT_MOBILE = "13912345678"
AUTHORITY_PHONE = "0755-83358000"


def today() -> date:
    return china_day(utcnow())


def orders_of(page: str) -> list[str]:
    """The order numbers linked from a page, in order."""
    return re.findall(r'href="/admin/courier/bookings/([0-9A-Z]+)"', page)


@pytest.fixture
def add_slot(db):
    def _add(site, day: date | None = None, starts: str = "09:00", ends: str = "11:00", capacity: int = 5,
             taken: int = 0) -> PickupSlot:
        slot = PickupSlot(site_id=site.id, day=day or today() + timedelta(days=1), starts=starts, ends=ends,
                          capacity=capacity, taken=taken)
        db.session.add(slot)
        db.session.commit()
        return slot

    return _add


@pytest.fixture
def add_booking(db, site):
    """A booking row as the services leave it (the console only reads them; the services and
    their rules are tested in test_services.py)."""
    made = iter(range(1, 10**6))

    def _add(*, status: str = "pending_pickup", purpose: str = "result_to_applicant", carrier: str = "demo",
             order_state: str = "placed", at=None, slot: PickupSlot | None = None, waybill: str | None = None,
             application=None, events=(), recipient_name: str = "李小明",
             recipient_address: str = "滨江新区湖滨路 26 号 3 栋 502 室", last_error: str | None = None) -> Booking:
        n = next(made)
        moment = utcnow() - timedelta(hours=1)
        sealed = residents.encrypt_phone(RESIDENT_MOBILE)
        booking = Booking(
            order_no=f"KB20260302{n:08d}", purpose=purpose, application_id=application.id if application else None,
            channel="kiosk", site_id=(at or site).id, slot_id=slot.id if slot else None,
            sender_name="深圳市公安局出入境管理局", sender_mobile_encrypted=residents.encrypt_phone("13800000000"),
            sender_mobile_masked="0755****8000", sender_province="44", sender_city="4403", sender_county="440304",
            sender_address="福田区福强路 4001 号", sender_postcode="518048",
            recipient_name=recipient_name, recipient_mobile_encrypted=sealed,
            recipient_mobile_masked=residents.mask_phone(RESIDENT_MOBILE), recipient_province="36",
            recipient_city="3604", recipient_county="360403", recipient_address=recipient_address,
            recipient_postcode="332000", item_type="licence", pieces=1, weight_grams=200, insured_value_fen=0,
            payer="government", pickup_mode="counter", carrier=carrier, carrier_company="ems", waybill_no=waybill,
            order_state=order_state, last_error=last_error, status=status, status_at=moment, created_at=moment)
        if slot is not None:
            slot.taken += 1
        db.session.add(booking)
        db.session.flush()
        for i, (event_status, text, applied) in enumerate(events):
            db.session.add(TrackingEvent(booking_id=booking.id, dedupe_key=f"e{i}", status=event_status,
                                         raw_code=f"C{i}", raw_text=text, location="江州市" if i else None,
                                         occurred_at=moment + timedelta(minutes=i), received_at=moment,
                                         source="poll" if i else "ours", applied=applied))
        db.session.commit()
        return booking

    return _add


@pytest.fixture
def boss(console):
    return console("boss", role="admin")


@pytest.fixture
def own_manager(console, site):
    return console("li", role="site_manager", sites=[site])

# ===================================================================== the list

def test_the_list_shows_newest_first_with_masked_recipient_and_status_in_words(db, boss, add_booking):
    client, _ = boss
    old = add_booking(status="in_transit", waybill="1151234567890")
    new = add_booking(status="pending_pickup", recipient_name="欧阳娜娜")
    page = client.get("/admin/courier/").text
    assert orders_of(page) == [new.order_no, old.order_no]
    assert "运输中" in page and "parcel-moving" in page and "待揽收" in page and "parcel-waiting" in page
    assert "欧**娜" in page and "李*明" in page and "欧阳娜娜" not in page and "李小明" not in page
    assert "1151234567890" in page and "结果寄回家" in page and "快递公司已接单" in page
    assert 'href="/admin/courier/"' in page  # the console's navigation has 寄递


def test_the_list_filters_by_site_status_carrier_purpose_number_exceptions_and_failed_orders(
        db, boss, add_booking, make_site):
    client, _ = boss
    other = make_site(**SITE2)
    moving = add_booking(status="in_transit", waybill="1151234567890")
    failed = add_booking(status="failed_delivery", carrier="kuaidi100")
    returned = add_booking(status="returned", purpose="materials_to_authority", at=other)
    refused = add_booking(order_state="failed", last_error="超出服务范围")
    every = {moving.order_no, failed.order_no, returned.order_no, refused.order_no}

    def shown(query):
        response = client.get("/admin/courier/?" + query)
        assert response.status_code == 200
        return set(orders_of(response.text))

    assert shown("") == every
    assert shown(f"site={other.id}") == {returned.order_no}
    assert shown("status=in_transit") == {moving.order_no}
    assert shown("carrier=kuaidi100") == {failed.order_no}
    assert shown("purpose=materials_to_authority") == {returned.order_no}
    assert shown("trouble=1") == {failed.order_no, returned.order_no}
    assert shown("order=failed") == {refused.order_no}
    assert shown("q=1151234567890") == {moving.order_no}  # a waybill number
    assert shown(f"q={failed.order_no.lower()}") == {failed.order_no}  # an order number, any case
    assert shown("status=bogus") == set() and shown("carrier=x%00y") == set()  # applied as given
    assert shown("site=abc&page=xyz") == every
    page = client.get("/admin/courier/").text
    assert "异常件 2 件" in page and "下单失败 1 件" in page


def test_cancels_the_carrier_refused_are_counted_and_listed_until_the_parcel_arrives(db, boss, add_booking):
    client, _ = boss
    refused = add_booking(status="accepted", last_error="cancel refused: 已揽收，无法取消")
    add_booking(status="delivered", last_error="cancel refused: 已揽收，无法取消")  # over: nothing to look at
    add_booking(status="pending_pickup")
    page = client.get("/admin/courier/").text
    assert "取消被快递公司拒绝 1 件" in page and 'href="/admin/courier/?order=cancel_refused"' in page
    listed = client.get("/admin/courier/?order=cancel_refused")
    assert set(orders_of(listed.text)) == {refused.order_no}


def test_overdue_pickups_are_pending_ones_whose_window_has_ended(db, boss, add_booking, add_slot, site):
    client, _ = boss
    ended = add_slot(site, day=today() - timedelta(days=1))
    coming = add_slot(site, day=today() + timedelta(days=1))
    late = add_booking(slot=ended)
    add_booking(slot=ended, status="accepted")  # picked up: not overdue
    add_booking(slot=coming)  # its window is still ahead
    add_booking(slot=ended, status="cancelled")
    page = client.get("/admin/courier/?overdue=1").text
    assert orders_of(page) == [late.order_no]
    assert "时段已过仍未揽收" in page and "超时未揽收 1 件" in page


def test_the_overdue_condition_compares_the_windows_end_with_the_time_in_china(db, site, add_slot, add_booking):
    morning = add_slot(site, day=date(2026, 3, 2), starts="09:00", ends="11:00")
    add_booking(slot=morning)
    ten = datetime(2026, 3, 2, 10, 59, tzinfo=admin.CHINA)
    eleven = datetime(2026, 3, 2, 11, 0, tzinfo=admin.CHINA)
    assert admin.search(db.session, site_ids=None, moment=ten, overdue=True) == []
    assert len(admin.search(db.session, site_ids=None, moment=eleven, overdue=True)) == 1


def test_the_list_is_paged_fifty_at_a_time(db, boss, add_booking):
    client, _ = boss
    made = [add_booking().order_no for _ in range(51)]
    first = client.get("/admin/courier/").text
    assert orders_of(first) == made[::-1][:50] and "page=2" in first
    second = client.get("/admin/courier/?page=2").text
    assert orders_of(second) == [made[0]] and "page=1" in second

# ===================================================================== one booking

def test_the_booking_page_shows_raw_carrier_events_and_only_masked_personal_data(
        db, boss, add_booking, add_slot, site, make_application):
    client, _ = boss
    application = make_application("concluded", number="KS4403002026030200001")
    slot = add_slot(site, capacity=4)
    booking = add_booking(status="in_transit", waybill="1151234567890", application=application, slot=slot, events=[
        ("pending_pickup", "预约已提交，等待揽收", True),
        ("accepted", "【江州市民大道营业所】已收寄，揽投员：张师傅，电话 13607921234", True),
        ("in_transit", "离开【江州邮区中心局】，下一站【深圳邮区中心局】", True),
        ("accepted", "【江州市民大道营业所】已收寄", False),
    ])
    page = client.get(f"/admin/courier/bookings/{booking.order_no}").text
    assert "离开【江州邮区中心局】，下一站【深圳邮区中心局】" in page and "<code>C2</code>" in page
    assert "136****1234" in page and "13607921234" not in page  # a number in a carrier's text is masked
    assert page.count('class="not-applied"') == 1 and "否（仅记录）" in page
    assert "查询" in page and "本系统" in page and "江州市" in page
    # The resident (recipient of the result): name, mobile and house number masked.
    assert "李*明" in page and "139****5678" in page and "湖滨路 ****" in page
    assert "李小明" not in page and RESIDENT_MOBILE not in page and "502" not in page
    # The office that sends the result back: its address in full.
    assert "深圳市公安局出入境管理局" in page and "福田区福强路 4001 号" in page and "机关地址" in page
    assert f'href="/admin/applications/{application.number}"' in page
    assert f"{slot.day.isoformat()} 09:00–11:00" in page and "已约 1/4" in page
    assert "1151234567890" in page and "快递公司已接单" in page and "结果寄回家" in page


def test_the_booking_page_shows_the_orders_outbox_messages_and_last_error(db, boss, add_booking):
    client, _ = boss
    booking = add_booking(order_state="failed", last_error=f"收件人电话 {RESIDENT_MOBILE} 不在服务范围")
    db.session.add_all([
        OutboxMessage(topic="courier.place_order", key=f"booking:{booking.id}", payload={}, state="dead", attempts=8,
                      next_attempt_at=utcnow(), last_error="CarrierRejected: 超出服务范围"),
        OutboxMessage(topic="courier.notify", key=f"booking:{booking.id}:accepted", payload={}, state="done",
                      attempts=1, next_attempt_at=utcnow(), done_at=utcnow()),
        OutboxMessage(topic="courier.place_order", key=f"booking:{booking.id}0", payload={}, state="pending",
                      next_attempt_at=utcnow()),  # another booking's (id 10 when this one is 1)
    ])
    db.session.commit()
    page = client.get(f"/admin/courier/bookings/{booking.order_no}").text
    assert "courier.place_order" in page and "已停止重试" in page and "超出服务范围" in page
    assert "courier.notify" in page
    assert page.count("<code>courier.place_order</code>") == 1
    assert "139****5678 不在服务范围" in page and RESIDENT_MOBILE not in page
    assert "快递公司未接单" in page and 'href="/admin/jobs/"' in page


@pytest.mark.parametrize("order_no", ["KB2026030299999999", "bad number!", "x" * 80])
def test_an_unknown_booking_is_a_404(db, boss, order_no):
    client, _ = boss
    response = client.get(f"/admin/courier/bookings/{order_no}")
    assert response.status_code == 404 and "没有找到该寄递预约" in response.text


@pytest.mark.parametrize("address, shown", [
    ("滨江新区湖滨路 26 号 3 栋 502 室", "滨江新区湖滨路 ****"),
    ("湖滨路26号", "湖滨路 ****"),
    ("白水湖小区十二栋", "白水湖小区 ****"),
    ("江州市滨江新区政务服务中心大楼", "江州市滨江新区政 ****"),
    ("湖滨路", "湖滨路"),
])
def test_a_residents_address_is_masked_from_the_house_number_on(address, shown):
    assert admin.mask_address(address) == shown

# ===================================================================== who sees what

def test_a_site_manager_sees_only_their_own_sites_bookings_and_slots(db, own_manager, add_booking, add_slot, site,
                                                                     make_site):
    client, _ = own_manager
    other = make_site(**SITE2)
    mine = add_booking()
    theirs = add_booking(at=other, status="exception")
    own_slot, other_slot = add_slot(site), add_slot(other)
    page = client.get("/admin/courier/").text
    assert orders_of(page) == [mine.order_no] and "异常件 0 件" in page
    assert orders_of(client.get("/admin/courier/?trouble=1").text) == []
    assert client.get(f"/admin/courier/bookings/{mine.order_no}").status_code == 200
    assert client.get(f"/admin/courier/bookings/{theirs.order_no}").status_code == 404
    overview = client.get("/admin/courier/slots").text
    assert site.name in overview and other.name not in overview
    assert client.get(f"/admin/courier/slots/{site.id}").status_code == 200
    assert client.get(f"/admin/courier/slots/{other.id}").status_code == 404
    _, csrf = own_manager
    assert client.post(f"/admin/courier/slots/windows/{own_slot.id}/capacity",
                       data={"capacity": "8", "csrf_token": csrf}).status_code == 303
    assert client.post(f"/admin/courier/slots/windows/{other_slot.id}/capacity",
                       data={"capacity": "8", "csrf_token": csrf}).status_code == 404
    db.session.expire_all()
    assert (db.session.get(PickupSlot, own_slot.id).capacity, db.session.get(PickupSlot, other_slot.id).capacity) == (8, 5)
    for path in ("/admin/courier/accounts/", "/admin/courier/authorities/", "/admin/courier/reconciliation/"):
        assert client.get(path).status_code == 403, path
    assert "承运账号" not in page and "对账" not in page  # the admin-only tabs are not offered


def test_changes_without_the_csrf_token_are_refused_and_change_nothing(db, boss, add_slot, site):
    client, _ = boss
    slot = add_slot(site)
    for path, data in ((f"/admin/courier/slots/windows/{slot.id}/capacity", {"capacity": "9"}),
                       (f"/admin/courier/slots/{site.id}", {"day_from": today().isoformat(),
                                                            "day_to": today().isoformat(), "starts": "14:00",
                                                            "ends": "16:00", "capacity": "3"})):
        assert client.post(path, data=data).status_code == 400
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(PickupSlot, slot.id).capacity == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PickupSlot)) == 1

# ===================================================================== pickup slots

def test_the_slot_overview_shows_each_sites_next_fourteen_days(db, boss, add_slot, site):
    client, _ = boss
    add_slot(site, day=today(), capacity=10, taken=3)
    add_slot(site, day=today(), starts="14:00", ends="16:00", capacity=5, taken=5)
    add_slot(site, day=today() + timedelta(days=13), capacity=4, taken=4)
    add_slot(site, day=today() + timedelta(days=14), capacity=7)  # beyond the fortnight
    page = client.get("/admin/courier/slots").text
    assert "8/15" in page and "4/4" in page and "0/7" not in page
    assert page.count("不揽收") == 12 and "已约满" in page


def test_a_sites_grid_lists_every_window_and_changes_capacity_never_below_taken(db, boss, add_slot, site):
    client, csrf = boss
    slot = add_slot(site, capacity=5, taken=3)
    page = client.get(f"/admin/courier/slots/{site.id}").text
    assert f'id="slot-{slot.id}"' in page and "3/5" in page and 'min="3"' in page
    assert "已有预约，时间不可改" in page  # booked: no form to move it

    below = client.post(f"/admin/courier/slots/windows/{slot.id}/capacity", data={"capacity": "2", "csrf_token": csrf})
    assert below.status_code == 422 and "不能少于已约的 3 个" in below.text
    assert db.session.get(PickupSlot, slot.id).capacity == 5

    same = client.post(f"/admin/courier/slots/windows/{slot.id}/capacity", data={"capacity": "3", "csrf_token": csrf})
    assert same.status_code == 303 and same.headers["Location"].endswith(f"#slot-{slot.id}")
    db.session.expire_all()
    assert db.session.get(PickupSlot, slot.id).capacity == 3
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "courier.slot.capacity"))
    assert entry.actor == "boss" and entry.details == {"from": 5, "to": 3, "taken": 3}
    for bad in ("-1", "501", "many", ""):
        response = client.post(f"/admin/courier/slots/windows/{slot.id}/capacity",
                               data={"capacity": bad, "csrf_token": csrf})
        assert response.status_code == 422, bad


def test_lowering_capacity_races_a_booking_with_one_conditional_update(db, add_slot, site):
    slot = add_slot(site, capacity=5, taken=3)
    # A booking takes a place after the page was read: the capacity the admin typed (3) is now too low.
    db.session.execute(sa.update(PickupSlot).where(PickupSlot.id == slot.id).values(taken=PickupSlot.taken + 1))
    with pytest.raises(slots_admin.Invalid) as refused:
        slots_admin.set_capacity(db.session, slot.id, 3, actor="test")
    assert "4" in refused.value.message
    assert slots_admin.set_capacity(db.session, slot.id, 4, actor="test").capacity == 4


def test_a_window_nobody_booked_can_move_a_booked_one_cannot(db, boss, add_slot, site):
    client, csrf = boss
    free = add_slot(site)
    booked = add_slot(site, starts="14:00", ends="16:00", taken=1)
    moved = client.post(f"/admin/courier/slots/windows/{free.id}/times",
                        data={"starts": "09:30", "ends": "11:30", "csrf_token": csrf})
    assert moved.status_code == 303
    refused = client.post(f"/admin/courier/slots/windows/{booked.id}/times",
                          data={"starts": "15:00", "ends": "17:00", "csrf_token": csrf})
    assert refused.status_code == 409 and "已有预约" in refused.text
    clash = client.post(f"/admin/courier/slots/windows/{free.id}/times",
                        data={"starts": "14:00", "ends": "15:00", "csrf_token": csrf})
    assert clash.status_code == 409 and "同一开始时间" in clash.text
    backwards = client.post(f"/admin/courier/slots/windows/{free.id}/times",
                            data={"starts": "12:00", "ends": "10:00", "csrf_token": csrf})
    assert backwards.status_code == 422 and "结束时间应晚于开始时间" in backwards.text
    db.session.expire_all()
    assert (free.starts, free.ends) == ("09:30", "11:30") and (booked.starts, booked.ends) == ("14:00", "16:00")


def test_opening_a_window_over_a_range_of_days_keeps_the_days_that_have_it(db, boss, add_slot, site):
    client, csrf = boss
    kept = add_slot(site, day=today() + timedelta(days=2), capacity=2, taken=1)
    form = {"day_from": today().isoformat(), "day_to": (today() + timedelta(days=6)).isoformat(),
            "starts": "09:00", "ends": "11:00", "capacity": "10", "csrf_token": csrf}
    response = client.post(f"/admin/courier/slots/{site.id}", data=form)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).text
    assert "已开放 6 个时段，1 天已有该时段未改动" in page
    slots = list(db.session.scalars(sa.select(PickupSlot).order_by(PickupSlot.day)))
    assert len(slots) == 7 and [s.capacity for s in slots].count(10) == 6
    assert db.session.get(PickupSlot, kept.id).capacity == 2
    assert db.session.scalar(sa.select(AuditEntry.details).where(AuditEntry.action == "courier.slot.open"))["created"] == 6


@pytest.mark.parametrize("change, field, words", [
    ({"day_from": "2020-01-01"}, "day_from", "今天或以后"),
    ({"day_to": "2020-01-01"}, "day_to", "不早于开始日期"),
    ({"starts": "25:00"}, "starts", "HH:MM"),
    ({"ends": "08:00"}, "ends", "结束时间应晚于开始时间"),
    ({"capacity": "501"}, "capacity", ""),
    ({"day_to": "not a day"}, "day_to", ""),
])
def test_a_bad_range_of_windows_is_refused_at_its_field_and_opens_nothing(db, boss, site, change, field, words):
    client, csrf = boss
    form = {"day_from": today().isoformat(), "day_to": (today() + timedelta(days=3)).isoformat(),
            "starts": "09:00", "ends": "11:00", "capacity": "10", "csrf_token": csrf, **change}
    response = client.post(f"/admin/courier/slots/{site.id}", data=form)
    assert response.status_code == 422
    assert re.search(rf'id="{field}"[^>]*>.*?field-error', response.text, re.S) and words in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PickupSlot)) == 0


def test_a_range_longer_than_two_months_is_refused(db, site):
    with pytest.raises(slots_admin.Invalid):
        slots_admin.add_windows(db.session, site.id, day_from=today(), day_to=today() + timedelta(days=62),
                                starts="09:00", ends="11:00", capacity=3, today=today(), actor="test")

# ===================================================================== handling authorities

def authority_form(**overrides) -> dict:
    form = {"org_name": "深圳市公安局出入境管理局", "region_code": "440300", "recipient_name": "跨省通办收件窗口",
            "phone": AUTHORITY_PHONE, "province_code": "44", "city_code": "4403", "county_code": "440304",
            "address": "福田区福强路 4001 号", "postcode": "518048"}
    form.update(overrides)
    return form


def test_admins_register_and_correct_a_handling_authoritys_address(db, boss):
    client, csrf = boss
    created = client.post("/admin/courier/authorities/", data={**authority_form(), "csrf_token": csrf})
    assert created.status_code == 303
    item = db.session.scalar(sa.select(HandlingAuthority))
    assert (item.org_name, item.county_code, item.postcode) == ("深圳市公安局出入境管理局", "440304", "518048")
    page = client.get("/admin/courier/authorities/?done=created").text
    assert "已登记" in page and "广东省深圳市福田区福田区福强路 4001 号" in page and AUTHORITY_PHONE in page
    edit = client.get(f"/admin/courier/authorities/{item.id}").text
    assert 'value="福田区福强路 4001 号"' in edit
    saved = client.post(f"/admin/courier/authorities/{item.id}",
                        data={**authority_form(address="福田区福强路 4001 号 1 楼 3 号窗口", postcode=""),
                              "csrf_token": csrf})
    assert saved.status_code == 303
    db.session.expire_all()
    item = db.session.get(HandlingAuthority, item.id)
    assert item.address == "福田区福强路 4001 号 1 楼 3 号窗口" and item.postcode is None
    actions = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("courier.authority.%"))))
    assert actions == ["courier.authority.create", "courier.authority.update"]
    assert authorities.find(db.session, "深圳市公安局出入境管理局", "440300").id == item.id


@pytest.mark.parametrize("change, field", [
    ({"county_code": "330106"}, "county_code"),  # 杭州西湖区 is not in 深圳
    ({"city_code": "9999"}, "city_code"),
    ({"postcode": "51804"}, "postcode"),
    ({"phone": "call me"}, "phone"),
    ({"region_code": "4403"}, "region_code"),
    ({"org_name": "x\x00y"}, "org_name"),
])
def test_a_bad_authority_is_refused_at_its_field(db, boss, change, field):
    client, csrf = boss
    response = client.post("/admin/courier/authorities/", data={**authority_form(**change), "csrf_token": csrf})
    assert response.status_code == 422
    assert re.search(rf'id="{field}"[^>]*>.*?field-error', response.text, re.S)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HandlingAuthority)) == 0


def test_an_authority_is_registered_once_per_org_and_region(db, boss):
    client, csrf = boss
    assert client.post("/admin/courier/authorities/", data={**authority_form(), "csrf_token": csrf}).status_code == 303
    again = client.post("/admin/courier/authorities/", data={**authority_form(), "csrf_token": csrf})
    assert again.status_code == 409 and "已登记" in again.text
    elsewhere = client.post("/admin/courier/authorities/",
                            data={**authority_form(region_code="440304"), "csrf_token": csrf})
    assert elsewhere.status_code == 303
    assert client.get("/admin/courier/authorities/999999").status_code == 404

# ===================================================================== reconciliation

def test_findings_are_listed_by_run_day_and_marked_resolved_once(db, boss, add_booking):
    client, csrf = boss
    booking = add_booking()
    day, earlier = today(), today() - timedelta(days=1)
    db.session.add_all([
        ReconciliationFinding(run_on=day, carrier="demo", booking_id=booking.id, order_no=booking.order_no,
                              kind="status_differs", ours="pending_pickup", theirs="accepted", found_at=utcnow()),
        ReconciliationFinding(run_on=day, carrier="demo", order_no="KBX-NOT-OURS", kind="unknown_to_us",
                              theirs=f"收件人 {RESIDENT_MOBILE}", found_at=utcnow()),
        ReconciliationFinding(run_on=earlier, carrier="demo", order_no="KB0", kind="missing_at_carrier",
                              found_at=utcnow(), resolved_at=utcnow()),
    ])
    db.session.commit()
    page = client.get("/admin/courier/reconciliation/").text
    assert "状态不一致" in page and "我方没有该订单" in page and "承运商没有该订单" not in page
    assert f'href="/admin/courier/bookings/{booking.order_no}"' in page and "KBX-NOT-OURS" in page
    assert "139****5678" in page and RESIDENT_MOBILE not in page
    assert "2 条，未处理 2 条" in page and "1 条，未处理 0 条" in page
    older = client.get(f"/admin/courier/reconciliation/?day={earlier.isoformat()}").text
    assert "承运商没有该订单" in older and "状态不一致" not in older
    finding = db.session.scalar(sa.select(ReconciliationFinding).where(ReconciliationFinding.kind == "status_differs"))
    for _ in range(2):
        response = client.post(f"/admin/courier/reconciliation/{finding.id}/resolve", data={"csrf_token": csrf})
        assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(ReconciliationFinding, finding.id).resolved_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "courier.finding.resolve")) == 1
    assert client.post("/admin/courier/reconciliation/999999/resolve", data={"csrf_token": csrf}).status_code == 404
    assert client.get("/admin/courier/reconciliation/?day=yesterday").status_code == 200


def test_the_day_defaults_to_the_newest_run_and_an_empty_console_says_so(db, boss):
    client, _ = boss
    assert "没有差异" in client.get("/admin/courier/reconciliation/").text



def test_reconcile_now_queues_the_job_for_the_worker_which_lists_the_differences(db, boss, make_booking):
    from kiosk_backend.core import outbox

    client, csrf = boss
    make_booking()  # its order not placed yet: missing at the carrier
    for _ in range(2):  # a second click while the first waits adds nothing
        response = client.post("/admin/courier/reconciliation/run", data={"csrf_token": csrf})
        assert response.status_code == 303
    queued = list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == admin.RECONCILE_TOPIC)))
    assert len(queued) == 1 and queued[0].payload == {"day": today().isoformat()}
    page = client.get(response.headers["Location"]).text
    assert "对账已交给后台任务" in page and "没有差异" in page
    assert outbox.run(db.session, queued[0].id).state == "done"
    page = client.get("/admin/courier/reconciliation/").text
    assert "承运商没有该订单" in page and "对账已交给后台任务" not in page
    assert db.session.scalar(sa.select(AuditEntry.action).where(AuditEntry.action == "courier.reconcile.queue"))

# ===================================================================== carrier accounts

KEY, CUSTOMER, SECRET = "Kd100KeyAbCdEfGh1234", "CUSTOMER0000A1B2C3D4", "s3cr3t-value-9f8e7d6c"


def test_carrier_credentials_are_never_shown_again_after_saving(db, boss):
    client, csrf = boss
    form = {"carrier": "kuaidi100", "credential_key": KEY, "credential_customer": CUSTOMER,
            "credential_secret": SECRET, "setting_company": "ems", "csrf_token": csrf}
    saved = client.post("/admin/courier/accounts/", data=form)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("#carrier-kuaidi100")
    for value in (KEY, CUSTOMER, SECRET):
        assert value not in saved.headers["Location"]
    page = client.get(saved.headers["Location"]).text
    assert "账号已保存" in page and "…1234" in page and "…C3D4" in page and "…7d6c" in page
    for value in (KEY, CUSTOMER, SECRET, KEY[:-4], SECRET[:-4]):
        assert value not in page
    account = db.session.scalar(sa.select(CarrierAccount))
    assert KEY not in account.credentials_encrypted and SECRET not in account.credentials_encrypted
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "courier.carrier_account.create"))
    assert entry.actor == "boss" and SECRET not in str(entry.details) and KEY not in str(entry.details)
    # Saving settings alone keeps the credentials; an empty credential field keeps the stored one.
    again = client.post("/admin/courier/accounts/", data={"carrier": "kuaidi100", "setting_company": "youzhengguonei",
                                                          "csrf_token": csrf})
    assert again.status_code == 303
    db.session.expire_all()
    from kiosk_backend.courier import carriers
    stored = carriers.credentials_of(db.session.scalar(sa.select(CarrierAccount)))
    assert (stored["key"], stored["secret"]) == (KEY, SECRET)


def test_a_refused_account_form_names_the_field_and_echoes_no_credential(db, boss):
    client, csrf = boss
    refused = client.post("/admin/courier/accounts/", data={"carrier": "kuaidi100", "credential_key": KEY,
                                                            "credential_customer": CUSTOMER, "csrf_token": csrf})
    assert refused.status_code == 422
    assert re.search(r'id="kuaidi100-credential_secret"[^>]*>.*?field-error', refused.text, re.S)
    assert KEY not in refused.text and CUSTOMER not in refused.text
    bad = client.post("/admin/courier/accounts/", data={"carrier": "kuaidi100", "credential_key": KEY,
                                                        "credential_customer": CUSTOMER, "credential_secret": SECRET,
                                                        "setting_callback_url": "ftp://example.com/x",
                                                        "csrf_token": csrf})
    assert bad.status_code == 422 and "https" in bad.text and SECRET not in bad.text
    assert 'value="ftp://example.com/x"' in bad.text  # a setting is no secret: kept for correcting
    unknown = client.post("/admin/courier/accounts/", data={"carrier": "sf", "csrf_token": csrf})
    assert unknown.status_code == 422 and "应为 demo、kuaidi100 之一" in unknown.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CarrierAccount)) == 0


def test_rotating_keeps_the_old_salt_for_pushes_and_shows_only_the_new_last_four(db, boss):
    from kiosk_backend.courier import carriers

    client, csrf = boss
    client.post("/admin/courier/accounts/", data={"carrier": "kuaidi100", "credential_key": KEY,
                                                  "credential_customer": CUSTOMER, "credential_secret": SECRET,
                                                  "csrf_token": csrf})
    old_salt = carriers.credentials_of(db.session.scalar(sa.select(CarrierAccount)))["salt"]
    new_secret = "n3w-secret-value-0a1b"
    rotated = client.post("/admin/courier/accounts/kuaidi100/rotate",
                          data={"credential_secret": new_secret, "new_salt": "1", "csrf_token": csrf})
    assert rotated.status_code == 303
    page = client.get(rotated.headers["Location"]).text
    assert "凭据已更换" in page and "…0a1b" in page and new_secret not in page and "另保留 1 个旧 salt" in page
    db.session.expire_all()
    stored = carriers.credentials_of(db.session.scalar(sa.select(CarrierAccount)))
    assert stored["secret"] == new_secret and stored["salt"] != old_salt and stored["previous_salts"] == [old_salt]
    nothing = client.post("/admin/courier/accounts/kuaidi100/rotate", data={"csrf_token": csrf})
    assert nothing.status_code == 422 and "没有要更换的凭据" in nothing.text
    assert client.post("/admin/courier/accounts/demo/rotate", data={"csrf_token": csrf}).status_code == 404
    off = client.post("/admin/courier/accounts/kuaidi100/disable", data={"csrf_token": csrf})
    assert off.status_code == 303 and "已停用" in client.get(off.headers["Location"]).text


def test_a_booking_made_and_tracked_by_the_services_reads_the_same_on_the_console(db, boss, make_booking):
    from kiosk_backend.courier import services
    from kiosk_backend.courier.gateway import CarrierEvent

    client, _ = boss
    booking = make_booking()
    services.record_tracking(db.session, booking, [CarrierEvent(
        status="accepted", raw_text="【九江市浔阳营业厅】已收寄", occurred_at=utcnow(), raw_code="demo.accept",
        location="九江市浔阳区", event_id="E1", waybill_no="1100000000017")], source="push")
    db.session.commit()
    assert orders_of(client.get("/admin/courier/?status=accepted").text) == [booking.order_no]
    page = client.get(f"/admin/courier/bookings/{booking.order_no.lower()}").text
    assert "【九江市浔阳营业厅】已收寄" in page and "推送" in page and "1100000000017" in page
    assert "已预约上门/网点揽收" in page and "本系统" in page  # the booking's own first entry
    assert "courier.place_order" in page and "正在向快递公司下单" in page  # the order waits for the worker
    assert "张*" in page and "李*" in page and "13900139000" not in page and "139****9000" in page


def test_the_words_built_from_data_exist_in_both_languages():
    from kiosk_backend.core.i18n import LANGUAGES, catalogue
    from kiosk_backend.courier import carriers, services

    keys = [f"admin.courier.tab.{k}" for k in ("bookings", "slots", "accounts", "authorities", "reconciliation")]
    keys += [f"admin.courier.channel.{c}" for c in services.CHANNELS]
    keys += [f"admin.courier.source.{s}" for s in services.SOURCES]
    keys += [f"admin.courier.carrier_name.{c}" for c in carriers.CARRIERS]
    keys += [f"admin.courier.account_help.{c}" for c in carriers.CARRIERS]
    keys += [f"admin.courier.done.account.{d}" for d in ("saved", "rotated", "enabled", "disabled")]
    keys += [f"admin.courier.done.authority.{d}" for d in ("created", "saved")]
    keys += [f"admin.courier.finding.kind.{k}" for k in ("missing_at_carrier", "unknown_to_us", "status_differs",
                                                         "waybill_differs")]
    keys += [f"admin.courier.{side}" for side in ("sender", "recipient")]
    keys += [f"admin.audit_action.{a}" for a in ("courier.slot.open", "courier.slot.capacity", "courier.slot.times",
                                                 "courier.authority.create", "courier.authority.update",
                                                 "courier.finding.resolve", "courier.reconcile.queue")]
    missing = [k for k in keys if k not in catalogue() or not all(catalogue()[k].get(lang) for lang in LANGUAGES)]
    assert not missing, missing


@pytest.mark.parametrize("path", ["/admin/courier/bookings/KB2026%00", "/admin/courier/accounts/x%00y/disable",
                                  "/admin/courier/accounts/x%00y/rotate", "/admin/courier/accounts/sf/enable"])
def test_odd_names_in_a_path_are_404_never_a_database_error(db, boss, path):
    client, csrf = boss
    response = client.get(path) if "/bookings/" in path else client.post(path, data={"csrf_token": csrf})
    assert response.status_code == 404
