"""The courier demo (courier/demo.py): slots at the demo sites for the next 14 days, one window
nearly full, the handling authorities' addresses, the demo carrier's account, home addresses,
and bookings in every kind of state made through the services, which the demo carrier then
moves on like any other."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import demo as applications_demo
from kiosk_backend.applications.models import Application
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.clock import LOCAL_TZ, utcnow
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.courier import carriers, demo, jobs, services, states
from kiosk_backend.courier.models import Booking, CarrierAccount, HandlingAuthority, PickupSlot, SavedAddress
from kiosk_backend.fleet.cli import DEMO_SITES
from kiosk_backend.identity.models import Resident
from kiosk_backend.sites import divisions
from kiosk_backend.sites import services as sites


@pytest.fixture
def demo_world(db, demo_catalog):
    """The demo sites and the demo residents' applications, as `kiosk demo` makes them."""
    for spec in DEMO_SITES:
        spec = {key: value for key, value in spec.items() if key != "profile"}
        sites.create_site(db.session, actor=SYSTEM, **spec)
    applications_demo.load_demo_applications(db.session)
    db.session.commit()


@pytest.fixture
def loaded(db, demo_world):
    result = demo.load_demo_courier(db.session)
    db.session.commit()
    return result


def bookings(db) -> list[Booking]:
    return list(db.session.scalars(sa.select(Booking).order_by(Booking.id)))


def test_the_demo_sites_have_pickup_windows_for_the_next_fourteen_days_one_nearly_full(db, loaded):
    today = utcnow().astimezone(LOCAL_TZ).date()
    for spec in DEMO_SITES:
        site = sites.get_site_by_code(db.session, spec["code"])
        days = set(db.session.scalars(sa.select(PickupSlot.day).where(PickupSlot.site_id == site.id,
                                                                      PickupSlot.day >= today)))
        weekdays = {today + timedelta(days=n) for n in range(14) if (today + timedelta(days=n)).weekday() < 5}
        assert weekdays <= days, spec["code"]
        assert max(days) == today + timedelta(days=13)
    first = sites.get_site_by_code(db.session, "JZ01")
    nearly = db.session.scalar(sa.select(PickupSlot).where(PickupSlot.site_id == first.id,
                                                           PickupSlot.day == demo.next_working_day(today),
                                                           PickupSlot.starts == "09:00"))
    assert (nearly.taken, nearly.capacity) == (3, 4)
    assert loaded.slots > 100


def test_every_handling_org_of_the_demo_applications_has_a_valid_address(db, loaded):
    wanted = set(db.session.execute(sa.select(Application.handling_org, Application.handling_region)).all())
    registered = {(a.org_name, a.region_code): a for a in db.session.scalars(sa.select(HandlingAuthority))}
    assert wanted <= set(registered)
    for authority in registered.values():
        assert not divisions.validate_codes(authority.province_code, authority.city_code, authority.county_code)
        assert authority.county_code.startswith(authority.city_code)
        assert re.fullmatch(r"\d{6}", authority.postcode)
        assert services.normalize_contact(authority.phone) == authority.phone
    shenzhen = registered[("深圳市社会保险基金管理局", "440300")]
    assert shenzhen.county_code == "440304" and shenzhen.postcode.startswith("518")
    assert {a.region_code for a in registered.values()} == {"440300", "330100", "110105", "360400"}


def test_the_demo_carrier_has_its_account_and_residents_their_home_addresses(db, loaded):
    account = db.session.scalar(sa.select(CarrierAccount))
    assert account.carrier == "demo" and account.active
    assert carriers.account_view(account)["credentials"] == {}
    homes = list(db.session.scalars(sa.select(SavedAddress)))
    assert len(homes) == 5 and all(h.is_default and h.label == "家" for h in homes)
    assert all(h.mobile_masked.startswith("138****") for h in homes)


def test_about_fifteen_bookings_in_every_kind_of_state_on_both_legs_and_standalone(db, loaded):
    made = bookings(db)
    assert 13 <= len(made) <= 16 and loaded.booked == len(made)
    assert {b.status for b in made} == {s.value for s in states.Status}  # every state
    assert {b.purpose for b in made} == {p.value for p in states.Purpose}
    assert {b.channel for b in made} >= {"kiosk", "mobile"}
    people = {r.id: r for r in db.session.scalars(sa.select(Resident))}
    for booking in made:
        assert people[booking.resident_id].provider == "demo"
        if booking.application_id is not None:
            application = db.session.get(Application, booking.application_id)
            assert applications_demo.services.owned_by(application, people[booking.resident_id])
        assert booking.events[0].source == "ours"  # saved before the carrier heard of it
        assert booking.waybill_no and len(booking.waybill_no) == 13  # placed with the demo carrier
        assert booking.order_state in ("placed", "cancelling")
        assert all(e.occurred_at <= utcnow() for e in booking.events)
    trouble = [b for b in made if b.status in states.TROUBLE]
    assert len(trouble) >= 3  # the console's exceptions filter has something to show
    materials = [b for b in made if b.purpose == "materials_to_authority"]
    assert all("（" in b.recipient_name for b in materials)  # the authority's window, prefilled


def test_finished_parcels_have_days_of_china_post_like_traces(db, loaded):
    returned = next(b for b in bookings(db) if b.status == "returned")
    texts = [e.raw_text for e in sorted(returned.events, key=lambda e: e.occurred_at)]
    assert texts[1].endswith("已收寄") and any(t.startswith("离开【") and "下一站【" in t for t in texts)
    assert sum("投递失败" in t for t in texts) == 2 and "退回" in texts[-1]
    assert returned.events[-1].occurred_at - returned.created_at > timedelta(days=2)
    delivered = [b for b in bookings(db) if b.status == "delivered"]
    assert len(delivered) >= 2 and all("已妥投" in max(b.events, key=lambda e: e.occurred_at).raw_text
                                       for b in delivered)


def test_parcels_under_way_move_on_when_the_worker_polls_the_demo_carrier(db, loaded):
    moving = {b.id: b.status for b in bookings(db) if b.status not in states.FINAL}
    later = utcnow() + timedelta(hours=3)
    gateway = carriers.gateway_for(db.session, "demo", now=lambda: later)
    jobs.poll_quiet(db.session, quiet=timedelta(minutes=1), gateway=gateway, now=lambda: later)
    db.session.expire_all()
    after = {b.id: b for b in bookings(db) if b.id in moving}
    assert {b.status for b in after.values()} == {"delivered"}  # a second attempt, the parcel collected …
    for booking in after.values():
        texts = [e.raw_text for e in booking.events if e.applied]
        assert texts[-1].endswith("已妥投")
        # Nothing the demo carrier said was older than what the parcel had shown: every event moved it.
        assert all(e.applied for e in booking.events), [(e.raw_text, e.applied) for e in booking.events]


def test_loading_again_adds_no_bookings_and_keeps_the_windows(db, loaded):
    count = len(bookings(db))
    again = demo.load_demo_courier(db.session)
    db.session.commit()
    assert again.booked == 0 and again.slots == 0 and again.authorities == 0 and not again.account
    assert len(bookings(db)) == count


def test_a_day_later_the_next_fortnight_gets_its_new_day(db, loaded):
    tomorrow = utcnow() + timedelta(days=1)
    again = demo.load_demo_courier(db.session, now=lambda: tomorrow)
    assert again.slots > 0 and again.booked == 0


def test_without_applications_only_standalone_bookings_are_made(db):
    for spec in DEMO_SITES:
        sites.create_site(db.session, actor=SYSTEM, **{k: v for k, v in spec.items() if k != "profile"})
    result = demo.load_demo_courier(db.session)
    db.session.commit()
    assert result.booked >= 3 and {b.purpose for b in bookings(db)} == {"standalone"}


def test_without_the_demo_sites_nothing_is_booked(db):
    result = demo.load_demo_courier(db.session)
    assert result.booked == 0 and result.slots == 0 and bookings(db) == []


def test_the_history_queues_the_order_messages_the_worker_finds_done(db, loaded):
    placing = list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == services.PLACE_TOPIC)))
    assert len(placing) == len(bookings(db))
    for message in placing:
        booking_id = int(message.key.split(":")[1])
        assert jobs.place_order(db.session, booking_id) in ("placed", "cancelling")  # already placed: nothing to do


def test_the_demo_names_an_approved_result_nobody_has_booked_yet_to_try(db, loaded):
    name, number = demo.to_try(db.session)
    application = db.session.scalar(sa.select(Application).where(Application.number == number))
    assert application.state == "concluded" and application.outcome == "approved"
    assert not db.session.scalar(sa.select(Booking.id).where(Booking.application_id == application.id))
    assert name in {claims.name for claims in applications_demo.demo_residents()}
