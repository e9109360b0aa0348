"""The demo carrier: a deterministic schedule with China Post-like traces from the division
names, idempotent orders with EMS-like waybills, cancellation before pickup, the demo tariff,
its orders by day, and its view of our bookings (on SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk_backend.courier.demo_carrier import (
    BookingLedger,
    DemoCarrier,
    DemoParcel,
    MemoryLedger,
    task_id_for,
    waybill_for,
)
from kiosk_backend.courier.gateway import CarrierRejected, OrderRequest, Party, PushRejected, QuoteRequest
from kiosk_backend.courier.states import Status
from tests.conftest import MONDAY_10, Clock
from tests.courier.carrier_support import booking_row

JIUJIANG = Party(name="九江市浔阳区政务服务中心", mobile="13800138000", province_code="36", city_code="3604",
                 county_code="360403", province="江西省", city="九江市", county="浔阳区", address="浔阳路 118 号")
BEIJING = Party(name="张三", mobile="13900139000", province_code="11", city_code="1101", county_code="110105",
                province="北京市", city="市辖区", county="朝阳区", address="朝阳路 1 号")
NANCHANG = Party(name="李四", mobile="13700137000", province_code="36", city_code="3601", county_code="360102",
                 province="江西省", city="南昌市", county="东湖区", address="八一大道 1 号")


def parcel(serial=7, order_no="KB20260302000007", **overrides) -> DemoParcel:
    values = dict(serial=serial, order_no=order_no, placed_at=MONDAY_10, sender_city_code="3604",
                  sender_county_code="360403", recipient_city_code="1101", recipient_county_code="110105")
    values.update(overrides)
    return DemoParcel(**values)


def request(order_no="KB20260302000007") -> OrderRequest:
    return OrderRequest(order_no=order_no, sender=JIUJIANG, recipient=BEIJING, item_name="证照", pieces=1,
                        weight_grams=300, insured_value_fen=0, payer="government", pickup_start=None, pickup_end=None)


@pytest.fixture
def clock():
    return Clock(MONDAY_10)


@pytest.fixture
def ledger():
    return MemoryLedger([parcel()])


@pytest.fixture
def carrier(ledger, clock):
    return DemoCarrier(ledger=ledger, step_minutes=2, now=clock)


def test_the_parcel_moves_through_the_states_one_step_at_a_time_with_china_post_traces(carrier, clock):
    waybill = waybill_for(7)
    seen = []
    for _ in range(6):
        seen.append([(e.status, e.raw_text) for e in carrier.fetch_tracking(waybill_no=waybill, company="ems",
                                                                               phone=None)])
        clock.advance(minutes=2)
    assert seen[0] == []
    assert seen[1] == [(Status.ACCEPTED, "【九江市浔阳营业厅】已收寄")]
    assert seen[2][-1] == (Status.IN_TRANSIT, "离开【九江市邮件处理中心】，下一站【北京市邮件处理中心】")
    assert seen[3][-1] == (Status.OUT_FOR_DELIVERY, "【北京市朝阳投递支局】正在投递")
    assert seen[4][-1] == (Status.DELIVERED, "【北京市朝阳投递支局】已妥投")
    assert seen[5] == seen[4]  # nothing after 已签收


def test_each_event_keeps_its_time_code_place_and_a_stable_id(carrier, clock):
    clock.advance(hours=1)
    events = carrier.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None)
    assert [e.occurred_at for e in events] == [MONDAY_10 + timedelta(minutes=2 * n) for n in (1, 2, 3, 4)]
    assert [e.raw_code for e in events] == ["demo.accept", "demo.depart", "demo.deliver", "demo.signed"]
    assert (events[0].location, events[-1].location) == ("九江市浔阳区", "北京市朝阳区")
    assert {(e.order_no, e.waybill_no, e.company) for e in events} == {("KB20260302000007", waybill_for(7), "ems")}
    clock.advance(hours=1)
    assert [e.event_id for e in carrier.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None)] == \
        [e.event_id for e in events]


def test_within_one_city_the_next_stop_is_the_delivery_branch(clock):
    local = DemoCarrier(ledger=MemoryLedger([parcel(recipient_city_code="3604", recipient_county_code="360402")]),
                        now=clock)
    clock.advance(minutes=4)
    events = local.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None)
    assert events[-1].raw_text == "离开【九江市邮件处理中心】，下一站【九江市濂溪投递支局】"


def test_the_step_comes_from_the_setting(ledger, clock):
    slow = DemoCarrier(ledger=ledger, step_minutes=30, now=clock)
    clock.advance(minutes=29)
    assert slow.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None) == []
    clock.advance(minutes=1)
    assert [e.status for e in slow.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None)] == [Status.ACCEPTED]
    with pytest.raises(ValueError):
        DemoCarrier(ledger=ledger, step_minutes=0)


def test_an_unknown_waybill_has_no_events(carrier):
    assert carrier.fetch_tracking(waybill_no="1199999999999", company=None, phone=None) == []


def test_placing_an_order_is_idempotent_with_an_ems_like_13_digit_waybill(carrier, ledger, clock):
    first = carrier.create_order(request())
    clock.advance(minutes=1)
    again = carrier.create_order(request())
    assert (first.task_id, first.waybill_no) == (again.task_id, again.waybill_no) == (task_id_for("KB20260302000007"),
                                                                                     waybill_for(7))
    assert len(first.waybill_no) == 13 and first.waybill_no.isdigit() and first.waybill_no.startswith("11")
    assert not first.already_existed and first.status == Status.PENDING_PICKUP
    ledger.add(parcel(task_id=first.task_id))  # our booking stored it
    assert carrier.create_order(request()).already_existed


def test_an_order_for_no_booking_is_refused(carrier):
    with pytest.raises(CarrierRejected) as refused:
        carrier.create_order(request("KB404"))
    assert refused.value.code == "unknown_order"


def test_waybills_are_unique_per_booking():
    assert len({waybill_for(serial) for serial in range(1, 100_001)}) == 100_000


def test_an_order_is_cancelled_before_pickup_also_twice_and_not_after(carrier, ledger, clock):
    carrier.cancel_order("KB20260302000007", task_id=None, reason="居民取消")
    carrier.cancel_order("KB20260302000007", task_id=None, reason="居民取消")
    clock.advance(minutes=2)
    with pytest.raises(CarrierRejected) as refused:
        carrier.cancel_order("KB20260302000007", task_id=None, reason="居民取消")
    assert refused.value.code == "already_picked_up"
    # Cancelled by the resident in time: the carrier's call may come later and still succeeds.
    ledger.add(parcel(cancelled_at=MONDAY_10 + timedelta(minutes=1)))
    clock.advance(minutes=10)
    carrier.cancel_order("KB20260302000007", task_id=None, reason="居民取消")
    with pytest.raises(CarrierRejected):
        carrier.cancel_order("KB404", task_id=None, reason="x")


def test_a_cancelled_parcel_stops_with_one_cancellation_event(carrier, ledger, clock):
    ledger.add(parcel(cancelled_at=MONDAY_10 + timedelta(minutes=1)))
    clock.advance(hours=1)
    events = carrier.fetch_tracking(waybill_no=waybill_for(7), company=None, phone=None)
    assert [(e.status, e.raw_text, e.occurred_at) for e in events] == [
        (Status.CANCELLED, "【九江市浔阳营业厅】寄件订单已取消", MONDAY_10 + timedelta(minutes=1))]


def test_the_demo_sends_no_pushes(carrier):
    with pytest.raises(PushRejected) as refused:
        carrier.parse_push(body=b"param=x", headers={}, form={"param": "x"})
    assert refused.value.reason == "malformed"


def test_the_demo_tariff_is_first_kilo_and_each_further_kilo_started(carrier):
    in_province = carrier.quote(QuoteRequest(sender=JIUJIANG, recipient=NANCHANG, weight_grams=1000))
    across = carrier.quote(QuoteRequest(sender=JIUJIANG, recipient=BEIJING, weight_grams=2300))
    assert (in_province.price_fen, in_province.eta_days, in_province.company) == (1000, 2, "ems")
    assert (across.price_fen, across.eta_days) == (1500 + 2 * 500, 3)


def test_orders_by_day_are_those_created_that_day_in_china_time(clock):
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Beijing, still Monday
    next_day = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on Tuesday in Beijing
    ledger = MemoryLedger([parcel(), parcel(8, "KB20260302000008", placed_at=late),
                           parcel(9, "KB20260303000009", placed_at=next_day)])
    clock.advance(hours=20)
    orders = DemoCarrier(ledger=ledger, now=clock).list_orders(MONDAY_10.date())
    assert [(o.order_no, o.waybill_no, o.status) for o in orders] == [
        ("KB20260302000007", waybill_for(7), Status.DELIVERED), ("KB20260302000008", waybill_for(8), Status.DELIVERED)]


# ------------------------------------------------------------------ reading our bookings

def test_the_demo_carrier_reads_its_schedule_from_our_bookings(db, site, clock):
    booking = booking_row(db.session, site, created_at=MONDAY_10)
    carrier = DemoCarrier(ledger=BookingLedger(db.session), now=clock)
    placed = carrier.create_order(request(booking.order_no))
    assert placed.waybill_no == waybill_for(booking.id) and not placed.already_existed
    booking.carrier_task_id, booking.waybill_no = placed.task_id, placed.waybill_no
    db.session.flush()
    assert carrier.create_order(request(booking.order_no)).already_existed
    clock.advance(minutes=5)
    events = carrier.fetch_tracking(waybill_no=placed.waybill_no, company="ems", phone=None)
    assert [e.status for e in events] == [Status.ACCEPTED, Status.IN_TRANSIT]
    assert [o.order_no for o in carrier.list_orders(MONDAY_10.date())] == [booking.order_no]


def test_bookings_of_other_carriers_or_not_yet_placed_are_not_the_demos(db, site, clock):
    other = booking_row(db.session, site, created_at=MONDAY_10, carrier="kuaidi100", waybill_no="1100000000001")
    pending = booking_row(db.session, site, created_at=MONDAY_10)
    ledger = BookingLedger(db.session)
    assert ledger.by_order(other.order_no) is None and ledger.by_waybill("1100000000001") is None
    assert ledger.by_order(pending.order_no).serial == pending.id
    assert DemoCarrier(ledger=ledger, now=clock).list_orders(MONDAY_10.date()) == []
