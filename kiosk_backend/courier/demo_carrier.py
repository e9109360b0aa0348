"""The demo carrier: a **demo adapter** of :class:`~.gateway.CourierGateway` that calls nobody.
It moves every parcel through the states on a fixed schedule, so the demo (and the browser
test) shows a live timeline; nothing it says is a real carrier's.

Everything is derived, nothing is kept of its own: from the booking (``order_no``, its row id,
its creation time, the sender's and recipient's division codes, its cancellation time) and
the clock. Placing an order twice gives the same task id and waybill; the schedule is the
same whoever asks and whenever.

Schedule, ``step`` minutes apart from the booking's creation (KIOSK_DEMO_CARRIER_STEP_MINUTES,
or the demo account's setting ``step_minutes``; 2 for the demo):

====  ==================  ==========================================================
step  state               trace (China Post's words; places from the division names)
====  ==================  ==========================================================
1     已收寄 accepted       【九江市浔阳营业厅】已收寄
2     运输中 in_transit     离开【九江市邮件处理中心】，下一站【北京市邮件处理中心】
3     派送中 out_for_…      【北京市朝阳投递支局】正在投递
4     已签收 delivered      【北京市朝阳投递支局】已妥投
====  ==================  ==========================================================

A booking cancelled before step 1 gets one event, 寄件订单已取消, at its cancellation and
nothing after; cancelling after step 1 is refused ("already_picked_up"), as a carrier would.

Waybill numbers are EMS-like, 13 digits: ``11`` and 11 digits that are a bijection of the
booking's row id (unique per booking, like real ones; opaque to everyone else). The demo
tariff (:data:`TARIFF`) is labelled as such: 首重 1 kg and each further kg started, within a
province or across. The demo carrier sends no pushes (``parse_push`` refuses everything as
malformed); tracking reaches bookings through the worker's polling.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core.clock import LOCAL_TZ, utcnow
from ..core.gateways import Clock
from ..sites import divisions
from .gateway import (
    EVERYTHING,
    CarrierEvent,
    CarrierRejected,
    OrderRequest,
    OrderResult,
    PushRejected,
    Quote,
    QuoteRequest,
)
from .models import Booking
from .states import Status

NAME = "demo"
COMPANY = "ems"
DEFAULT_STEP_MINUTES = 2
WAYBILL_PREFIX = "11"
_SCRAMBLE, _OFFSET, _MODULUS = 48271, 12345, 10**11  # 48271 is prime to 10: a bijection of 0 … 10¹¹−1


@dataclass(frozen=True)
class Tariff:
    """A demo tariff, in fen: 首重 (first kg) and 续重 (each further kg started)."""

    first_kg_in_province: int = 1000
    further_kg_in_province: int = 200
    first_kg_across: int = 1500
    further_kg_across: int = 500


TARIFF = Tariff()


@dataclass(frozen=True)
class DemoParcel:
    """What the demo carrier reads of a booking."""

    serial: int  # the booking's row id
    order_no: str
    placed_at: datetime
    sender_city_code: str
    sender_county_code: str
    recipient_city_code: str
    recipient_county_code: str
    task_id: str | None = None  # what our booking stored, if anything
    cancelled_at: datetime | None = None


class DemoLedger(Protocol):
    def by_order(self, order_no: str) -> DemoParcel | None: ...

    def by_waybill(self, waybill_no: str) -> DemoParcel | None: ...

    def placed_between(self, start: datetime, end: datetime) -> list[DemoParcel]:
        """Parcels whose order was placed (a task id stored) and created in [start, end)."""
        ...


class BookingLedger:
    """The demo carrier's view of our own bookings (courier_booking, carrier "demo")."""

    def __init__(self, session: Session):
        self.session = session

    def by_order(self, order_no: str) -> DemoParcel | None:
        return self._one(Booking.order_no == order_no)

    def by_waybill(self, waybill_no: str) -> DemoParcel | None:
        return self._one(Booking.waybill_no == waybill_no)

    def placed_between(self, start: datetime, end: datetime) -> list[DemoParcel]:
        rows = self.session.scalars(sa.select(Booking).where(
            Booking.carrier == NAME, Booking.carrier_task_id.is_not(None), Booking.created_at >= start,
            Booking.created_at < end).order_by(Booking.id))
        return [_parcel(row) for row in rows]

    def _one(self, condition) -> DemoParcel | None:
        row = self.session.scalars(sa.select(Booking).where(Booking.carrier == NAME, condition)).first()
        return _parcel(row) if row is not None else None


class MemoryLedger:
    """Parcels in a dict, for tests."""

    def __init__(self, parcels: list[DemoParcel] | None = None):
        self.parcels = {parcel.order_no: parcel for parcel in parcels or ()}

    def add(self, parcel: DemoParcel) -> DemoParcel:
        self.parcels[parcel.order_no] = parcel
        return parcel

    def by_order(self, order_no: str) -> DemoParcel | None:
        return self.parcels.get(order_no)

    def by_waybill(self, waybill_no: str) -> DemoParcel | None:
        return next((p for p in self.parcels.values() if waybill_for(p.serial) == waybill_no), None)

    def placed_between(self, start: datetime, end: datetime) -> list[DemoParcel]:
        return [p for p in self.parcels.values() if start <= p.placed_at < end]


def _parcel(row) -> DemoParcel:
    return DemoParcel(serial=row.id, order_no=row.order_no, placed_at=row.created_at,
                      sender_city_code=row.sender_city, sender_county_code=row.sender_county,
                      recipient_city_code=row.recipient_city, recipient_county_code=row.recipient_county,
                      task_id=row.carrier_task_id, cancelled_at=row.cancelled_at)


def waybill_for(serial: int) -> str:
    """``11`` + 11 digits, one per booking row id (EMS domestic numbers have 13)."""
    return WAYBILL_PREFIX + f"{(serial * _SCRAMBLE + _OFFSET) % _MODULUS:011d}"


def task_id_for(order_no: str) -> str:
    return "DEMO-" + hashlib.sha256(order_no.encode()).hexdigest()[:16].upper()


class DemoCarrier:
    """The demo adapter. ``ledger`` reads our bookings (:class:`BookingLedger`), ``step_minutes``
    is the time between two states."""

    name = NAME
    capabilities = EVERYTHING

    def __init__(self, *, ledger: DemoLedger, step_minutes: float = DEFAULT_STEP_MINUTES, now: Clock = utcnow,
                 tariff: Tariff = TARIFF):
        if not step_minutes or step_minutes <= 0:
            raise ValueError("the demo carrier's step must be more than 0 minutes")
        self.ledger = ledger
        self.step = timedelta(minutes=step_minutes)
        self.now = now
        self.tariff = tariff

    def __repr__(self) -> str:
        return f"<DemoCarrier step={self.step}>"

    # -------------------------------------------------------------- CourierGateway

    def quote(self, request: QuoteRequest) -> Quote:
        """The demo tariff (not a carrier's price)."""
        kilos = max(1, -(-request.weight_grams // 1000))
        same_province = request.sender.province_code == request.recipient.province_code
        first, further = ((self.tariff.first_kg_in_province, self.tariff.further_kg_in_province) if same_province
                          else (self.tariff.first_kg_across, self.tariff.further_kg_across))
        if request.sender.city_code == request.recipient.city_code:
            eta = 1
        else:
            eta = 2 if same_province else 3
        return Quote(price_fen=first + further * (kilos - 1), company=request.company or COMPANY, eta_days=eta)

    def create_order(self, request: OrderRequest) -> OrderResult:
        """The same task id and waybill for the same booking, however often; ``already_existed``
        when the booking already holds that task id. Raises CarrierRejected for an order
        number no booking has."""
        parcel = self.ledger.by_order(request.order_no)
        if parcel is None:
            raise CarrierRejected(f"demo carrier: no booking {request.order_no}", code="unknown_order")
        task_id = task_id_for(parcel.order_no)
        return OrderResult(order_no=parcel.order_no, task_id=task_id, waybill_no=waybill_for(parcel.serial),
                           company=request.company or COMPANY, already_existed=parcel.task_id == task_id,
                           status=self._status(parcel))

    def cancel_order(self, order_no: str, *, task_id: str | None, reason: str) -> None:
        """Before step 1 (judged at the booking's cancellation if it has one): fine, also twice.
        Raises CarrierRejected: unknown order, already picked up."""
        parcel = self.ledger.by_order(order_no)
        if parcel is None:
            raise CarrierRejected(f"demo carrier: no booking {order_no}", code="unknown_order")
        asked_at = min(self.now(), parcel.cancelled_at) if parcel.cancelled_at else self.now()
        if asked_at >= parcel.placed_at + self.step:
            raise CarrierRejected(f"demo carrier: {order_no} was picked up already", code="already_picked_up")

    def fetch_tracking(self, *, waybill_no: str, company: str | None, phone: str | None) -> list[CarrierEvent]:
        """The events due by now; none for a waybill the demo carrier never issued."""
        parcel = self.ledger.by_waybill(waybill_no)
        return self.events(parcel) if parcel is not None else []

    def parse_push(self, *, body: bytes, headers: Mapping[str, str], form: Mapping[str, str]) -> list[CarrierEvent]:
        raise PushRejected("malformed", "the demo carrier sends no pushes")

    def list_orders(self, day: date) -> list[OrderResult]:
        """Orders placed on ``day`` (China Standard Time) with their state now."""
        start = datetime.combine(day, time(0), LOCAL_TZ)
        parcels = self.ledger.placed_between(start, start + timedelta(days=1))
        return [OrderResult(order_no=p.order_no, task_id=task_id_for(p.order_no), waybill_no=waybill_for(p.serial),
                            company=COMPANY, status=self._status(p)) for p in parcels]

    # -------------------------------------------------------------- the schedule

    def events(self, parcel: DemoParcel) -> list[CarrierEvent]:
        """Every event of ``parcel`` due by now, oldest first."""
        now, waybill = self.now(), waybill_for(parcel.serial)
        sender = _place(parcel.sender_city_code, parcel.sender_county_code)
        recipient = _place(parcel.recipient_city_code, parcel.recipient_county_code)
        if parcel.sender_city_code == parcel.recipient_city_code:
            next_stop = f"【{recipient.city}{recipient.short}投递支局】"
        else:
            next_stop = f"【{recipient.city}邮件处理中心】"
        steps = [
            (Status.ACCEPTED, "demo.accept", f"【{sender.city}{sender.short}营业厅】已收寄", sender.full),
            (Status.IN_TRANSIT, "demo.depart", f"离开【{sender.city}邮件处理中心】，下一站{next_stop}", sender.city),
            (Status.OUT_FOR_DELIVERY, "demo.deliver", f"【{recipient.city}{recipient.short}投递支局】正在投递",
             recipient.full),
            (Status.DELIVERED, "demo.signed", f"【{recipient.city}{recipient.short}投递支局】已妥投", recipient.full),
        ]
        events = []
        for number, (status, code, text, location) in enumerate(steps, start=1):
            at = parcel.placed_at + self.step * number
            if at > now or (parcel.cancelled_at is not None and at >= parcel.cancelled_at):
                break
            events.append(CarrierEvent(status=status, raw_text=text, occurred_at=at, raw_code=code, location=location,
                                       event_id=f"{waybill}-{number}", order_no=parcel.order_no, waybill_no=waybill,
                                       company=COMPANY))
        cancelled = parcel.cancelled_at
        if cancelled is not None and cancelled <= now and cancelled < parcel.placed_at + self.step:
            events.append(CarrierEvent(status=Status.CANCELLED, raw_text=f"【{sender.city}{sender.short}营业厅】寄件订单已取消",
                                       occurred_at=cancelled, raw_code="demo.cancel", location=sender.full,
                                       event_id=f"{waybill}-cancel", order_no=parcel.order_no, waybill_no=waybill,
                                       company=COMPANY))
        return events

    def _status(self, parcel: DemoParcel) -> Status:
        events = self.events(parcel)
        return events[-1].status if events else Status.PENDING_PICKUP


@dataclass(frozen=True)
class _Place:
    city: str   # 九江市 (the province for 北京市, 上海市 …)
    short: str  # 浔阳 (the county without 区/县/市)
    full: str   # 九江市浔阳区


def _place(city_code: str, county_code: str) -> _Place:
    city = divisions.city(city_code) or ""
    if not city or city in divisions.PLACEHOLDER_CITY_NAMES:
        city = divisions.province(str(city_code)[:2]) or city or "本市"
    county = divisions.county(county_code) or ""
    short = county[:-1] if len(county) > 2 and county[-1] in "区县市旗" else county
    return _Place(city=city, short=short, full=city + (county if county != city else ""))
