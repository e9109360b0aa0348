"""Courier services: booking (every bad field named), quotes, changing the slot, cancelling,
tracking that never goes backwards, reading one's own bookings only, prefilled forms, the
view, and the address book (courier/services.py)."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications.services import ApplicationNotFound
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict, Invalid, NotFound
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.courier import services
from kiosk_backend.courier.gateway import CarrierRejected, CarrierUnavailable
from kiosk_backend.courier.models import Booking, HandlingAuthority, PickupSlot, SavedAddress
from kiosk_backend.courier.services import BookingNotFound, NotCancellable, PartyIn, SlotFull
from kiosk_backend.identity import residents
from tests.conftest import APPLICANT_PHONE, item_row

from .conftest import (
    RECIPIENT_MOBILE,
    SENDER_MOBILE,
    actor_of,
    booking_in,
    china_today,
    ensure_authority,
    event,
    party,
    recipient,
)


def messages(db, topic: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == topic)
                                   .order_by(OutboxMessage.id)))


def slot_taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def errors_of(exc: Invalid) -> dict:
    return exc.errors


def add_authority(db, **overrides) -> HandlingAuthority:
    values = dict(org_name="九江市公安局", region_code="360400", recipient_name="证件窗口", phone="0792-8221234",
                  province_code="36", city_code="3604", county_code="360403", address="长虹大道 88 号", postcode="332000")
    values.update(overrides)
    authority = HandlingAuthority(**values)
    db.session.add(authority)
    db.session.commit()
    return authority


# ===================================================================== booking

def test_a_booking_is_saved_pending_with_sealed_mobiles_a_timeline_entry_and_one_order_message(
        db, make_slot, make_booking, booker):
    slot = make_slot(capacity=3)
    booking = make_booking(slot=slot)
    assert re.fullmatch(r"KB\d{8}[0-9A-Z]{8}", booking.order_no)
    assert booking.order_no[2:10] == china_today().strftime("%Y%m%d")
    assert (booking.status, booking.order_state, booking.channel) == ("pending_pickup", "pending", "mobile")
    assert booking.resident_id == booker.id and booking.carrier == "demo"
    assert booking.sender_mobile_masked == "139****9000" and booking.recipient_mobile_masked == "137****7000"
    assert SENDER_MOBILE not in booking.sender_mobile_encrypted
    assert services.mobile_of(booking, "sender") == SENDER_MOBILE
    assert services.mobile_of(booking, "recipient") == RECIPIENT_MOBILE
    assert [(e.status, e.source, e.applied) for e in booking.events] == [("pending_pickup", "ours", True)]
    assert slot_taken(db, slot) == 1
    [message] = messages(db, services.PLACE_TOPIC)
    assert message.key == f"booking:{booking.id}" and message.payload == {"booking_id": booking.id}


def test_mobile_numbers_reach_neither_the_audit_log_nor_the_log(db, make_slot, booker, caplog):
    caplog.set_level(logging.DEBUG)
    slot = make_slot()
    booking = services.book(db.session, booking_in(slot), resident=booker, channel="kiosk", actor=actor_of(booker))
    db.session.commit()
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "courier.book"))
    assert entry.target == f"booking:{booking.order_no}"
    recorded = json.dumps(entry.details, ensure_ascii=False) + caplog.text
    for number in (SENDER_MOBILE, RECIPIENT_MOBILE, "深南东路"):
        assert number not in recorded


BAD_FIELDS = [
    (dict(purpose="parcel"), ("purpose",)),
    (dict(item_type="food"), ("item_type",)),
    (dict(payer="nobody"), ("payer",)),
    (dict(pickup_mode="drone"), ("pickup_mode",)),
    (dict(pieces=0), ("pieces",)),
    (dict(pieces=21), ("pieces",)),
    (dict(pieces=True), ("pieces",)),
    (dict(weight_grams=0), ("weight_grams",)),
    (dict(weight_grams=30_001), ("weight_grams",)),
    (dict(insured_value_fen=-1), ("insured_value_fen",)),
    (dict(insured_value_fen=5_000_001), ("insured_value_fen",)),
    (dict(carrier="sf"), ("carrier",)),
    (dict(company="EMS!"), ("company",)),
    (dict(sender=party(mobile="12345678901")), ("sender", "mobile")),
    (dict(sender=party(mobile=None)), ("sender", "mobile")),
    (dict(sender=party(name="  ")), ("sender", "name")),
    (dict(sender=party(name="张" * 51)), ("sender", "name")),
    (dict(sender=party(name="张\x00三")), ("sender", "name")),
    (dict(sender=party(address="x")), ("sender", "address")),
    (dict(sender=party(address="路" * 201)), ("sender", "address")),
    (dict(sender=party(postcode="3320")), ("sender", "postcode")),
    (dict(recipient=recipient(county_code="360403")), ("recipient", "county_code")),
    (dict(recipient=recipient(city_code="3604")), ("recipient", "city_code")),
    (dict(recipient=recipient(province_code="99")), ("recipient", "province_code")),
    (dict(recipient=recipient(county_code="")), ("recipient", "county_code")),
    (dict(purpose="result_to_applicant"), ("application_number",)),
    (dict(application_number="no!"), ("application_number",)),
    (dict(slot_id=0), ("slot_id",)),
]


@pytest.mark.parametrize("change, path", BAD_FIELDS)
def test_every_bad_field_is_refused_by_name_and_nothing_is_taken(db, make_slot, booker, change, path):
    slot = make_slot()
    with pytest.raises(Invalid) as refused:
        services.book(db.session, booking_in(slot, **change), resident=booker, channel="mobile", actor=actor_of(booker))
    node = refused.value.errors
    for part in path:
        node = node[part]
    assert node and refused.value.message_zh
    db.session.rollback()
    assert slot_taken(db, slot) == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0


def test_all_problems_are_named_at_once(db, make_slot, booker):
    slot = make_slot()
    with pytest.raises(Invalid) as refused:
        services.book(db.session, booking_in(slot, pieces=0, sender=party(mobile="1"), recipient=recipient(address="")),
                      resident=booker, channel="mobile", actor=actor_of(booker))
    errors = refused.value.errors
    assert {"pieces", "sender", "recipient"} <= set(errors)
    assert "and 2 more" in refused.value.message


def test_the_residents_own_mobile_is_read_server_side_and_never_typed(db, make_slot, booker):
    slot = make_slot()
    data = booking_in(slot, sender=party(mobile=None), sender_uses_resident_mobile=True)
    booking = services.book(db.session, data, resident=booker, channel="kiosk", actor=actor_of(booker))
    assert services.mobile_of(booking, "sender") == APPLICANT_PHONE
    assert booking.sender_mobile_masked == "138****8000"


def test_a_typed_number_with_the_own_number_flag_or_a_missing_own_number_is_refused(db, make_slot, make_booker):
    slot = make_slot()
    nobody = make_booker("王五", id_number=None, phone=None)
    for resident, sender in ((nobody, party(mobile=None)), (nobody, party())):
        with pytest.raises(Invalid) as refused:
            services.book(db.session, booking_in(slot, sender=sender, sender_uses_resident_mobile=True),
                          resident=resident, channel="mobile", actor=actor_of(resident))
        assert "mobile" in refused.value.errors["sender"]


def test_an_office_line_is_accepted_for_an_authority(db, make_slot, booker):
    slot = make_slot()
    data = booking_in(slot, recipient=recipient(name="深圳市公安局（证件窗口）", mobile="0755-84465000"))
    booking = services.book(db.session, data, resident=booker, channel="mobile", actor=actor_of(booker))
    assert booking.recipient_mobile_masked == "0755-****5000"
    assert services.mobile_of(booking, "recipient") == "0755-84465000"


def test_a_number_from_the_address_book_is_used_without_being_shown(db, make_slot, booker, make_booker):
    slot = make_slot()
    entry = services.save_address(db.session, booker, recipient(mobile="13500135000"), label="单位",
                                  actor=actor_of(booker))
    data = booking_in(slot, recipient=recipient(mobile=None), recipient_address_id=entry.id)
    booking = services.book(db.session, data, resident=booker, channel="mobile", actor=actor_of(booker))
    assert services.mobile_of(booking, "recipient") == "13500135000"
    other = make_booker("李四", id_number="440524188001010014", phone="13600136000")
    with pytest.raises(Invalid) as refused:
        services.book(db.session, data, resident=other, channel="mobile", actor=actor_of(other))
    assert "address_id" in refused.value.errors["recipient"]


def test_an_application_leg_is_linked_to_the_residents_own_application_only(db, make_slot, booker, make_booker,
                                                                           make_application):
    slot = make_slot()
    application = make_application("concluded")
    ensure_authority(db, application.number)
    data = booking_in(slot, purpose="result_to_applicant", application_number=application.number.lower())
    booking = services.book(db.session, data, resident=booker, channel="kiosk", actor=actor_of(booker))
    assert booking.application_id == application.id
    stranger = make_booker("李四", id_number="440524188001010014")
    for number in (application.number, "NOSUCH0001"):
        with pytest.raises(ApplicationNotFound):
            services.book(db.session, replace(data, application_number=number), resident=stranger, channel="mobile",
                          actor=actor_of(stranger))


def test_a_helper_books_for_someone_not_logged_in(db, make_slot, make_staff, make_application):
    slot = make_slot()
    helper = make_staff("helper", role="helper")
    application = make_application("accepted")
    ensure_authority(db, application.number)
    data = booking_in(slot, purpose="materials_to_authority", application_number=application.number)
    booking = services.book(db.session, data, resident=None, channel="helper", helper=helper, actor="helper")
    assert booking.helper_id == helper.id and booking.resident_id is None
    with pytest.raises(ValueError):
        services.book(db.session, data, resident=None, channel="mobile", actor="x")


def test_a_slot_of_another_site_a_past_one_and_an_unknown_site_are_refused(db, make_slot, make_site, booker, clock):
    from tests.conftest import SITE2

    other = make_slot(site=make_site(**SITE2))
    mine = make_slot()
    today = clock().date()  # 2 March 2026, 10:00 in China
    over = make_slot(day=today, starts="08:00", ends="09:30")
    yesterday = make_slot(day=today - timedelta(days=1))
    for slot_id, site_id in ((other.id, mine.site_id), (over.id, over.site_id), (yesterday.id, yesterday.site_id),
                             (10**6, mine.site_id)):
        with pytest.raises(Invalid) as refused:
            services.book(db.session, booking_in(mine, slot_id=slot_id, site_id=site_id), resident=booker,
                          channel="mobile", actor=actor_of(booker), now=clock)
        assert "slot_id" in refused.value.errors
        db.session.rollback()
    with pytest.raises(NotFound):
        services.book(db.session, booking_in(mine, site_id=10**6), resident=booker, channel="mobile",
                      actor=actor_of(booker))
    later_today = make_slot(day=today, starts="10:00", ends="12:00")
    booking = services.book(db.session, booking_in(later_today), resident=booker, channel="mobile",
                            actor=actor_of(booker), now=clock)
    assert booking.slot_id == later_today.id


def test_a_full_slot_is_a_409(db, make_slot, booker):
    slot = make_slot(capacity=2, taken=2)
    with pytest.raises(SlotFull) as refused:
        services.book(db.session, booking_in(slot), resident=booker, channel="mobile", actor=actor_of(booker))
    assert refused.value.status_code == 409 and "slot_id" in refused.value.errors


def test_the_configured_carrier_is_the_default(app, db, make_slot, booker):
    slot = make_slot()
    app.config["KIOSK_COURIER_CARRIER"] = "kuaidi100"
    try:
        booking = services.book(db.session, booking_in(slot), resident=booker, channel="api", actor=actor_of(booker))
    finally:
        app.config.pop("KIOSK_COURIER_CARRIER")
    assert booking.carrier == "kuaidi100"


# ===================================================================== quotes

def test_a_quote_comes_from_the_carrier_with_division_names(db, make_slot, booker, fake_gateway):
    quote = services.quote(db.session, booking_in(make_slot(), weight_grams=800), resident=booker)
    assert quote.price_fen == 1208 and quote.company == "ems"
    [asked] = fake_gateway.quotes
    assert (asked.sender.province, asked.sender.city, asked.sender.county) == ("江西省", "九江市", "浔阳区")
    assert asked.recipient.county == "罗湖区" and asked.weight_grams == 800


def test_a_carrier_that_does_not_answer_a_quote_is_a_503_that_is_also_carrier_unavailable(
        db, make_slot, booker, fake_gateway):
    fake_gateway.failures = [CarrierUnavailable("timeout")]
    with pytest.raises(CarrierUnavailable) as refused:
        services.quote(db.session, booking_in(make_slot()), resident=booker)
    assert refused.value.status_code == 503 and refused.value.headers["Retry-After"]
    fake_gateway.failures = [CarrierRejected("超出服务范围", code="out_of_area")]
    with pytest.raises(Invalid):
        services.quote(db.session, booking_in(make_slot(starts="14:00")), resident=booker)


def test_a_bad_quote_request_never_reaches_the_carrier(db, make_slot, booker, fake_gateway):
    with pytest.raises(Invalid):
        services.quote(db.session, booking_in(make_slot(), sender=party(mobile="1")), resident=booker)
    assert fake_gateway.quotes == []


# ===================================================================== changing the slot

def test_changing_the_slot_takes_the_new_place_and_gives_the_old_one_back(db, make_slot, make_booking):
    first, second = make_slot(capacity=1), make_slot(starts="14:00", ends="16:00", capacity=1)
    booking = make_booking(slot=first)
    services.change_slot(db.session, booking, second.id, actor="resident:1")
    db.session.commit()
    assert booking.slot_id == second.id and booking.version == 2
    assert (slot_taken(db, first), slot_taken(db, second)) == (0, 1)
    assert db.session.scalar(sa.select(AuditEntry.details).where(AuditEntry.action == "courier.change_slot")) == {
        "from": first.id, "to": second.id}


def test_a_full_new_slot_changes_nothing(db, make_slot, make_booking):
    first, full = make_slot(capacity=1), make_slot(starts="14:00", ends="16:00", capacity=1, taken=1)
    booking = make_booking(slot=first)
    with pytest.raises(SlotFull):
        services.change_slot(db.session, booking, full.id, actor="resident:1")
    db.session.rollback()
    assert (slot_taken(db, first), slot_taken(db, full)) == (1, 1)


def test_the_same_slot_again_changes_nothing(db, make_slot, make_booking):
    booking = make_booking()
    assert services.change_slot(db.session, booking, booking.slot_id, actor="x").version == 1


def test_after_pickup_or_for_a_scheduled_home_pickup_the_slot_cannot_change(db, make_slot, make_booking):
    other = make_slot(starts="14:00", ends="16:00")
    picked = make_booking()
    services.record_tracking(db.session, picked, [event("accepted", utcnow())], source="push")
    with pytest.raises(NotCancellable):
        services.change_slot(db.session, picked, other.id, actor="x")
    home = make_booking(pickup_mode="home")
    db.session.execute(sa.update(Booking).where(Booking.id == home.id).values(order_state="placed"))
    db.session.refresh(home)
    with pytest.raises(Conflict) as refused:
        services.change_slot(db.session, home, other.id, actor="x")
    assert refused.value.errors == {"slot_id": ["scheduled"]}


# ===================================================================== cancelling

def test_cancelling_before_pickup_gives_the_place_back_and_asks_the_carrier_to_cancel(db, make_slot, make_booking):
    slot = make_slot(capacity=1)
    booking = make_booking(slot=slot)
    services.cancel(db.session, booking, actor="resident:1", reason="不寄了")
    db.session.commit()
    assert (booking.status, booking.order_state) == ("cancelled", "cancelling")
    # The place is given back when the carrier confirms the cancel (test_jobs.py), not before.
    assert booking.cancelled_at is not None and slot_taken(db, slot) == 1
    [message] = messages(db, services.CANCEL_TOPIC)
    assert message.payload == {"booking_id": booking.id, "reason": "不寄了"}
    assert [e.status for e in booking.events] == ["pending_pickup", "cancelled"]
    assert not services.view(booking)["cancellable"]


def test_after_pickup_or_once_cancelled_a_booking_cannot_be_cancelled(db, make_slot, make_booking):
    slot = make_slot(capacity=2)
    picked = make_booking(slot=slot)
    services.record_tracking(db.session, picked, [event("accepted", utcnow())], source="push")
    with pytest.raises(NotCancellable):
        services.cancel(db.session, picked, actor="x", reason="")
    twice = make_booking(slot=slot)
    services.cancel(db.session, twice, actor="x")
    with pytest.raises(NotCancellable):
        services.cancel(db.session, twice, actor="x")
    db.session.commit()
    assert slot_taken(db, slot) == 2  # the cancelled one's until the carrier confirms
    assert len(messages(db, services.CANCEL_TOPIC)) == 1


def test_a_cancel_reason_is_one_short_line(db, make_booking):
    booking = make_booking()
    for reason in ("很" * 101, "第一行\n第二行"):
        with pytest.raises(Invalid):
            services.cancel(db.session, booking, actor="x", reason=reason)


# ===================================================================== tracking

def test_events_move_the_parcel_forward_in_the_order_they_happened(db, make_booking, sms_sender):
    booking = make_booking()
    t = utcnow()
    applied = services.record_tracking(db.session, booking, [
        event("in_transit", t + timedelta(hours=5), "离开【九江邮件处理中心】，下一站【深圳邮件处理中心】"),
        event("accepted", t + timedelta(hours=1), "【九江市浔阳路营业厅】已收寄", location="九江市", raw_code="10",
              waybill_no="EA000000001CN", company="ems"),
    ], source="push")
    db.session.commit()
    assert applied == 2
    assert (booking.status, booking.status_at) == ("in_transit", t + timedelta(hours=5))
    assert booking.waybill_no == "EA000000001CN" and booking.carrier_company == "ems"
    assert booking.last_tracked_at is not None
    assert [(e.status, e.source, e.applied) for e in booking.events] == [
        ("pending_pickup", "ours", True), ("accepted", "push", True), ("in_transit", "push", True)]
    accepted = booking.events[1]
    assert (accepted.raw_code, accepted.location, accepted.raw_text) == ("10", "九江市", "【九江市浔阳路营业厅】已收寄")


def test_a_replayed_or_duplicated_event_is_kept_once(db, make_booking):
    booking = make_booking()
    t = utcnow()
    pushed = [event("accepted", t, event_id="e-1"), event("in_transit", t + timedelta(hours=2))]
    assert services.record_tracking(db.session, booking, pushed, source="push") == 2
    assert services.record_tracking(db.session, booking, pushed + pushed, source="poll") == 0
    db.session.commit()
    assert len(booking.events) == 3


def test_an_older_event_arriving_late_is_recorded_but_never_moves_the_parcel_back(db, make_booking):
    booking = make_booking()
    t = utcnow()
    services.record_tracking(db.session, booking, [event("out_for_delivery", t + timedelta(days=1))], source="push")
    assert services.record_tracking(db.session, booking, [event("in_transit", t + timedelta(hours=3))],
                                    source="poll") == 0
    assert booking.status == "out_for_delivery"
    late = [e for e in booking.events if e.status == "in_transit"]
    assert len(late) == 1 and late[0].applied is False


def test_a_delivered_parcel_stays_delivered_and_a_detour_ends_with_the_next_attempt(db, make_booking):
    booking = make_booking()
    t = utcnow()
    services.record_tracking(db.session, booking, [event("accepted", t), event("out_for_delivery", t + timedelta(1)),
                                                   event("failed_delivery", t + timedelta(1, 3600))], source="push")
    assert booking.status == "failed_delivery"
    services.record_tracking(db.session, booking, [event("out_for_delivery", t + timedelta(2))], source="push")
    assert booking.status == "out_for_delivery"
    services.record_tracking(db.session, booking, [event("delivered", t + timedelta(2, 3600), "【深圳罗湖投递支局】已妥投")],
                             source="push")
    assert services.record_tracking(db.session, booking, [event("in_transit", t + timedelta(3))], source="poll") == 0
    assert booking.status == "delivered"


def test_the_resident_hears_of_pickup_delivery_and_signature_once_each_the_furthest_of_a_batch(db, make_booking):
    booking = make_booking()
    t = utcnow()
    services.record_tracking(db.session, booking, [event("accepted", t)], source="push")
    services.record_tracking(db.session, booking, [event("accepted", t, "again")], source="poll")
    services.record_tracking(db.session, booking, [event("in_transit", t + timedelta(hours=1)),
                                                   event("out_for_delivery", t + timedelta(days=1)),
                                                   event("delivered", t + timedelta(days=1, hours=2))],
                             source="poll")
    db.session.commit()
    notices = messages(db, services.NOTIFY_TOPIC)
    assert [(m.key, m.payload["status"]) for m in notices] == [
        (f"booking:{booking.id}:accepted", "accepted"), (f"booking:{booking.id}:delivered", "delivered")]


def test_the_carrier_event_finds_its_booking_by_order_number_or_waybill(db, make_booking):
    booking = make_booking()
    db.session.execute(sa.update(Booking).values(waybill_no="EA000000009CN"))
    db.session.commit()
    t = utcnow()
    assert services.find_by_carrier_event(db.session, "demo", event("accepted", t, order_no=booking.order_no)) == booking
    assert services.find_by_carrier_event(db.session, "demo", event("accepted", t, waybill_no="EA000000009CN")) == booking
    assert services.find_by_carrier_event(db.session, "kuaidi100", event("accepted", t, order_no=booking.order_no)) is None
    assert services.find_by_carrier_event(db.session, "demo", event("accepted", t, waybill_no="nope")) is None
    assert services.find_by_carrier_event(db.session, "demo", event("accepted", t)) is None


def test_an_unknown_tracking_source_is_a_bug(db, make_booking):
    with pytest.raises(ValueError):
        services.record_tracking(db.session, make_booking(), [], source="email")


# ===================================================================== reading: one's own only

def test_a_resident_reads_their_own_bookings_newest_first(db, make_slot, make_booking, booker, make_booker):
    slot = make_slot()
    t = utcnow()
    older = make_booking(slot=slot, now=lambda: t)
    newer = make_booking(slot=slot, now=lambda: t + timedelta(minutes=1))
    other = make_booker("李四", id_number="440524188001010014")
    theirs = make_booking(other, slot=slot)
    assert services.for_resident(db.session, booker) == [newer, older]
    assert services.for_resident(db.session, booker, limit=1, offset=1) == [older]
    assert services.for_resident(db.session, other) == [theirs]
    assert services.for_resident(db.session, None) == []


def test_someone_elses_booking_is_not_found_like_an_unknown_one(db, make_booking, booker, make_booker):
    booking = make_booking()
    assert services.get_for_resident(db.session, f" {booking.order_no.lower()} ", booker) == booking
    other = make_booker("李四", id_number="440524188001010014")
    for number, resident in ((booking.order_no, other), ("KB20260302ABCDEFGH", booker), ("'; drop", booker),
                             (None, booker), (booking.order_no, None)):
        with pytest.raises(BookingNotFound) as refused:
            services.get_for_resident(db.session, number, resident)
        assert refused.value.status_code == 404


def test_an_applications_bookings(db, make_slot, make_booking, make_application):
    application = make_application("concluded")
    booking = make_booking(purpose="result_to_applicant", application_number=application.number)
    make_booking()
    assert services.for_application(db.session, application.id) == [booking]


# ===================================================================== prefill

def test_the_materials_leg_is_prefilled_from_the_resident_the_authority_and_the_catalog(
        db, booker, make_application, make_items):
    make_items(item_row(task_code="TEST-ITEM", materials=[
        {"name": "居民户口簿", "type": "原件", "form": "纸质", "paper_copies": 1},
        {"name": "申请表", "type": "复印件", "form": "纸质", "paper_copies": 2}]))
    application = make_application("accepted")
    authority = add_authority(db)
    filled = services.prefill(db.session, resident=booker, application_number=application.number,
                              purpose="materials_to_authority")
    assert filled.application == application and filled.authority == authority
    assert filled.sender["name"] == "张三" and filled.sender["mobile_masked"] == "138****8000"
    assert filled.sender["uses_resident_mobile"] is True and filled.sender["mobile"] is None
    assert filled.recipient["name"] == "九江市公安局（证件窗口）" and filled.recipient["mobile"] == "0792-8221234"
    assert filled.recipient["county_code"] == "360403"
    assert (filled.item_type, filled.payer) == ("materials", "government")  # 九江 to 九江: inside the province
    assert filled.item_checklist == ["居民户口簿（原件，纸质，1 份）", "申请表（复印件，纸质，2 份）"]
    assert APPLICANT_PHONE not in json.dumps([filled.sender, filled.recipient], ensure_ascii=False)


def test_the_return_leg_goes_from_the_authority_to_the_default_address(db, booker, make_application):
    application = make_application("concluded", handling_org="深圳市公安局", handling_region="440300")
    add_authority(db, org_name="深圳市公安局", region_code="440300", phone="0755-84465000", province_code="44",
                  city_code="4403", county_code="440303", address="解放路 4018 号")
    home = services.save_address(db.session, booker, party(mobile=None), label="家", actor=actor_of(booker))
    filled = services.prefill(db.session, resident=booker, application_number=application.number,
                              purpose="result_to_applicant")
    assert filled.sender["name"].startswith("深圳市公安局") and filled.recipient["address_id"] == home.id
    assert filled.recipient["mobile_masked"] == "138****8000" and filled.recipient["mobile"] is None
    assert (filled.item_type, filled.payer) == ("licence", "recipient")  # 深圳 to 九江: the recipient pays
    assert filled.addresses == [home] and filled.item_checklist == []


def test_without_a_registered_authority_its_side_is_left_to_fill_in(db, booker, make_application):
    application = make_application("accepted")
    filled = services.prefill(db.session, resident=booker, application_number=application.number,
                              purpose="materials_to_authority")
    assert filled.authority is None and filled.recipient["name"] == "" and filled.recipient["mobile"] is None


def test_a_standalone_booking_starts_from_the_resident(db, booker):
    filled = services.prefill(db.session, resident=booker, application_number=None, purpose="standalone")
    assert filled.application is None and filled.sender["name"] == "张三" and filled.recipient["name"] == ""


def test_prefill_refuses_a_leg_without_a_number_and_someone_elses_application(db, booker, make_booker,
                                                                             make_application):
    application = make_application("accepted")
    with pytest.raises(Invalid):
        services.prefill(db.session, resident=booker, application_number=None, purpose="result_to_applicant")
    with pytest.raises(Invalid):
        services.prefill(db.session, resident=booker, application_number=None, purpose="anything")
    other = make_booker("李四", id_number="440524188001010014")
    with pytest.raises(ApplicationNotFound):
        services.prefill(db.session, resident=other, application_number=application.number, purpose="standalone")


# ===================================================================== the view

def test_the_view_is_masked_worded_and_newest_first(db, make_booking, make_application):
    application = make_application("concluded")
    booking = make_booking(purpose="result_to_applicant", application_number=application.number, payer="government",
                           item_type="licence")
    t = utcnow()
    services.record_tracking(db.session, booking, [event("accepted", t + timedelta(minutes=1), location="九江市")],
                             source="push")
    shown = services.view(booking)
    assert shown["status_key"] == "courier.status.accepted" and shown["purpose_key"] == "courier.purpose.result_to_applicant"
    assert shown["payer_key"] == "courier.payer.government" and shown["item_type_key"] == "courier.item_type.licence"
    assert shown["order_state_key"] == "courier.order_state.pending"
    assert shown["pickup_mode_key"] == "courier.pickup_mode.counter"
    assert shown["application_number"] == application.number
    # The result leg's sender is the handling authority's registered office: named whole, its line as stored.
    assert shown["sender"]["name_masked"] == "九江市公安局（证件窗口）"
    assert shown["sender"]["mobile_masked"] == "0792****1234"
    assert shown["recipient"]["name_masked"] == "李*"
    assert shown["recipient"]["region"] == "广东省深圳市罗湖区"
    assert [e["status"] for e in shown["timeline"]] == ["accepted", "pending_pickup"]
    assert shown["timeline"][0]["location"] == "九江市" and shown["cancellable"] is False
    text = json.dumps(shown, default=str, ensure_ascii=False)
    for number in (SENDER_MOBILE, RECIPIENT_MOBILE, "李四"):
        assert number not in text


def test_every_word_key_of_the_view_is_in_the_catalogue():
    from kiosk_backend.core.i18n import catalogue
    from kiosk_backend.courier import states

    keys = catalogue()
    for prefix, values in (("status", states.Status), ("purpose", states.Purpose), ("payer", states.Payer),
                           ("item_type", states.ItemType), ("pickup_mode", states.PickupMode),
                           ("order_state", states.OrderState)):
        for value in values:
            entry = keys[f"courier.{prefix}.{value}"]
            assert entry["zh-CN"] and entry["en"]
    assert keys["courier.status.delivered"]["zh-CN"] == "已签收" and keys["courier.status.exception"]["zh-CN"] == "异常"


# ===================================================================== the address book

def test_the_first_address_is_the_default_and_one_default_at_a_time(db, booker):
    first = services.save_address(db.session, booker, party(), label="家", actor=actor_of(booker))
    second = services.save_address(db.session, booker, recipient(), label="单位", is_default=True, actor=actor_of(booker))
    third = services.save_address(db.session, booker, recipient(address="人民路 1 号"), actor=actor_of(booker))
    db.session.commit()
    assert services.list_addresses(db.session, booker) == [second, third, first]
    assert [a.is_default for a in (first, second, third)] == [False, True, False]
    services.set_default(db.session, booker, first.id, actor=actor_of(booker))
    db.session.expire_all()
    assert [a.id for a in services.list_addresses(db.session, booker) if a.is_default] == [first.id]
    assert first.mobile_masked == "139****9000" and SENDER_MOBILE not in first.mobile_encrypted


def test_deleting_the_default_makes_the_newest_the_default(db, booker):
    first = services.save_address(db.session, booker, party(), actor=actor_of(booker))
    second = services.save_address(db.session, booker, recipient(), actor=actor_of(booker))
    services.delete_address(db.session, booker, first.id, actor=actor_of(booker))
    db.session.commit()
    assert services.list_addresses(db.session, booker) == [second] and second.is_default


def test_an_address_is_changed_in_place_and_an_empty_mobile_is_the_residents_own(db, booker):
    entry = services.save_address(db.session, booker, party(), actor=actor_of(booker))
    changed = services.save_address(db.session, booker, party(mobile=None, address="浔阳路 2 号"), label="家",
                                    actor=actor_of(booker), address_id=entry.id)
    assert changed.id == entry.id and changed.address == "浔阳路 2 号" and changed.mobile_masked == "138****8000"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SavedAddress)) == 1


def test_someone_elses_address_is_not_found(db, booker, make_booker):
    entry = services.save_address(db.session, booker, party(), actor=actor_of(booker))
    other = make_booker("李四", id_number="440524188001010014")
    for call in (lambda: services.delete_address(db.session, other, entry.id, actor="x"),
                 lambda: services.set_default(db.session, other, entry.id, actor="x"),
                 lambda: services.save_address(db.session, other, party(), actor="x", address_id=entry.id)):
        with pytest.raises(NotFound):
            call()


def test_a_bad_address_is_refused_by_field_and_the_book_has_a_limit(db, booker):
    with pytest.raises(Invalid) as refused:
        services.save_address(db.session, booker, party(mobile="1", county_code="440303"), label="x" * 21,
                              actor="x")
    assert {"mobile", "county_code"} <= set(refused.value.errors["address"]) and "label" in refused.value.errors
    for i in range(services.MAX_ADDRESSES):
        services.save_address(db.session, booker, party(address=f"浔阳路 {i} 号"), actor="x")
    with pytest.raises(Conflict):
        services.save_address(db.session, booker, party(), actor="x")


def test_the_address_book_audit_names_no_personal_data(db, booker):
    services.save_address(db.session, booker, party(), label="家", actor=actor_of(booker))
    db.session.commit()
    details = json.dumps([e.details for e in db.session.scalars(sa.select(AuditEntry))], ensure_ascii=False)
    assert SENDER_MOBILE not in details and "浔阳路" not in details


def test_a_party_is_never_printed_with_its_number():
    checked = services._Party("张三", SENDER_MOBILE, "36", "3604", "360403", "浔阳路", None)
    assert SENDER_MOBILE not in repr(checked)


def test_contacts_are_normalised_and_masked():
    assert services.normalize_contact("+86 139 0013 9000") == SENDER_MOBILE
    assert services.normalize_contact("0792 8221234") == "07928221234"
    assert services.mask_contact("07928221234") == "079****1234"
    with pytest.raises(ValueError):
        services.normalize_contact("110")
    assert residents.PHONE.match(SENDER_MOBILE)


def test_party_in_matches_the_contract():
    assert PartyIn("a", None, "36", "3604", "360403", "x").postcode is None
