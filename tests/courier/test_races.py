"""Races, on SQLite and PostgreSQL (SECURITY.md, "Money-like resources"): 200 requests at once
for the last place of a slot → exactly one wins; 50 retries at once with one Idempotency-Key
→ one booking and one order at the carrier; a push and polls of the same events → each event
kept once; cancels at once → one cancel, one place given back."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Blueprint, request

from kiosk_backend.core import idempotency, outbox
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.clock import utcnow
from kiosk_backend.core.errors import Conflict
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.courier import services
from kiosk_backend.courier.models import Booking, PickupSlot, TrackingEvent
from kiosk_backend.courier.services import NotCancellable, SlotFull
from kiosk_backend.extensions import db as _db
from kiosk_backend.identity import residents
from kiosk_backend.identity.models import Resident
from tests.conftest import APPLICANT_PHONE, SITE
from tests.races import run_in_threads

from .conftest import FakeGateway, actor_of, booking_in, china_today, event


def _probe_blueprint() -> Blueprint:
    """A booking endpoint as the API makes one: Idempotency-Key scoped to the resident."""
    bp = Blueprint("courier_race_probe", __name__, url_prefix="/api/v1/_courier_probe")

    @bp.post("/bookings")
    @idempotency.idempotent(scope=lambda: f"resident:{int(request.headers['X-Resident'])}")
    def create():
        resident = _db.session.get(Resident, int(request.headers["X-Resident"]))
        slot = _db.session.get(PickupSlot, request.get_json()["slot_id"])
        booking = services.book(_db.session, booking_in(slot), resident=resident, channel="api",
                                actor=actor_of(resident))
        return {"order_no": booking.order_no, "status": booking.status}, 201

    return bp


@pytest.fixture(scope="module")
def race_app(make_app):
    """An app for 200 threads. Its pool holds 20 connections (a shared PostgreSQL server has no
    200 to spare): twenty reach the database at once, the others queue for a connection and
    race the ones in flight. Exceptions become answers, as in production."""
    app = make_app(PROPAGATE_EXCEPTIONS=False,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 20, "max_overflow": 0, "pool_timeout": 120,
                                              "pool_pre_ping": True})
    app.register_blueprint(_probe_blueprint())
    return app


@pytest.fixture
def world(race_app):
    """Empty tables, a site, a resident with a mobile number and a fake carrier; yields
    (app, site_id, resident_id, gateway)."""
    from kiosk_backend.sites import services as sites

    gateway = FakeGateway()
    with race_app.app_context():
        tables = list(reversed(_db.metadata.sorted_tables))
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
        site = sites.create_site(_db.session, actor=SYSTEM, **SITE)
        resident = Resident(provider="demo", subject="racer", name="张三",
                            phone_encrypted=residents.encrypt_phone(APPLICANT_PHONE), phone_masked="138****8000")
        _db.session.add(resident)
        _db.session.commit()
        ids = site.id, resident.id
        _db.session.remove()
    race_app.extensions[services.GATEWAY_EXTENSION] = gateway
    yield race_app, *ids, gateway
    race_app.extensions.pop(services.GATEWAY_EXTENSION, None)
    with race_app.app_context():
        _db.engine.dispose()


def add_slot(app, site_id: int, *, capacity: int, taken: int = 0) -> int:
    with app.app_context():
        slot = PickupSlot(site_id=site_id, day=china_today() + timedelta(days=1), starts="09:00", ends="11:00",
                          capacity=capacity, taken=taken)
        _db.session.add(slot)
        _db.session.commit()
        slot_id = slot.id
        _db.session.remove()
    return slot_id


def count(app, model) -> int:
    with app.app_context():
        n = _db.session.scalar(sa.select(sa.func.count()).select_from(model))
        _db.session.remove()
    return n


def taken(app, slot_id: int) -> int:
    with app.app_context():
        n = _db.session.get(PickupSlot, slot_id).taken
        _db.session.remove()
    return n


def book_at_once(app, resident_id: int, slot_id: int, threads: int) -> list:
    def work(_i):
        resident = _db.session.get(Resident, resident_id)
        slot = _db.session.get(PickupSlot, slot_id)
        return services.book(_db.session, booking_in(slot), resident=resident, channel="mobile",
                             actor=actor_of(resident)).order_no

    return run_in_threads(app, threads, work, commit=True, timeout=300)


# ===================================================================== the last place

def test_two_hundred_requests_for_the_last_place_one_wins(world):
    app, site_id, resident_id, _ = world
    slot_id = add_slot(app, site_id, capacity=5, taken=4)
    results = book_at_once(app, resident_id, slot_id, 200)
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if not isinstance(r, str)]
    assert len(won) == 1, lost[:3]
    assert all(isinstance(r, SlotFull) for r in lost), {type(r).__name__ for r in lost}
    # The winner's two messages: placing the order and asking its price (the sender pays).
    assert taken(app, slot_id) == 5 and count(app, Booking) == 1 and count(app, OutboxMessage) == 2


def test_two_hundred_requests_for_five_places_five_win(world):
    app, site_id, resident_id, _ = world
    slot_id = add_slot(app, site_id, capacity=5)
    results = book_at_once(app, resident_id, slot_id, 200)
    assert len([r for r in results if isinstance(r, str)]) == 5
    assert all(isinstance(r, SlotFull) for r in results if not isinstance(r, str))
    assert taken(app, slot_id) == 5 and count(app, Booking) == 5


# ===================================================================== one key, one booking, one order

def test_fifty_retries_with_one_idempotency_key_make_one_booking_and_one_carrier_order(world):
    app, site_id, resident_id, gateway = world
    slot_id = add_slot(app, site_id, capacity=100)
    body = json.dumps({"slot_id": slot_id})
    headers = {idempotency.HEADER: "3b9d0c8e-retry", "X-Resident": str(resident_id)}

    def work(_i):
        answer = app.test_client().post("/api/v1/_courier_probe/bookings", data=body, headers=headers,
                                        content_type="application/json")
        return answer.status_code, answer.headers.get(idempotency.REPLAYED_HEADER), answer.get_json()

    results = run_in_threads(app, 50, work, timeout=300)
    assert not [r for r in results if isinstance(r, Exception)], results
    first = [r for r in results if r[0] == 201 and r[1] is None]
    assert len(first) == 1
    assert all(r[2] == first[0][2] for r in results if r[0] == 201)  # replays carry the same order number
    assert all(r[0] in (201, 409) for r in results)
    assert count(app, Booking) == 1 and taken(app, slot_id) == 1

    # The one order message, run by several workers at once and then again: one order at the carrier.
    with app.app_context():
        [message_id] = _db.session.scalars(sa.select(OutboxMessage.id).where(
            OutboxMessage.topic == services.PLACE_TOPIC))
        _db.session.remove()
    outcomes = run_in_threads(app, 8, lambda _i: outbox.run(_db.session, message_id).state, timeout=120)
    assert sorted(outcomes) == ["done"] + ["skipped"] * 7
    with app.app_context():
        assert outbox.run(_db.session, message_id).state == "skipped"
        booking = _db.session.scalar(sa.select(Booking))
        assert booking.order_state == "placed" and booking.order_no == first[0][2]["order_no"]
        _db.session.remove()
    assert gateway.create_calls == 1 and list(gateway.orders) == [first[0][2]["order_no"]]


# ===================================================================== tracking and cancelling at once

def make_booking_in(app, site_id: int, resident_id: int, slot_id: int) -> int:
    with app.app_context():
        resident = _db.session.get(Resident, resident_id)
        booking = services.book(_db.session, booking_in(_db.session.get(PickupSlot, slot_id)), resident=resident,
                                channel="mobile", actor=actor_of(resident))
        _db.session.commit()
        booking_id = booking.id
        _db.session.remove()
    return booking_id


def test_a_push_and_polls_of_the_same_events_at_once_keep_each_event_once(world):
    app, site_id, resident_id, _ = world
    booking_id = make_booking_in(app, site_id, resident_id, add_slot(app, site_id, capacity=5))
    t = utcnow()
    events = [event("accepted", t, event_id="a"), event("in_transit", t + timedelta(hours=2), event_id="b"),
              event("out_for_delivery", t + timedelta(days=1), event_id="c")]

    def work(i):
        booking = _db.session.get(Booking, booking_id)
        return services.record_tracking(_db.session, booking, events[i % 3:] + events[:i % 3],
                                        source="push" if i == 0 else "poll")

    results = run_in_threads(app, 8, work, commit=True, timeout=120)
    failures = [r for r in results if isinstance(r, Exception)]
    # A racer may be refused by the database (a unique key or a lock caught it); none corrupts anything.
    assert all(isinstance(r, (sa.exc.IntegrityError, sa.exc.OperationalError, Conflict)) for r in failures), failures
    with app.app_context():
        kept = list(_db.session.scalars(sa.select(TrackingEvent.dedupe_key).where(TrackingEvent.booking_id == booking_id)))
        booking = _db.session.get(Booking, booking_id)
        assert sorted(kept) == ["id:a", "id:b", "id:c", "ours:booked"]
        assert booking.status == "out_for_delivery" and booking.status_at == t + timedelta(days=1)
        notices = list(_db.session.scalars(sa.select(OutboxMessage.key).where(
            OutboxMessage.topic == services.NOTIFY_TOPIC)))
        assert set(notices) <= {f"booking:{booking_id}:accepted", f"booking:{booking_id}:out_for_delivery"}
        assert f"booking:{booking_id}:out_for_delivery" in notices
        _db.session.remove()


def test_cancels_at_once_cancel_once_and_give_one_place_back(world):
    app, site_id, resident_id, _ = world
    slot_id = add_slot(app, site_id, capacity=5)
    make_booking_in(app, site_id, resident_id, slot_id)
    booking_id = make_booking_in(app, site_id, resident_id, slot_id)

    def work(_i):
        return services.cancel(_db.session, _db.session.get(Booking, booking_id), actor="resident:1").status

    results = run_in_threads(app, 8, work, commit=True, timeout=120)
    assert results.count("cancelled") == 1
    assert all(isinstance(r, (NotCancellable, Conflict, sa.exc.OperationalError)) for r in results
               if r != "cancelled"), results
    assert taken(app, slot_id) == 2  # the place is held until the carrier confirms the cancel

    def confirm(_i):  # the carrier's yes, seen by several workers at once
        return services.cancel_confirmed(_db.session, _db.session.get(Booking, booking_id))

    confirmed = run_in_threads(app, 8, confirm, commit=True, timeout=120)
    assert confirmed.count(True) == 1, confirmed
    assert taken(app, slot_id) == 1
    with app.app_context():
        assert _db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == services.CANCEL_TOPIC)) == 1
        _db.session.remove()


# ===================================================================== one leg, booked at once

def test_twenty_bookings_of_one_application_leg_at_once_one_wins(world):
    """The same 结果寄回家 booked from twenty screens at once: one booking, the others 409
    LegBooked (the check, or the partial unique index for those past it), one place taken."""
    from datetime import UTC, datetime

    from kiosk_backend.applications import services as applications
    from kiosk_backend.courier.models import HandlingAuthority

    from ..conftest import APPLICANT_ID

    app, site_id, resident_id, _ = world
    slot_id = add_slot(app, site_id, capacity=50)
    with app.app_context():
        resident = _db.session.get(Resident, resident_id)
        resident.id_number_hash = residents.keyed_hash("id", APPLICANT_ID)
        application, _ = applications.create_application(_db.session, applications.NewApplication(
            number="RACE00000001", task_code="TEST-ITEM", item_name="居民身份证换领", mode="local",
            applicant=applications.Applicant(name="张三", id_number=APPLICANT_ID, phone=APPLICANT_PHONE),
            receiving_org="九江市政务服务中心", receiving_region="360400", handling_org="九江市公安局",
            handling_region="360400", received_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC), promise_days=20,
            promise_unit="工作日"), actor="system", actor_name="九江市政务服务中心")
        _db.session.add(HandlingAuthority(org_name="九江市公安局", region_code="360400", recipient_name="证件窗口",
                                          phone="0792-8221234", province_code="36", city_code="3604",
                                          county_code="360402", address="长虹大道 100 号"))
        _db.session.commit()
        _db.session.remove()

    def work(_i):
        resident = _db.session.get(Resident, resident_id)
        slot = _db.session.get(PickupSlot, slot_id)
        return services.book(_db.session, booking_in(slot, purpose="result_to_applicant",
                                                     application_number="RACE00000001", payer="government"),
                             resident=resident, channel="api", actor=actor_of(resident)).order_no

    results = run_in_threads(app, 20, work, commit=True, timeout=120)
    won = [r for r in results if isinstance(r, str)]
    assert len(won) == 1, results
    assert all(isinstance(r, (services.LegBooked, sa.exc.OperationalError)) for r in results if r not in won), \
        {type(r).__name__ for r in results}
    assert taken(app, slot_id) == 1 and count(app, Booking) == 1
