"""The carrier's price: asked by the worker through the outbox once the booking is saved
(``courier.quote``), kept on the booking (quote_fen) and shown where bookings are shown; no
request calls the carrier for it (the kiosk's confirm screen says it comes after booking)."""
from __future__ import annotations

import sqlalchemy as sa

from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.courier import jobs, services
from kiosk_backend.courier.gateway import CarrierRejected, CarrierUnavailable

from ..applications.test_api import as_resident, token_for
from ..applications.test_mobile_pages import logged_in
from ..identity.test_kiosk import log_in
from .test_jobs import fresh, run
from .test_kiosk_pages import Flow


def quote_messages(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == services.QUOTE_TOPIC)))


def test_a_booking_someone_pays_for_asks_the_carrier_for_its_price_through_the_outbox(db, make_booking,
                                                                                     fake_gateway):
    booking = make_booking(payer="sender", weight_grams=800)
    assert fake_gateway.quotes == [] and fresh(db, booking).quote_fen is None  # nothing asked in the request
    [message] = quote_messages(db)
    assert message.key == f"booking:{booking.id}" and message.payload == {"booking_id": booking.id}
    assert run(db, services.QUOTE_TOPIC, booking) == "done"
    assert fresh(db, booking).quote_fen == 1208
    [asked] = fake_gateway.quotes
    assert (asked.sender.county, asked.recipient.city, asked.weight_grams) == ("浔阳区", "深圳市", 800)
    assert jobs.quote_booking(db.session, booking.id) == 1208 and len(fake_gateway.quotes) == 1  # kept: not again


def test_the_government_pays_so_no_price_is_asked(db, make_booking, fake_gateway):
    make_booking(payer="government")
    assert quote_messages(db) == []


def test_a_carrier_that_is_down_is_asked_again_and_one_that_refuses_leaves_no_price(db, make_booking, fake_gateway):
    booking = make_booking()
    fake_gateway.failures = [CarrierUnavailable("timeout")]
    assert run(db, services.QUOTE_TOPIC, booking) == "pending"  # the outbox retries
    assert fresh(db, booking).quote_fen is None
    other = make_booking()
    fake_gateway.failures = [CarrierRejected("不在服务范围")]
    assert run(db, services.QUOTE_TOPIC, other) == "done" and fresh(db, other).quote_fen is None


def test_the_price_is_shown_by_the_api_the_phone_and_the_kiosk(client, db, booker, make_booking, fake_gateway,
                                                               kiosk_client):
    booking = make_booking(payer="sender", weight_grams=800)
    headers = as_resident(token_for(db, booker))
    assert client.get(f"/api/v1/bookings/{booking.order_no}", headers=headers).json["quote_fen"] is None
    log_in(db, kiosk_client, booker)
    page = kiosk_client.get(f"/kiosk/courier/bookings/{booking.order_no}").text
    assert "快递公司报价后显示" in page
    run(db, services.QUOTE_TOPIC, booking)
    assert client.get(f"/api/v1/bookings/{booking.order_no}", headers=headers).json["quote_fen"] == 1208
    page = kiosk_client.get(f"/kiosk/courier/bookings/{booking.order_no}").text
    assert 'id="courier-done-price">12.08 元（快递公司报价）' in page


def test_the_phone_page_shows_the_price(app, db, booker, make_booking, fake_gateway):
    booking = make_booking(payer="sender", weight_grams=800)
    run(db, services.QUOTE_TOPIC, booking)
    page = logged_in(app, db, booker).get(f"/m/bookings/{booking.order_no}").text
    assert 'id="booking-price">12.08 元（快递公司报价）' in page


def test_the_kiosk_confirm_screen_calls_no_carrier(db, kiosk_client, booker, make_slot, make_application,
                                                   fake_gateway):
    from .conftest import ensure_authority

    application = make_application("in_progress", handling_org="广州市公安局", handling_region="440100", mode="proxy")
    ensure_authority(db, application.number, province_code="44", city_code="4401", county_code="440104",
                     address="解放南路 155 号", phone="020-83115000")
    log_in(db, kiosk_client, booker)
    flow = Flow(kiosk_client, application.number, leg="materials")
    flow.who(), flow.where(), flow.when(make_slot())
    assert "请核对寄件信息" in flow.page and "以快递公司报价为准，预约成功后显示" in flow.page
    assert fake_gateway.quotes == []
