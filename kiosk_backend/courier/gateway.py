"""What the courier domain needs from a carrier, in domain words (core/gateways.py's
convention): :class:`CourierGateway`. Adapters: ``kuaidi100.py`` (the aggregator 快递100's
published API) and ``demo_carrier.py`` (moves parcels through the states on a schedule, for
the demo). Tests use the demo carrier or a local fake server speaking 快递100's wire format.

Calls happen only in outbox handlers and periodic jobs, never inside a request's
transaction. Every order carries our booking's ``order_no`` as the carrier's order id, so
that placing it again after a crash is recognised as the same order.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from .states import Status


class CarrierError(Exception):
    """Base of the carriers' errors; the text never holds a full phone number."""


class CarrierUnavailable(CarrierError):
    """No answer, a 5xx, throttling: try again later (the outbox backs off)."""


class CarrierRejected(CarrierError):
    """The carrier refused the request for good (address out of its area, bad data, wrong
    credentials); ``code`` is the carrier's code."""

    def __init__(self, text: str, *, code: str = "") -> None:
        super().__init__(text)
        self.code = code


class PushRejected(CarrierError):
    """A pushed tracking callback we refuse: bad signature, stale or replayed, malformed.
    ``reason`` is one of bad_signature, stale_timestamp, replayed, malformed."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True)
class Party:
    """A sender or recipient as the carrier needs them: names of the divisions as well as codes."""

    name: str
    mobile: str  # in clear: only inside the adapter call, never logged
    province_code: str
    city_code: str
    county_code: str
    province: str
    city: str
    county: str
    address: str
    postcode: str | None = None


@dataclass(frozen=True)
class QuoteRequest:
    sender: Party
    recipient: Party
    weight_grams: int
    company: str | None = None


@dataclass(frozen=True)
class Quote:
    price_fen: int
    company: str
    eta_days: int | None = None


@dataclass(frozen=True)
class OrderRequest:
    order_no: str  # ours, the carrier's order id: placing it twice is the same order
    sender: Party
    recipient: Party
    item_name: str  # 证照 / 申请材料: what the courier writes on the waybill
    pieces: int
    weight_grams: int
    insured_value_fen: int
    payer: str  # states.Payer
    pickup_start: datetime | None
    pickup_end: datetime | None
    company: str | None = None  # the express company (ems, youzhengguonei, …); None: the account's default
    remark: str | None = None


@dataclass(frozen=True)
class OrderResult:
    order_no: str
    task_id: str | None  # the carrier's id for the order
    waybill_no: str | None  # may come later, by push
    company: str | None = None
    label_png: bytes | None = None
    already_existed: bool = False  # the carrier knew this order_no already (a retry)
    status: Status | None = None  # for reconciliation: the carrier's view of the parcel


@dataclass(frozen=True)
class CarrierEvent:
    """One tracking event, normalised; ``raw_code``/``raw_text``/``location`` as the carrier said."""

    status: Status
    raw_text: str
    occurred_at: datetime
    raw_code: str | None = None
    location: str | None = None
    event_id: str | None = None  # the carrier's id for the event, when it has one
    order_no: str | None = None
    waybill_no: str | None = None
    company: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a carrier can do, declared by its adapter, so that a booking it cannot carry out is
    refused (and not offered) before it is saved, rather than failing at the carrier later.

    ``payers``: the states.Payer values it takes (快递100's 商家寄件: no 到付);
    ``pickup_days_ahead``: how many days after today (China time) a pickup window may be, 0
    for today only, None for no limit (快递100: 今天/明天/后天, so 2); ``pickup_modes``: the
    states.PickupMode values it serves (a counter drop-off, a pickup at home)."""

    payers: frozenset[str]
    pickup_days_ahead: int | None
    pickup_modes: frozenset[str]


# A carrier that takes every choice a booking can make (the demo carrier).
EVERYTHING = Capabilities(payers=frozenset({"government", "recipient", "sender"}), pickup_days_ahead=None,
                          pickup_modes=frozenset({"counter", "home"}))


class CourierGateway(Protocol):
    name: str
    capabilities: Capabilities  # what it supports (a class attribute: known without credentials)

    def quote(self, request: QuoteRequest) -> Quote:
        """A price. Raises CarrierUnavailable, CarrierRejected."""
        ...

    def create_order(self, request: OrderRequest) -> OrderResult:
        """Place the order and book the pickup. Idempotent by ``request.order_no``: an order
        the carrier already has is looked up and returned with ``already_existed``. Raises
        CarrierUnavailable (retry), CarrierRejected (for good)."""
        ...

    def cancel_order(self, order_no: str, *, task_id: str | None, reason: str) -> None:
        """Cancel before pickup; cancelling an order already cancelled is not an error.
        Raises CarrierUnavailable, CarrierRejected (already picked up, unknown)."""
        ...

    def fetch_tracking(self, *, waybill_no: str, company: str | None, phone: str | None) -> list[CarrierEvent]:
        """Every tracking event known for the waybill (polling, the fallback of pushes)."""
        ...

    def parse_push(self, *, body: bytes, headers: Mapping[str, str], form: Mapping[str, str]) -> list[CarrierEvent]:
        """Check a pushed callback's signature and read its events. Raises PushRejected."""
        ...

    def list_orders(self, day: date) -> list[OrderResult]:
        """The carrier's orders placed on ``day`` (China Standard Time), for reconciliation."""
        ...
