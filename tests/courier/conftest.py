"""Courier fixtures for every courier test: pickup slots, bookings made through the booking
service, a resident with a mobile number on record, and a fake carrier.

- ``make_slot(site=None, day=None, starts="09:00", ends="11:00", capacity=10, taken=0)``:
  a slot at the test site (JZ01), by default tomorrow (China Standard Time, real clock).
- ``booker``: a resident with ID number APPLICANT_ID (so make_application's applications are
  theirs) and mobile APPLICANT_PHONE on record (sealed, masked).
- ``booking_in(slot, **overrides)``: a valid services.BookingIn (standalone, 九江 → 深圳).
- ``make_booking(resident=None, slot=None, now=utcnow, **overrides)``: services.book, committed.
- ``fake_gateway``: a FakeGateway set as the app's courier gateway (services.GATEWAY_EXTENSION).
- ``sms_sender``: a LoggingSender set as the app's SMS sender.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import jobs as application_jobs
from kiosk_backend.core import sms
from kiosk_backend.core.actors import Actor, ActorKind
from kiosk_backend.core.clock import LOCAL_TZ, utcnow
from kiosk_backend.courier import services
from kiosk_backend.courier.gateway import (
    CarrierEvent,
    CarrierUnavailable,
    OrderRequest,
    OrderResult,
    PushRejected,
    Quote,
    QuoteRequest,
)
from kiosk_backend.courier.models import PickupSlot
from kiosk_backend.courier.services import BookingIn, PartyIn
from kiosk_backend.identity import residents
from tests.conftest import APPLICANT_ID, APPLICANT_PHONE, SITE

SENDER_MOBILE = "13900139000"
RECIPIENT_MOBILE = "13700137000"


def party(**overrides) -> PartyIn:
    """A sender in 九江市浔阳区 with a mobile number; override any field."""
    values = dict(name="张三", mobile=SENDER_MOBILE, province_code="36", city_code="3604", county_code="360403",
                  address="浔阳路 1 号 2 单元 301", postcode="332000")
    values.update(overrides)
    return PartyIn(**values)


def recipient(**overrides) -> PartyIn:
    """A recipient in 深圳市罗湖区."""
    values = dict(name="李四", mobile=RECIPIENT_MOBILE, province_code="44", city_code="4403", county_code="440303",
                  address="深南东路 5002 号", postcode="518001")
    values.update(overrides)
    return PartyIn(**values)


def booking_in(slot: PickupSlot, **overrides) -> BookingIn:
    values = dict(purpose="standalone", sender=party(), recipient=recipient(), item_type="materials", pieces=1,
                  weight_grams=500, insured_value_fen=0, payer="sender", pickup_mode="counter", site_id=slot.site_id,
                  slot_id=slot.id)
    values.update(overrides)
    return BookingIn(**values)


def actor_of(resident) -> Actor:
    return Actor(ActorKind.RESIDENT, str(resident.id), resident.name)


def china_today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


@pytest.fixture
def make_slot(db, make_site):
    from kiosk_backend.sites.models import Site

    def _make(*, site=None, day: date | None = None, starts: str = "09:00", ends: str = "11:00",
              capacity: int = 10, taken: int = 0) -> PickupSlot:
        site = site or db.session.scalar(sa.select(Site).where(Site.code == SITE["code"])) or make_site()
        slot = PickupSlot(site_id=site.id, day=day or china_today() + timedelta(days=1), starts=starts, ends=ends,
                          capacity=capacity, taken=taken)
        db.session.add(slot)
        db.session.commit()
        return slot

    return _make


@pytest.fixture
def make_booker(db, make_resident):
    """``make_booker(id_number=..., phone=...)``: a resident with a mobile number on record."""

    def _make(name: str = "张三", *, id_number: str | None = APPLICANT_ID, phone: str | None = APPLICANT_PHONE):
        resident = make_resident(name, id_number=id_number)
        if phone:
            resident.phone_encrypted = residents.encrypt_phone(phone)
            resident.phone_hash = residents.keyed_hash("phone", phone)
            resident.phone_masked = residents.mask_phone(phone)
        db.session.commit()
        return resident

    return _make


@pytest.fixture
def booker(make_booker):
    return make_booker()


@pytest.fixture
def make_booking(db, make_slot, booker):
    """Bookings without a slot of their own share one of tomorrow's, with 100 places."""
    shared: list[PickupSlot] = []

    def _make(resident=None, *, slot: PickupSlot | None = None, now=utcnow, channel: str = "mobile", **overrides):
        resident = resident or booker
        if slot is None:
            shared or shared.append(make_slot(starts="08:00", ends="09:00", capacity=100))
            slot = shared[0]
        if overrides.get("purpose") in services.LEGS and overrides.get("application_number"):
            ensure_authority(db, overrides["application_number"])
        booking = services.book(db.session, booking_in(slot, **overrides), resident=resident, channel=channel,
                                actor=actor_of(resident), now=now)
        db.session.commit()
        return booking

    return _make


# The handling authority's registered address as ensure_authority registers it (九江市公安局's
# 收件窗口 unless the application names another org).
AUTHORITY = dict(recipient_name="证件窗口", phone="0792-8221234", province_code="36", city_code="3604",
                 county_code="360402", address="长虹大道 100 号", postcode="332000")


def ensure_authority(db, application_number: str, **overrides):
    """The registered address of the handling authority of ``application_number`` (registered
    now if it is not yet): the two application legs are booked only to or from it."""
    from kiosk_backend.applications.models import Application
    from kiosk_backend.courier.models import HandlingAuthority

    application = db.session.scalar(sa.select(Application).where(
        sa.func.upper(Application.number) == application_number.upper()))
    found = services.find_authority(db.session, application)
    if found is None:
        found = HandlingAuthority(org_name=application.handling_org, region_code=application.handling_region,
                                  **{**AUTHORITY, **overrides})
        db.session.add(found)
        db.session.commit()
    return found


class Killed(BaseException):
    """A worker process killed mid-job: not an Exception, so nothing in the job catches it."""


class FakeGateway:
    """A carrier in memory that keeps orders by our order number as a real one does: placing
    an order twice returns the first with ``already_existed``. ``failures`` are raised one per
    create_order call before anything happens; ``die_after_accepting`` kills the caller once
    the order is taken (nothing after it runs); ``lose_answer`` loses the carrier's answer
    after it took the order (a read timeout)."""

    name = "demo"  # stands in for the configured carrier (services.gateway_for matches by name)

    def __init__(self):
        self.lock = threading.Lock()
        self.orders: dict[str, OrderResult] = {}
        self.requests: list[OrderRequest] = []
        self.create_calls = 0
        self.cancel_calls: list[str] = []
        self.cancelled: set[str] = set()
        self.failures: list[Exception] = []
        self.cancel_failures: list[Exception] = []
        self.die_after_accepting = False
        self.lose_answer = False
        self.tracking: dict[str, list[CarrierEvent]] = {}
        self.fetches: list[str] = []
        self.listed: list[OrderResult] = []
        self.quotes: list[QuoteRequest] = []
        self._numbers = itertools.count(1)

    def quote(self, request: QuoteRequest) -> Quote:
        if self.failures:
            raise self.failures.pop(0)
        self.quotes.append(request)
        return Quote(price_fen=1200 + request.weight_grams // 100, company="ems", eta_days=2)

    def create_order(self, request: OrderRequest) -> OrderResult:
        with self.lock:
            self.create_calls += 1
            if self.failures:
                raise self.failures.pop(0)
            self.requests.append(request)
            existed = request.order_no in self.orders
            if not existed:
                n = next(self._numbers)
                self.orders[request.order_no] = OrderResult(order_no=request.order_no, task_id=f"T{n:06d}",
                                                            waybill_no=f"EA{n:09d}CN", company="ems")
            result = replace(self.orders[request.order_no], already_existed=existed)
        if self.die_after_accepting:
            self.die_after_accepting = False
            raise Killed("worker killed after the carrier accepted")
        if self.lose_answer:
            self.lose_answer = False
            raise CarrierUnavailable("read timed out (the carrier took the order)")
        return result

    def cancel_order(self, order_no: str, *, task_id: str | None, reason: str) -> None:
        self.cancel_calls.append(order_no)
        if self.cancel_failures:
            raise self.cancel_failures.pop(0)
        self.cancelled.add(order_no)

    def fetch_tracking(self, *, waybill_no: str, company: str | None, phone: str | None) -> list[CarrierEvent]:
        self.fetches.append(waybill_no)
        if self.failures:
            raise self.failures.pop(0)
        return list(self.tracking.get(waybill_no, []))

    def parse_push(self, *, body, headers, form) -> list[CarrierEvent]:
        raise PushRejected("malformed", "the fake carrier does not push")

    def list_orders(self, day: date) -> list[OrderResult]:
        if self.failures:
            raise self.failures.pop(0)
        return list(self.listed)


@pytest.fixture
def fake_gateway(app):
    gateway = FakeGateway()
    app.extensions[services.GATEWAY_EXTENSION] = gateway
    yield gateway
    app.extensions.pop(services.GATEWAY_EXTENSION, None)


@pytest.fixture
def sms_sender(app):
    sender = sms.LoggingSender()
    app.extensions[application_jobs.SENDER_EXTENSION] = sender
    yield sender
    app.extensions.pop(application_jobs.SENDER_EXTENSION, None)


def event(status: str, at: datetime, text: str = "", **kwargs) -> CarrierEvent:
    """A carrier's tracking event."""
    return CarrierEvent(status=status, raw_text=text or f"【九江市浔阳路营业厅】{status}", occurred_at=at, **kwargs)
