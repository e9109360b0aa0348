"""Courier bookings: booking a pickup, its slot, cancelling, tracking, the address book.

Every function takes the database session first and the acting party as keyword arguments,
flushes and never commits (the surface commits once per request, jobs and the CLI
explicitly).

- A booking is saved before any call to a carrier: :func:`book` takes a place in the
  pickup slot (ONE conditional UPDATE, never read-then-write), saves the booking with its
  first timeline entry and enqueues the outbox message ``courier.place_order`` (key
  ``booking:<id>``, unique), all in the caller's transaction. The worker places the order
  with our ``order_no`` as the carrier's order id (courier/jobs.py). When someone other
  than the government pays, ``courier.quote`` asks the carrier for its price, kept as
  ``quote_fen`` and shown with the booking: no request waits for a carrier.
- Personal data: mobile numbers are sealed (identity.residents.encrypt_phone) and kept
  masked; they are never logged or audited. :func:`view` shows masked
  names and numbers only.
- Tracking never moves a parcel backwards (:func:`record_tracking`, states.next_status).
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..applications import services as applications
from ..applications.models import Application
from ..catalog.models import Item
from ..core import audit, outbox
from ..core.actors import Actor
from ..core.clock import LOCAL_TZ, utcnow
from ..core.errors import Conflict, DomainError, Invalid, NotFound
from ..identity import residents
from ..sites import divisions
from ..sites.models import Site
from . import states
from .gateway import (
    Capabilities,
    CarrierEvent,
    CarrierRejected,
    CarrierUnavailable,
    CourierGateway,
    Party,
    Quote,
    QuoteRequest,
)
from .models import Booking, HandlingAuthority, PickupSlot, SavedAddress, TrackingEvent
from .states import OrderState, Purpose, Status

log = logging.getLogger(__name__)

PLACE_TOPIC = "courier.place_order"
CANCEL_TOPIC = "courier.cancel_order"
QUOTE_TOPIC = "courier.quote"  # the carrier's price, asked by the worker and kept on the booking
NOTIFY_TOPIC = "courier.notify"
GATEWAY_EXTENSION = "courier_gateway"  # app.extensions[...]: a gateway set by the composition (tests, demo)

CHANNELS = frozenset({"kiosk", "mobile", "api", "helper"})
SOURCES = frozenset({"push", "poll", "ours", "scan"})  # scan: the authority scanned the cover sheet
CARRIERS = ("demo", "kuaidi100")
DEFAULT_CARRIER = "demo"
LEGS = frozenset({Purpose.MATERIALS_TO_AUTHORITY, Purpose.RESULT_TO_APPLICANT})

NAME_MAX = 50
ADDRESS_MIN, ADDRESS_MAX = 2, 200
MAX_PIECES = 20
MAX_WEIGHT_GRAMS = 30_000
MAX_INSURED_FEN = 5_000_000  # 50,000 yuan
MAX_ADDRESSES = 20  # entries in one resident's address book
MAX_SLOT_CAPACITY = 500
DEFAULT_WINDOWS = (("09:00", "11:00", 10), ("14:00", "16:00", 10))

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")  # an office's line (a handling authority's 收件窗口)
_POSTCODE = re.compile(r"^\d{6}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_COMPANY = re.compile(r"^[a-z0-9_]{1,32}$")
_ORDER_NO = re.compile(r"^KB\d{8}[0-9A-Z]{8}$")
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U to misread


# ---------------------------------------------------------------- errors

class SlotFull(Conflict):
    """409: the pickup window has no place left (another booking took the last one)."""

    def __init__(self) -> None:
        super().__init__("This pickup window is full; choose another one.", "该揽收时段已约满，请选择其他时段。",
                         errors={"slot_id": ["full"]})


class NotCancellable(Conflict):
    """409: the parcel was picked up already (or the booking was cancelled): after pickup
    only the carrier's own exception flow can stop it."""

    def __init__(self) -> None:
        super().__init__("This booking can no longer be cancelled: the parcel has been picked up or the booking "
                         "was cancelled already.", "该寄件已揽收或已取消，无法取消；如需处理请联系快递公司。",
                         errors={"status": ["not cancellable"]})


class LegBooked(Conflict):
    """409: this leg of the application (邮寄材料 or 结果寄回家) has a live booking already; it
    can be booked again once that one is cancelled (and the carrier confirmed it), refused or
    returned."""

    def __init__(self, order_no: str | None = None) -> None:
        super().__init__("This leg of the application is booked already" + (f" ({order_no})" if order_no else "")
                         + ": look at that booking, or cancel it first.",
                         "该办件的这一段寄递已有预约" + (f"（{order_no}）" if order_no else "")
                         + "，请查看该预约，或先取消后再预约。",
                         errors={"application_number": ["booked already / 已有预约"]})


class BookingNotFound(NotFound):
    """404: no such booking, or not this resident's (the same answer for both)."""

    def __init__(self) -> None:
        super().__init__("No such booking.", "没有找到该寄件。")


class QuoteUnavailable(DomainError, CarrierUnavailable):
    """503: the carrier did not answer for a price (also a CarrierUnavailable)."""

    status_code = 503

    def __init__(self) -> None:
        super().__init__("The carrier cannot be reached for a price right now; the booking itself works.",
                         "暂时无法向快递公司查询运费，预约寄件不受影响。", headers={"Retry-After": "30"})


class _Problems:
    """Collects every invalid field, then raises one Invalid (422) naming them all."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}
        self.first: tuple[str, str, str] | None = None

    def add(self, path: tuple[str, ...], en: str, zh: str) -> None:
        node = self.errors
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).append(f"{en} / {zh}")
        if self.first is None:
            self.first = (".".join(path), en, zh)

    def raise_if_any(self) -> None:
        if self.first is not None:
            where, en, zh = self.first
            more = len(_leaves(self.errors)) - 1
            raise Invalid(f"{where}: {en}" + (f" (and {more} more)" if more else "") + ".",
                          zh + (f"（另有 {more} 处）" if more else "") + "。", errors=self.errors)


def _leaves(tree: dict) -> list:
    return [leaf for value in tree.values() for leaf in (_leaves(value) if isinstance(value, dict) else value)]


# ---------------------------------------------------------------- input

@dataclass(frozen=True)
class PartyIn:
    """A sender or recipient as a form or the API gives it. ``mobile`` None with the
    booking's ``*_uses_resident_mobile``: the resident's own number, read server-side; or with
    ``*_address_id``: the number kept in that address-book entry."""

    name: str
    mobile: str | None
    province_code: str
    city_code: str
    county_code: str
    address: str
    postcode: str | None = None


@dataclass(frozen=True)
class BookingIn:
    purpose: str                  # states.Purpose
    sender: PartyIn
    recipient: PartyIn
    item_type: str                # states.ItemType
    pieces: int                   # 1..20
    weight_grams: int             # 1..30000
    insured_value_fen: int        # 0..5_000_000 (50,000 yuan)
    payer: str                    # states.Payer
    pickup_mode: str              # states.PickupMode
    site_id: int
    slot_id: int
    application_number: str | None = None   # required for the two application legs
    carrier: str | None = None              # default: KIOSK_COURIER_CARRIER ("demo")
    company: str | None = None              # the express company code (ems, youzhengguonei …)
    sender_uses_resident_mobile: bool = False
    recipient_uses_resident_mobile: bool = False
    sender_address_id: int | None = None     # the mobile of this address-book entry (prefilled, masked on screen)
    recipient_address_id: int | None = None


@dataclass(frozen=True)
class _Party:
    """A checked party, mobile in clear (only in memory)."""

    name: str
    mobile: str
    province_code: str
    city_code: str
    county_code: str
    address: str
    postcode: str | None

    def __repr__(self) -> str:  # never the number in a log line or traceback
        return f"<Party {self.county_code} {mask_contact(self.mobile)}>"


def _text(problems: _Problems, path: tuple[str, ...], value: Any, *, low: int, high: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not isinstance(value, str) or not text:
        problems.add(path, "required", "必填")
    elif _CONTROL.search(text) or not _encodable(text):
        problems.add(path, "no control characters", "不能包含控制字符")
    elif not low <= len(text) <= high:
        problems.add(path, f"{low} to {high} characters", f"应为 {low} 到 {high} 个字")
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # unpaired surrogates
        return False
    return True


def normalize_contact(value: str) -> str:
    """A mainland mobile number (``^1[3-9]\\d{9}$``, blanks and +86 removed) or an office's
    fixed line (``0792-8221234``); raises ValueError otherwise."""
    try:
        return residents.normalize_phone(value)
    except ValueError:
        line = re.sub(r"\s", "", value or "")
        if _LANDLINE.match(line):
            return line
        raise ValueError("a mobile number (11 digits starting 13–19) or an office line (0792-8221234)") from None


def mask_contact(number: str) -> str:
    """``13800138000`` → ``138****8000``; an office line keeps its area code and last 4."""
    if residents.PHONE.match(number):
        return residents.mask_phone(number)
    return number[:-8] + "****" + number[-4:] if len(number) > 8 else "****" + number[-4:]


def seal_mobile(number: str) -> str:
    """A number sealed as identity keeps residents' phones (residents.encrypt_phone)."""
    return residents.encrypt_phone(number)


def reveal_mobile(stored: str) -> str:
    """The clear number of a courier column (for the carrier, an SMS); never log it. Raises
    ValueError for a value not sealed with this deployment's key."""
    return residents.decrypt_phone(stored)


def mobile_of(booking: Booking, side: str) -> str:
    """The clear mobile of ``side`` ("sender" or "recipient") of ``booking``."""
    return reveal_mobile(getattr(booking, f"{side}_mobile_encrypted"))


def _own_mobile(resident) -> str | None:
    if resident is None or not resident.phone_encrypted:
        return None
    try:
        return residents.phone_of(resident)
    except ValueError:
        log.warning("resident %s: stored mobile cannot be read with this key", resident.id)
        return None


def _check_party(session: Session, problems: _Problems, side: str, party: PartyIn | None, *, resident,
                 uses_own: bool, address_id: int | None) -> _Party | None:
    if not isinstance(party, PartyIn):
        problems.add((side,), "required", "必填")
        return None
    name = _text(problems, (side, "name"), party.name, low=1, high=NAME_MAX)
    mobile = None
    if party.mobile is not None and (uses_own or address_id is not None):
        problems.add((side, "mobile"), "leave it empty to use the number on record", "使用已保存的号码时请勿另填号码")
    elif party.mobile is not None:
        try:
            mobile = normalize_contact(party.mobile if isinstance(party.mobile, str) else "")
        except ValueError as exc:
            problems.add((side, "mobile"), str(exc), "请输入 11 位手机号码或单位固定电话")
    elif uses_own:
        mobile = _own_mobile(resident)
        if mobile is None:
            problems.add((side, "mobile"), "no mobile number on record: type one", "没有您的手机号码记录，请填写")
    elif address_id is not None:
        entry = session.get(SavedAddress, address_id) if isinstance(address_id, int) else None
        if entry is None or resident is None or entry.resident_id != resident.id:
            problems.add((side, "address_id"), "not one of your addresses", "不是您保存的地址")
        else:
            mobile = reveal_mobile(entry.mobile_encrypted)
    else:
        problems.add((side, "mobile"), "required", "请填写手机号码")
    codes = [party.province_code, party.city_code, party.county_code]
    if not all(isinstance(code, str) and code.strip() for code in codes):
        for name_, code in zip(("province_code", "city_code", "county_code"), codes, strict=True):
            if not (isinstance(code, str) and code.strip()):
                problems.add((side, name_), "required", "请选择")
    else:
        for field_, en, zh in divisions.validate_codes(*codes):
            problems.add((side, field_), en, zh)
    address = _text(problems, (side, "address"), party.address, low=ADDRESS_MIN, high=ADDRESS_MAX)
    postcode = party.postcode.strip() if isinstance(party.postcode, str) and party.postcode.strip() else None
    if postcode is not None and not _POSTCODE.match(postcode):
        problems.add((side, "postcode"), "6 digits", "邮政编码为 6 位数字")
    if mobile is None or problems.errors.get(side):
        return None
    return _Party(name, mobile, party.province_code.strip(), party.city_code.strip(), party.county_code.strip(),
                  address, postcode)


def _choice(problems: _Problems, name: str, value: Any, choices) -> str | None:
    allowed = [str(c) for c in choices]
    if value not in allowed:
        problems.add((name,), f"one of {', '.join(allowed)}", f"只能是 {'、'.join(allowed)}")
        return None
    return value


def _number(problems: _Problems, name: str, value: Any, low: int, high: int) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        problems.add((name,), f"a whole number from {low} to {high}", f"应为 {low} 到 {high} 的整数")
        return None
    return value


def configured_carrier() -> str:
    if has_app_context():
        return str(current_app.config.get("KIOSK_COURIER_CARRIER") or DEFAULT_CARRIER)
    return DEFAULT_CARRIER


@dataclass(frozen=True)
class _Checked:
    sender: _Party
    recipient: _Party
    carrier: str
    company: str | None


PAYER_WORDS = {"government": "政府付费", "recipient": "到付", "sender": "寄付"}
MODE_WORDS = {"counter": "到网点交寄", "home": "上门揽收"}


def carrier_capabilities(carrier: str | None = None) -> Capabilities:
    """What the carrier (default: the configured one) can do (gateway.Capabilities)."""
    from . import carriers  # the registry; imported when needed, as gateway_for does

    return carriers.capabilities_of(carrier or configured_carrier())


def pickup_days(capabilities: Capabilities, days: int) -> int:
    """How many days of pickup windows (from today) to offer: ``days``, or fewer when the
    carrier books pickups only so far ahead."""
    if capabilities.pickup_days_ahead is None:
        return days
    return max(1, min(days, capabilities.pickup_days_ahead + 1))


def _check_capabilities(session: Session, data: BookingIn, carrier: str, problems: _Problems, moment: datetime) -> None:
    """Refuse, by field and before anything is saved, a choice the carrier cannot carry out:
    a payer it does not take (快递100: no 到付), a pickup mode it does not serve, a pickup
    window further ahead than it books."""
    capabilities = carrier_capabilities(carrier)
    if data.payer in PAYER_WORDS and data.payer not in capabilities.payers:
        allowed = [p for p in PAYER_WORDS if p in capabilities.payers]
        problems.add(("payer",), f"the carrier ({carrier}) does not take this payer; choose {' or '.join(allowed)}",
                     f"所选快递不支持{PAYER_WORDS[data.payer]}，请选择{'或'.join(PAYER_WORDS[p] for p in allowed)}")
    if data.pickup_mode in MODE_WORDS and data.pickup_mode not in capabilities.pickup_modes:
        problems.add(("pickup_mode",), f"the carrier ({carrier}) does not offer this pickup",
                     f"所选快递不提供{MODE_WORDS[data.pickup_mode]}")
    ahead = capabilities.pickup_days_ahead
    if ahead is not None and isinstance(data.slot_id, int) and not isinstance(data.slot_id, bool):
        slot = session.get(PickupSlot, data.slot_id)
        if slot is not None and (slot.day - china_now(moment)[0]).days > ahead:
            problems.add(("slot_id",), f"the carrier ({carrier}) books pickups at most {ahead} days ahead",
                         f"所选快递只能预约 {ahead + 1} 天内（含今天）的揽收时段，请选择更近的时段")


def _check(session: Session, data: BookingIn, resident, problems: _Problems, *, now=utcnow) -> _Checked | None:
    """The checks a quote and a booking share: parties, numbers, choices, carrier and what it
    can do."""
    _choice(problems, "purpose", data.purpose, states.Purpose)
    _choice(problems, "item_type", data.item_type, states.ItemType)
    _choice(problems, "payer", data.payer, states.Payer)
    _choice(problems, "pickup_mode", data.pickup_mode, states.PickupMode)
    _number(problems, "pieces", data.pieces, 1, MAX_PIECES)
    _number(problems, "weight_grams", data.weight_grams, 1, MAX_WEIGHT_GRAMS)
    _number(problems, "insured_value_fen", data.insured_value_fen, 0, MAX_INSURED_FEN)
    sender = _check_party(session, problems, "sender", data.sender, resident=resident,
                          uses_own=bool(data.sender_uses_resident_mobile), address_id=data.sender_address_id)
    recipient = _check_party(session, problems, "recipient", data.recipient, resident=resident,
                             uses_own=bool(data.recipient_uses_resident_mobile), address_id=data.recipient_address_id)
    carrier = data.carrier or configured_carrier()
    if _choice(problems, "carrier", carrier, CARRIERS) is not None:
        _check_capabilities(session, data, carrier, problems, now())
    company = data.company or None
    if company is not None and not (isinstance(company, str) and _COMPANY.match(company)):
        problems.add(("company",), "a carrier's company code (ems, youzhengguonei)", "快递公司编码不正确")
    if sender is None or recipient is None:
        return None
    return _Checked(sender, recipient, carrier, company)


def _application_for(session: Session, data: BookingIn, *, resident, helper, problems: _Problems) -> Application | None:
    """The application the booking is for: required for the two legs, and the resident's
    (raises ApplicationNotFound, 404, the same for an unknown number and someone else's)."""
    number = data.application_number
    if not number:
        if data.purpose in LEGS:
            problems.add(("application_number",), "required for this purpose", "该寄递用途须填写办件编号")
        return None
    try:
        number = applications.normalize_number(number)
    except Invalid:
        problems.add(("application_number",), "6 to 40 letters, digits or hyphens", "办件编号格式不正确")
        return None
    application = applications.get_by_number(session, number)
    if application is None:
        raise applications.ApplicationNotFound()
    if resident is not None:
        if not applications.owned_by(application, resident):
            raise applications.ApplicationNotFound()
    elif helper is None:
        raise applications.ApplicationNotFound()
    return application


# ---------------------------------------------------------------- slots

def china_now(moment: datetime) -> tuple[date, str]:
    """(today, "HH:MM") in China Standard Time: slots are local days and windows."""
    local = moment.astimezone(LOCAL_TZ)
    return local.date(), local.strftime("%H:%M")


def _open_window(moment: datetime):
    today, hhmm = china_now(moment)
    return sa.or_(PickupSlot.day > today, sa.and_(PickupSlot.day == today, PickupSlot.ends > hhmm))


def _forget_slot(session: Session, slot_id: int) -> None:
    """The conditional UPDATEs bypass the ORM: a loaded slot reads its counts again."""
    loaded = session.identity_map.get(sa.inspect(PickupSlot).identity_key_from_primary_key((slot_id,)))
    if loaded is not None:
        session.expire(loaded)


def take_slot(session: Session, slot_id: int, site_id: int, *, now=utcnow) -> None:
    """Take one place of slot ``slot_id`` at site ``site_id``: ONE conditional UPDATE
    (``taken = taken + 1 WHERE taken < capacity`` and the slot is the site's and still to
    come), so of N concurrent requests for the last place exactly one gets it.

    Raises SlotFull (409), Invalid (not this site's slot, or its window is over)."""
    moment = now()
    taken = session.execute(
        sa.update(PickupSlot)
        .where(PickupSlot.id == slot_id, PickupSlot.site_id == site_id, PickupSlot.taken < PickupSlot.capacity,
               _open_window(moment))
        .values(taken=PickupSlot.taken + 1)
        .execution_options(synchronize_session=False)).rowcount
    _forget_slot(session, slot_id)
    if taken == 1:
        return
    # Why not: read only to explain the refusal (the decision was the UPDATE's).
    slot = session.get(PickupSlot, slot_id, populate_existing=True)
    if slot is None or slot.site_id != site_id:
        raise Invalid("slot_id: not a pickup slot of this site.", "所选揽收时段不属于该网点。",
                      errors={"slot_id": ["not a slot of this site / 不属于该网点"]})
    today, hhmm = china_now(moment)
    if slot.day < today or (slot.day == today and slot.ends <= hhmm):
        raise Invalid("slot_id: this pickup window is over.", "该揽收时段已过，请选择其他时段。",
                      errors={"slot_id": ["over / 已过"]})
    raise SlotFull()


def release_slot(session: Session, slot_id: int | None) -> None:
    """Give one place back (``taken - 1 WHERE taken > 0``)."""
    if slot_id is None:
        return
    session.execute(sa.update(PickupSlot).where(PickupSlot.id == slot_id, PickupSlot.taken > 0)
                    .values(taken=PickupSlot.taken - 1).execution_options(synchronize_session=False))
    _forget_slot(session, slot_id)


def open_slots(session: Session, site_id: int, *, day_from: date, days: int = 7, now=utcnow) -> list[PickupSlot]:
    """The site's slots with places left from ``day_from`` for ``days`` days, windows already
    over left out, in time order."""
    return list(session.scalars(
        sa.select(PickupSlot)
        .where(PickupSlot.site_id == site_id, PickupSlot.day >= day_from,
               PickupSlot.day < day_from + timedelta(days=max(1, days)), PickupSlot.taken < PickupSlot.capacity,
               _open_window(now()))
        .order_by(PickupSlot.day, PickupSlot.starts)))


def ensure_slots(session: Session, site_id: int, day: date, windows=DEFAULT_WINDOWS, *,
                 actor: Actor | str) -> list[PickupSlot]:
    """The site's slots of ``day`` for ``windows`` (("09:00", "11:00", capacity), …): the
    missing ones are created, existing ones kept as they are (their capacity too). Returns
    the day's slots for those windows, in time order.

    Raises NotFound (no such site), Invalid (a window's times or capacity)."""
    if session.get(Site, site_id) is None:
        raise NotFound("No such site.", "没有找到该网点。")
    problems = _Problems()
    for i, window in enumerate(windows):
        starts, ends, capacity = window
        if not (isinstance(starts, str) and _TIME.match(starts) and isinstance(ends, str) and _TIME.match(ends)
                and starts < ends):
            problems.add(("windows", str(i)), "HH:MM to a later HH:MM", "时段应为 HH:MM 至更晚的 HH:MM")
        _number(problems, f"windows.{i}.capacity", capacity, 0, MAX_SLOT_CAPACITY)
    problems.raise_if_any()
    created = []
    for starts, ends, capacity in windows:
        exists = session.scalar(sa.select(PickupSlot.id).where(PickupSlot.site_id == site_id, PickupSlot.day == day,
                                                               PickupSlot.starts == starts))
        if exists is not None:
            continue
        slot = PickupSlot(site_id=site_id, day=day, starts=starts, ends=ends, capacity=capacity, taken=0)
        try:
            with session.begin_nested():
                session.add(slot)
        except IntegrityError:
            continue  # made at the same moment by another request
        created.append(f"{starts}-{ends}")
    if created:
        audit.record(session, actor=actor, action="courier.slots.ensure", target=f"site:{site_id}",
                     details={"day": day.isoformat(), "windows": created})
    session.flush()
    return list(session.scalars(sa.select(PickupSlot).where(
        PickupSlot.site_id == site_id, PickupSlot.day == day,
        PickupSlot.starts.in_([w[0] for w in windows])).order_by(PickupSlot.starts)))


# ---------------------------------------------------------------- booking

def new_order_no(moment: datetime) -> str:
    """``KB`` + the China date + 8 random base-32 characters (40 bits): our order id, sent to
    the carrier as its order id."""
    return "KB" + moment.astimezone(LOCAL_TZ).strftime("%Y%m%d") + "".join(secrets.choice(_BASE32) for _ in range(8))


def _unique_order_no(session: Session, moment: datetime) -> str:
    for _ in range(5):
        number = new_order_no(moment)
        if session.scalar(sa.select(Booking.id).where(Booking.order_no == number)) is None:
            return number
    raise RuntimeError("no free order number after 5 draws")  # 40 random bits a day: never in practice


def authority_as_party(authority: HandlingAuthority) -> _Party:
    """The handling authority as a booking's party: its registered name (org and 收件窗口),
    office line and postal address."""
    return _Party(f"{authority.org_name}（{authority.recipient_name}）"[:NAME_MAX], authority.phone,
                  authority.province_code, authority.city_code, authority.county_code, authority.address,
                  authority.postcode)


def _registered_authority(session: Session, application: Application, purpose: str, checked: _Checked,
                          problems: _Problems) -> tuple[_Checked, bool]:
    """For the two application legs the authority's side (the recipient of the materials, the
    sender of the result) is the address registered for the application's handling org, on
    the server: whatever a client sent for that side is replaced (returns True when it
    differed). Without a registered address the leg cannot be booked (422 on that side)."""
    side = OFFICE_SIDE[purpose]
    authority = find_authority(session, application)
    if authority is None:
        problems.add((side,), "the handling authority's postal address is not registered yet, so this leg cannot be "
                              "booked (ask at the counter)", "办理机关的收件地址尚未登记，暂不能预约该段寄递，请到柜台咨询")
        return checked, False
    office = authority_as_party(authority)
    sent = getattr(checked, side)
    differs = (sent.name, sent.mobile, sent.county_code, sent.address) != (office.name, office.mobile,
                                                                           office.county_code, office.address)
    if differs:
        log.info("booking for %s: the %s side sent was replaced by the registered authority %s",
                 application.number, side, authority.id)
    return replace(checked, **{side: office}), differs


def live_leg(session: Session, application_id: int, purpose: str) -> Booking | None:
    """The live booking of the leg ``purpose`` of application ``application_id`` (models.LIVE_LEG:
    not refused, not cancelled for good, not returned), or None."""
    if purpose not in LEGS:
        return None
    return session.scalar(sa.select(Booking).where(
        Booking.application_id == application_id, Booking.purpose == purpose,
        Booking.order_state != OrderState.FAILED,
        sa.or_(Booking.status.not_in([Status.CANCELLED, Status.RETURNED]),
               Booking.order_state == OrderState.CANCELLING)).order_by(Booking.id).limit(1))


def _party_columns(prefix: str, party: _Party) -> dict[str, Any]:
    return {f"{prefix}_name": party.name, f"{prefix}_mobile_encrypted": seal_mobile(party.mobile),
            f"{prefix}_mobile_masked": mask_contact(party.mobile), f"{prefix}_province": party.province_code,
            f"{prefix}_city": party.city_code, f"{prefix}_county": party.county_code,
            f"{prefix}_address": party.address, f"{prefix}_postcode": party.postcode}


def book(session: Session, data: BookingIn, *, resident, channel: str, kiosk=None, helper=None,
         actor: Actor | str, now=utcnow) -> Booking:
    """Book a courier pickup for ``resident`` (identity's Resident; None only when a helper
    books for someone not logged in). Checks everything, takes a place in the slot (one
    conditional UPDATE), saves the booking (待揽收, order pending) with its first timeline
    entry and enqueues ``courier.place_order``: the carrier is called by the worker, after
    the commit.

    An application leg is booked once while a booking of it is live (models.LIVE_LEG): a
    second one is refused before anything is taken, and two racing requests meet the
    partial unique index uq_courier_booking_live_leg, so only one commits.

    Raises Invalid (422, every bad field named: ``sender.mobile``, ``slot_id`` …), SlotFull
    (409), LegBooked (409), ApplicationNotFound (404: unknown, or not the resident's),
    NotFound (the site).
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if resident is None and helper is None:
        raise ValueError("a booking is made by a resident, or by a helper for someone")
    problems = _Problems()
    checked = _check(session, data, resident, problems, now=now)
    application = _application_for(session, data, resident=resident, helper=helper, problems=problems)
    for name in ("site_id", "slot_id"):
        _number(problems, name, getattr(data, name), 1, 2**31 - 1)
    problems.raise_if_any()
    assert checked is not None
    replaced = False
    if application is not None and data.purpose in LEGS:
        checked, replaced = _registered_authority(session, application, data.purpose, checked, problems)
    problems.raise_if_any()
    if session.get(Site, data.site_id) is None:
        raise NotFound("No such site.", "没有找到该网点。")
    if application is not None and data.purpose in LEGS:
        booked = live_leg(session, application.id, data.purpose)
        if booked is not None:
            raise LegBooked(booked.order_no if booked.resident_id == getattr(resident, "id", None) else None)
    moment = now()
    take_slot(session, data.slot_id, data.site_id, now=lambda: moment)
    booking = Booking(
        order_no=_unique_order_no(session, moment), purpose=data.purpose,
        application_id=application.id if application is not None else None,
        resident_id=resident.id if resident is not None else None, channel=channel,
        kiosk_id=kiosk.id if kiosk is not None else None, helper_id=helper.id if helper is not None else None,
        **_party_columns("sender", checked.sender), **_party_columns("recipient", checked.recipient),
        item_type=data.item_type, pieces=data.pieces, weight_grams=data.weight_grams,
        insured_value_fen=data.insured_value_fen, payer=data.payer, pickup_mode=data.pickup_mode,
        site_id=data.site_id, slot_id=data.slot_id, carrier=checked.carrier, carrier_company=checked.company,
        order_state=OrderState.PENDING, status=Status.PENDING_PICKUP, status_at=moment, version=1,
        created_at=moment, updated_at=moment)
    booking.events.append(TrackingEvent(dedupe_key="ours:booked", status=Status.PENDING_PICKUP,
                                        raw_text="已预约上门/网点揽收，等待快递员揽收", occurred_at=moment,
                                        received_at=moment, source="ours", applied=True))
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError:
        # Another request booked the same leg between the check above and this insert.
        if application is not None and data.purpose in LEGS and live_leg(session, application.id, data.purpose):
            raise LegBooked() from None
        raise
    outbox.enqueue(session, PLACE_TOPIC, {"booking_id": booking.id}, key=f"booking:{booking.id}", now=lambda: moment)
    if data.payer != states.Payer.GOVERNMENT:  # somebody pays: the price is asked for and kept (quote_fen)
        outbox.enqueue(session, QUOTE_TOPIC, {"booking_id": booking.id}, key=f"booking:{booking.id}",
                       now=lambda: moment)
    audit.record(session, actor=actor, action="courier.book", target=f"booking:{booking.order_no}",
                 details={"purpose": data.purpose, "channel": channel, "site_id": data.site_id,
                          "slot_id": data.slot_id, "carrier": checked.carrier,
                          "application": application.number if application is not None else None,
                          **({"authority_address_replaced": True} if replaced else {})},
                 now=lambda: moment)
    session.flush()
    return booking


def gateway_for(session: Session, name: str | None = None) -> CourierGateway:
    """The gateway of carrier ``name`` (default: the configured one), from courier.carriers'
    registry. A gateway the composition put in ``app.extensions["courier_gateway"]`` (tests,
    the demo) is used for the carrier it is named for, as the registry does; a mapping or a
    factory there is the registry's to read. Raises CarrierRejected (unknown or not
    configured carrier)."""
    name = name or configured_carrier()
    override = current_app.extensions.get(GATEWAY_EXTENSION) if has_app_context() else None
    if override is not None and hasattr(override, "create_order") and getattr(override, "name", name) == name:
        return override
    from . import carriers  # the registry reads carrier accounts; imported only when a carrier is called

    return carriers.gateway_for(session, name)


def gateway_party(party: _Party | None = None, *, booking: Booking | None = None, side: str = "") -> Party:
    """A party as the carrier needs it (division names as well as codes), from a checked
    party or from ``side`` of a saved booking."""
    if party is None:
        assert booking is not None
        party = _Party(getattr(booking, f"{side}_name"), mobile_of(booking, side), getattr(booking, f"{side}_province"),
                       getattr(booking, f"{side}_city"), getattr(booking, f"{side}_county"),
                       getattr(booking, f"{side}_address"), getattr(booking, f"{side}_postcode"))
    return Party(name=party.name, mobile=party.mobile, province_code=party.province_code, city_code=party.city_code,
                 county_code=party.county_code, province=divisions.province(party.province_code) or "",
                 city=divisions.city(party.city_code) or "", county=divisions.county(party.county_code) or "",
                 address=party.address, postcode=party.postcode)


def quote(session: Session, data: BookingIn, *, resident, gateway: CourierGateway | None = None) -> Quote:
    """The carrier's price for ``data``, for display only (the booking does not wait for it).
    It calls the carrier: never from a request (the kiosk and the API show the price the
    worker keeps on the booking, jobs.quote_booking). Raises Invalid (422), QuoteUnavailable
    (503, a CarrierUnavailable: the carrier did not answer)."""
    problems = _Problems()
    checked = _check(session, data, resident, problems)
    problems.raise_if_any()
    assert checked is not None
    try:
        gateway = gateway or gateway_for(session, checked.carrier)
    except CarrierRejected:  # the carrier is not configured (yet): no price, the booking still works
        raise QuoteUnavailable() from None
    request = QuoteRequest(sender=gateway_party(checked.sender), recipient=gateway_party(checked.recipient),
                           weight_grams=data.weight_grams, company=checked.company)
    try:
        return gateway.quote(request)
    except CarrierUnavailable:
        raise QuoteUnavailable() from None
    except CarrierRejected as exc:
        raise Invalid(f"The carrier cannot carry this: {exc}.", "快递公司无法承运该寄件，请检查地址。",
                      errors={"carrier": [str(exc)[:200]]}) from None


# ---------------------------------------------------------------- changing

def _refresh_or_conflict(session: Session, booking: Booking, moved: bool) -> None:
    session.refresh(booking)
    if not moved:
        raise Conflict("The booking changed meanwhile; look at it again.", "寄件信息刚刚发生变化，请刷新后重试。")


def change_slot(session: Session, booking: Booking, slot_id: int, *, actor: Actor | str, now=utcnow) -> Booking:
    """Move the booking to slot ``slot_id`` of its site: the new place is taken and the old
    one given back in the same transaction. Only before pickup; a home pickup the carrier
    has already scheduled cannot move (cancel and book again).

    Raises SlotFull (409), NotCancellable (409: picked up or cancelled), Conflict (the carrier
    has the pickup time already, or the booking changed meanwhile), Invalid (another site's
    slot, a window that is over)."""
    if booking.slot_id == slot_id:
        return booking
    if not cancellable(booking):  # picked up, cancelled, refused, or a cancel the carrier refused
        raise NotCancellable()
    # A home pickup moves only while the order is not placed: once placed the carrier has the
    # window. The UPDATE below accepts exactly these states, so a worker placing the order
    # between this check and the UPDATE makes it change nothing (409), never a window the
    # carrier does not know.
    home = booking.pickup_mode == states.PickupMode.HOME
    movable_orders = [OrderState.PENDING] if home else [OrderState.PENDING, OrderState.PLACED]
    if booking.order_state not in movable_orders:
        raise Conflict("The carrier has scheduled the pickup at home already: cancel and book again to change it.",
                       "快递公司已安排上门揽收时间，如需更改请取消后重新预约。", errors={"slot_id": ["scheduled"]})
    old = booking.slot_id
    moment = now()
    _check_slot_for_carrier(session, booking, slot_id, moment)
    take_slot(session, slot_id, booking.site_id, now=lambda: moment)
    moved = session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.version == booking.version, Booking.status == Status.PENDING_PICKUP,
               Booking.order_state.in_(movable_orders), Booking.pickup_mode == booking.pickup_mode)
        .values(slot_id=slot_id, version=Booking.version + 1, updated_at=moment)
        .execution_options(synchronize_session=False)).rowcount == 1
    if moved:
        release_slot(session, old)
        audit.record(session, actor=actor, action="courier.change_slot", target=f"booking:{booking.order_no}",
                     details={"from": old, "to": slot_id}, now=lambda: moment)
    _refresh_or_conflict(session, booking, moved)  # a refusal rolls the taken place back with the transaction
    return booking


def _check_slot_for_carrier(session: Session, booking: Booking, slot_id: int, moment: datetime) -> None:
    """A new window the booking's carrier cannot book (too far ahead) is refused (422)."""
    ahead = carrier_capabilities(booking.carrier).pickup_days_ahead
    slot = session.get(PickupSlot, slot_id) if isinstance(slot_id, int) else None
    if ahead is not None and slot is not None and (slot.day - china_now(moment)[0]).days > ahead:
        raise Invalid(f"slot_id: the carrier ({booking.carrier}) books pickups at most {ahead} days ahead.",
                      f"所选快递只能预约 {ahead + 1} 天内（含今天）的揽收时段，请选择更近的时段。",
                      errors={"slot_id": [f"at most {ahead} days ahead / 最多提前 {ahead} 天"]})


def cancel(session: Session, booking: Booking, *, actor: Actor | str, reason: str | None = None,
           now=utcnow) -> Booking:
    """Cancel before pickup: 已取消, the order being cancelled at the carrier through the outbox
    (``courier.cancel_order``). The slot's place is given back once the carrier confirms
    (jobs.cancel_order); if the carrier refuses (the parcel was picked up meanwhile), the
    booking goes back to where it was with a note on its timeline (:func:`cancel_refused`),
    its place still held.

    Raises NotCancellable (409: picked up, or cancelled already), Invalid (a reason over 100
    characters)."""
    text = (reason or "").strip()
    if len(text) > 100 or _CONTROL.search(text):
        raise Invalid("reason: at most 100 characters on one line.", "取消原因最多 100 个字。",
                      errors={"reason": ["at most 100 characters / 最多 100 个字"]})
    cancellable_orders = [OrderState.PENDING, OrderState.PLACED]
    if not cancellable(booking):
        raise NotCancellable()
    moment = now()
    done = session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.version == booking.version, Booking.status == Status.PENDING_PICKUP,
               Booking.order_state.in_(cancellable_orders),
               sa.or_(Booking.last_error.is_(None), Booking.last_error.not_like(f"{CANCEL_REFUSED}%")))
        .values(status=Status.CANCELLED, status_at=moment, cancelled_at=moment, order_state=OrderState.CANCELLING,
                version=Booking.version + 1, updated_at=moment)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not done:
        session.refresh(booking)
        if not cancellable(booking):
            raise NotCancellable()
        raise Conflict("The booking changed meanwhile; look at it again.", "寄件信息刚刚发生变化，请刷新后重试。")
    # A booking can be cancelled again after a refused cancel: one timeline entry per cancel.
    session.add(TrackingEvent(booking_id=booking.id, dedupe_key=f"ours:cancelled:v{booking.version + 1}",
                              status=Status.CANCELLED,
                              raw_text="已取消预约" + (f"：{text}" if text else ""), occurred_at=moment,
                              received_at=moment, source="ours", applied=True))
    outbox.enqueue(session, CANCEL_TOPIC, {"booking_id": booking.id, "reason": text or "用户取消"},
                   key=f"booking:{booking.id}", now=lambda: moment)
    audit.record(session, actor=actor, action="courier.cancel", target=f"booking:{booking.order_no}",
                 details={"reason": text} if text else {}, now=lambda: moment)
    session.flush()
    session.refresh(booking)
    session.expire(booking, ["events"])
    return booking


CANCEL_REFUSED = "cancel refused"  # how last_error starts when the carrier refused a cancel (the console's filter)


def cancel_confirmed(session: Session, booking: Booking, *, now=utcnow) -> bool:
    """The carrier cancelled the order (or never had it): order 已取消 and the slot's place
    given back, once. Returns whether this call settled it."""
    moment = now()
    done = session.execute(sa.update(Booking)
                           .where(Booking.id == booking.id, Booking.order_state == OrderState.CANCELLING)
                           .values(order_state=OrderState.CANCELLED, last_error=None, updated_at=moment)
                           .execution_options(synchronize_session=False)).rowcount == 1
    if done:
        release_slot(session, booking.slot_id)
    session.refresh(booking)
    return done


def cancel_refused(session: Session, booking: Booking, reason: str, *, now=utcnow) -> bool:
    """The carrier refused to cancel an order it had taken (the parcel was picked up
    meanwhile): the booking is not 已取消. It goes back to 待揽收 with its order placed, its
    place in the slot kept, ``last_error`` starting "cancel refused" (the console lists these)
    and a note on the timeline; then the carrier's events that came while it showed 已取消
    are applied, so that it shows where the parcel is. Returns whether this call restored it."""
    moment = now()
    restored = session.execute(
        sa.update(Booking)
        .where(Booking.id == booking.id, Booking.order_state == OrderState.CANCELLING,
               Booking.status == Status.CANCELLED)
        .values(status=Status.PENDING_PICKUP, status_at=moment, cancelled_at=None, order_state=OrderState.PLACED,
                last_error=f"{CANCEL_REFUSED}: {reason}"[:500], version=Booking.version + 1, updated_at=moment)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not restored:
        session.refresh(booking)
        return False
    session.refresh(booking)
    session.add(TrackingEvent(booking_id=booking.id, dedupe_key=f"ours:cancel_refused:v{booking.version}",
                              status=Status.PENDING_PICKUP, raw_code="cancel_refused",
                              raw_text=_cut(f"快递公司未同意取消，预约仍然有效（包裹可能已被揽收）：{reason}", 500) or "",
                              occurred_at=moment, received_at=moment, source="ours", applied=True))
    session.flush()
    held = list(session.scalars(sa.select(TrackingEvent).where(
        TrackingEvent.booking_id == booking.id, TrackingEvent.applied.is_(False), TrackingEvent.source != "ours")
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)))
    if held:  # the resident hears of them as of any event (揽收 …), though they came while 已取消 was shown
        _notify_furthest(session, booking,
                         _advance(session, booking, held, moment, heard=False, waybill=None, company=None), moment)
    session.flush()
    session.refresh(booking)
    session.expire(booking, ["events"])
    return True


# ---------------------------------------------------------------- tracking

def dedupe_key(event: CarrierEvent) -> str:
    """The carrier's event id (when short enough), else a digest of what the event says: a
    push and a poll of the same event are one row."""
    if event.event_id and len(event.event_id) <= 60:
        return f"id:{event.event_id}"
    basis = event.event_id or "|".join((event.occurred_at.isoformat(), str(event.status), event.raw_code or "",
                                        event.raw_text or "", event.location or ""))
    return "h:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:60]


def _cut(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = _CONTROL.sub(" ", value).strip()
    return value[:limit]


def record_tracking(session: Session, booking: Booking, events: list[CarrierEvent], *, source: str,
                    now=utcnow, notify: bool = True) -> int:
    """Keep the carrier's events of ``booking`` and move its status; returns how many events
    moved it. Every new event is kept on the timeline (raw code, text, location); one seen
    before (same dedupe key) is skipped, even when a push and a poll bring it at once.

    The status never goes backwards: events are applied in the order they happened; one
    older than the status already shown is only recorded, and states.next_status decides the
    rest (final stays final, detours end with a later forward event). The move is one
    conditional UPDATE on the booking's version, computed again if another worker moved the
    booking first. The resident hears of 揽收, 派送中 and 签收 by SMS (outbox
    ``courier.notify``, once per status; of several at once, the furthest), unless ``notify``
    is False (history loaded after the fact: the demo).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown tracking source {source!r}")
    moment = now()
    known = set(session.scalars(sa.select(TrackingEvent.dedupe_key).where(TrackingEvent.booking_id == booking.id)))
    fresh: list[TrackingEvent] = []
    waybill = company = None
    for event in sorted(events, key=lambda e: e.occurred_at):
        waybill = waybill or _cut(event.waybill_no, 40)
        company = company or _cut(event.company, 32)
        key = dedupe_key(event)
        if key in known:
            continue
        known.add(key)
        row = TrackingEvent(booking_id=booking.id, dedupe_key=key, status=Status(event.status),
                            raw_code=_cut(event.raw_code, 32), raw_text=_cut(event.raw_text, 500) or "",
                            location=_cut(event.location, 200), occurred_at=event.occurred_at, received_at=moment,
                            source=source, applied=False)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # the same event, saved at this moment by a push or poll racing this one
        fresh.append(row)
    applied = _advance(session, booking, fresh, moment, heard=source != "ours", waybill=waybill, company=company)
    if notify:
        _notify_furthest(session, booking, applied, moment)
    session.flush()
    session.refresh(booking)
    session.expire(booking, ["events"])
    return len(applied)


def _notify_furthest(session: Session, booking: Booking, applied: list[TrackingEvent], moment: datetime) -> None:
    """The resident's text (``courier.notify``) for the furthest of the ``applied`` events
    that are told (揽收, 派送中, 签收), once per status."""
    notified = [row for row in applied if row.status in states.NOTIFIED]
    if notified:
        row = notified[-1]
        outbox.enqueue(session, NOTIFY_TOPIC, {"booking_id": booking.id, "status": row.status, "event_id": row.id},
                       key=f"booking:{booking.id}:{row.status}", now=lambda: moment)


def _advance(session: Session, booking: Booking, fresh: list[TrackingEvent], moment: datetime, *, heard: bool,
             waybill: str | None, company: str | None) -> list[TrackingEvent]:
    for _ in range(5):
        row = session.execute(sa.select(Booking.status, Booking.status_at, Booking.version, Booking.waybill_no,
                                        Booking.carrier_company).where(Booking.id == booking.id)).one()
        current, current_at = Status(row.status), row.status_at
        applied = []
        for event in fresh:
            # Older than what is shown: news from before (a replayed day, a crossing poll).
            # Before pickup the shown time is ours (the booking), not the carrier's clock.
            if current != Status.PENDING_PICKUP and event.occurred_at < current_at:
                continue
            target = states.next_status(current, event.status)
            if target is None:
                continue
            current, current_at = target, event.occurred_at
            applied.append(event)
        values: dict[str, Any] = {}
        if heard:
            values["last_tracked_at"] = moment
        if waybill and not row.waybill_no:
            values["waybill_no"] = waybill
        if company and not row.carrier_company:
            values["carrier_company"] = company
        if applied:
            values.update(status=current, status_at=current_at, version=row.version + 1, updated_at=moment)
        if values:
            moved = session.execute(sa.update(Booking).where(Booking.id == booking.id, Booking.version == row.version)
                                    .values(**values).execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                continue  # another worker moved it between our read and our write: again
        for event in fresh:
            event.applied = event in applied
        return applied
    raise Conflict("The booking kept changing while tracking was recorded; try again.", "寄件状态频繁变化，请稍后重试。")


def find_by_carrier_event(session: Session, carrier: str, event: CarrierEvent) -> Booking | None:
    """The booking a carrier's event is about: by our order number, else by waybill."""
    if event.order_no:
        found = session.scalar(sa.select(Booking).where(Booking.order_no == event.order_no, Booking.carrier == carrier))
        if found is not None:
            return found
    if event.waybill_no:
        return session.scalar(sa.select(Booking).where(Booking.carrier == carrier,
                                                       Booking.waybill_no == event.waybill_no))
    return None


# ---------------------------------------------------------------- reading

def for_resident(session: Session, resident, *, limit: int = 50, offset: int = 0) -> list[Booking]:
    """The resident's bookings, newest first."""
    if resident is None:
        return []
    return list(session.scalars(sa.select(Booking).where(Booking.resident_id == resident.id)
                                .order_by(Booking.created_at.desc(), Booking.id.desc()).limit(limit).offset(offset)))


def get_for_resident(session: Session, order_no: str, resident) -> Booking:
    """The booking ``order_no`` if it is the resident's; BookingNotFound (404) if it is
    unknown, malformed or someone else's: the same answer for all three."""
    number = re.sub(r"\s", "", order_no or "").upper() if isinstance(order_no, str) else ""
    if resident is None or not _ORDER_NO.match(number):
        raise BookingNotFound()
    booking = session.scalar(sa.select(Booking).where(Booking.order_no == number))
    if booking is None or booking.resident_id != resident.id:
        raise BookingNotFound()
    return booking


def get_by_order_no(session: Session, order_no: str) -> Booking | None:
    """For staff surfaces and the cover sheet's scan (no ownership check)."""
    number = re.sub(r"\s", "", order_no or "").upper() if isinstance(order_no, str) else ""
    return session.scalar(sa.select(Booking).where(Booking.order_no == number)) if _ORDER_NO.match(number) else None


def for_application(session: Session, application_id: int) -> list[Booking]:
    """The bookings of an application, oldest first."""
    return list(session.scalars(sa.select(Booking).where(Booking.application_id == application_id)
                                .order_by(Booking.created_at, Booking.id)))


# ---------------------------------------------------------------- prefill

@dataclass(frozen=True)
class Prefill:
    """What a booking form starts with. Parties are dicts: name, ``mobile_masked``,
    ``uses_resident_mobile`` (send ``*_uses_resident_mobile``), ``address_id`` (send
    ``*_address_id``), ``mobile`` (only an authority's office line; a person's never), the
    division codes, address, postcode."""

    sender: dict[str, Any]
    recipient: dict[str, Any]
    authority: HandlingAuthority | None
    addresses: list[SavedAddress]
    item_type: str
    payer: str
    item_checklist: list[str]
    application: Application | None = None


def _empty_party() -> dict[str, Any]:
    return {"name": "", "mobile": None, "mobile_masked": None, "uses_resident_mobile": False, "address_id": None,
            "province_code": "", "city_code": "", "county_code": "", "address": "", "postcode": None}


def _resident_party(resident, address: SavedAddress | None) -> dict[str, Any]:
    party = _empty_party()
    if address is not None:
        party.update(name=address.name, mobile_masked=address.mobile_masked, address_id=address.id,
                     province_code=address.province_code, city_code=address.city_code,
                     county_code=address.county_code, address=address.address, postcode=address.postcode)
    else:
        party.update(name=resident.name if resident is not None else "",
                     mobile_masked=resident.phone_masked if resident is not None else None,
                     uses_resident_mobile=bool(resident is not None and resident.phone_encrypted))
    return party


def _authority_party(authority: HandlingAuthority | None) -> dict[str, Any]:
    party = _empty_party()
    if authority is not None:
        party.update(name=f"{authority.org_name}（{authority.recipient_name}）"[:NAME_MAX], mobile=authority.phone,
                     mobile_masked=authority.phone, province_code=authority.province_code,
                     city_code=authority.city_code, county_code=authority.county_code, address=authority.address,
                     postcode=authority.postcode)
    return party


def find_authority(session: Session, application: Application) -> HandlingAuthority | None:
    return session.scalar(sa.select(HandlingAuthority).where(HandlingAuthority.org_name == application.handling_org,
                                                             HandlingAuthority.region_code == application.handling_region))


def _checklist(session: Session, application: Application) -> list[str]:
    item = session.get(Item, application.item_id) if application.item_id else None
    lines = []
    for material in (item.materials if item is not None else None) or []:
        name = str(material.get("name") or "").strip()
        if not name:
            continue
        detail = "，".join(str(x) for x in (material.get("type"), material.get("form"),
                                           f"{material['paper_copies']} 份" if material.get("paper_copies") else None)
                          if x)
        lines.append(f"{name}（{detail}）" if detail else name)
    return lines


def prefill(session: Session, *, resident, application_number: str | None, purpose: str) -> Prefill:
    """A booking form's starting values: the resident (default address, else name and masked
    mobile), the handling authority registered for the application's handling org (the
    materials go to it, the result comes from it), the address book, and the envelope's
    checklist (the item's materials, for the materials leg). Government pays inside the
    province (收件地 and 办理地 in one province), else the sender or, for the result, the
    recipient (the sender when the configured carrier takes no 到付).

    Raises Invalid (purpose, a malformed number; the number is required for the two legs),
    ApplicationNotFound (unknown or not the resident's)."""
    problems = _Problems()
    _choice(problems, "purpose", purpose, states.Purpose)
    if purpose in LEGS and not application_number:
        problems.add(("application_number",), "required for this purpose", "该寄递用途须填写办件编号")
    problems.raise_if_any()
    application = applications.get_for_resident(session, application_number, resident) if application_number else None
    authority = find_authority(session, application) if application is not None else None
    book_entries = list_addresses(session, resident)
    default = next((entry for entry in book_entries if entry.is_default), None)
    me = _resident_party(resident, default)
    same_province = application is not None and application.receiving_region[:2] == application.handling_region[:2]
    if purpose == Purpose.MATERIALS_TO_AUTHORITY:
        sender, recipient = me, _authority_party(authority)
        item_type, payer = states.ItemType.MATERIALS, states.Payer.GOVERNMENT if same_province else states.Payer.SENDER
        checklist = _checklist(session, application) if application is not None else []
    elif purpose == Purpose.RESULT_TO_APPLICANT:
        sender, recipient = _authority_party(authority), me
        item_type = states.ItemType.LICENCE
        payer = states.Payer.GOVERNMENT if same_province else states.Payer.RECIPIENT
        checklist = []
    else:
        sender, recipient = me, _empty_party()
        item_type, payer, checklist = states.ItemType.MATERIALS, states.Payer.SENDER, []
    payers = carrier_capabilities().payers
    if payer not in payers:  # e.g. 到付 with 快递100: the sender pays instead
        payer = next(p for p in (states.Payer.SENDER, states.Payer.GOVERNMENT, states.Payer.RECIPIENT) if p in payers)
    return Prefill(sender=sender, recipient=recipient, authority=authority, addresses=book_entries,
                   item_type=str(item_type), payer=str(payer), item_checklist=checklist, application=application)


# ---------------------------------------------------------------- the view

# The side of each application leg that is the handling authority: an office, whose name is
# not personal data and is shown whole (a resident reads "九江市公安局", not "九*****局").
OFFICE_SIDE = {states.Purpose.MATERIALS_TO_AUTHORITY: "recipient", states.Purpose.RESULT_TO_APPLICANT: "sender"}


def _party_view(booking: Booking, side: str) -> dict[str, Any]:
    county = getattr(booking, f"{side}_county")
    name = getattr(booking, f"{side}_name")
    is_office = OFFICE_SIDE.get(booking.purpose) == side
    return {"name_masked": name if is_office else residents.mask_name(name),
            "mobile_masked": getattr(booking, f"{side}_mobile_masked"),
            "province_code": getattr(booking, f"{side}_province"), "city_code": getattr(booking, f"{side}_city"),
            "county_code": county, "region": divisions.full_name(county) or "",
            "address": getattr(booking, f"{side}_address"), "postcode": getattr(booking, f"{side}_postcode")}


def cancellable(booking: Booking) -> bool:
    """Before pickup, the order not refused or being cancelled, and no cancel refused by the
    carrier already (it refuses once the parcel is in its hands)."""
    return (booking.status in states.CANCELLABLE and booking.order_state in (OrderState.PENDING, OrderState.PLACED)
            and not (booking.last_error or "").startswith(CANCEL_REFUSED))


def view(booking: Booking) -> dict[str, Any]:
    """The booking as every surface shows it: masked names and mobiles, codes with their
    message keys (``courier.status.<status>`` …) and the timeline, newest first, with the
    carrier's own text and location."""
    slot = booking.slot
    session = sa.orm.object_session(booking)
    number = None
    if booking.application_id is not None and session is not None:
        number = session.scalar(sa.select(Application.number).where(Application.id == booking.application_id))
    timeline = sorted(booking.events, key=lambda e: (e.occurred_at, e.id or 0), reverse=True)
    return {
        "order_no": booking.order_no,
        "purpose": booking.purpose, "purpose_key": f"courier.purpose.{booking.purpose}",
        "status": booking.status, "status_key": f"courier.status.{booking.status}", "status_at": booking.status_at,
        "order_state": booking.order_state, "order_state_key": f"courier.order_state.{booking.order_state}",
        "problem": booking.last_error,
        "application_number": number,
        "sender": _party_view(booking, "sender"),
        "recipient": _party_view(booking, "recipient"),
        "item_type": booking.item_type, "item_type_key": f"courier.item_type.{booking.item_type}",
        "pieces": booking.pieces, "weight_grams": booking.weight_grams, "insured_value_fen": booking.insured_value_fen,
        "payer": booking.payer, "payer_key": f"courier.payer.{booking.payer}",
        "pickup_mode": booking.pickup_mode, "pickup_mode_key": f"courier.pickup_mode.{booking.pickup_mode}",
        "site_id": booking.site_id,
        "slot": ({"id": slot.id, "day": slot.day, "starts": slot.starts, "ends": slot.ends}
                 if slot is not None else None),
        "carrier": booking.carrier, "company": booking.carrier_company, "waybill_no": booking.waybill_no,
        "quote_fen": booking.quote_fen, "has_label": booking.label_png is not None,
        "cancellable": cancellable(booking),
        "created_at": booking.created_at, "cancelled_at": booking.cancelled_at,
        "timeline": [{"status": e.status, "status_key": f"courier.status.{e.status}", "raw_text": e.raw_text,
                      "raw_code": e.raw_code, "location": e.location, "occurred_at": e.occurred_at,
                      "source": e.source, "applied": e.applied} for e in timeline],
    }


# ---------------------------------------------------------------- address book

def list_addresses(session: Session, resident) -> list[SavedAddress]:
    """The resident's addresses, the default first, then the newest."""
    if resident is None:
        return []
    return list(session.scalars(sa.select(SavedAddress).where(SavedAddress.resident_id == resident.id)
                                .order_by(SavedAddress.is_default.desc(), SavedAddress.id.desc())))


def _own_address(session: Session, resident, address_id: int) -> SavedAddress:
    entry = session.get(SavedAddress, address_id) if isinstance(address_id, int) else None
    if entry is None or resident is None or entry.resident_id != resident.id:
        raise NotFound("No such address.", "没有找到该地址。")
    return entry


def _make_default(session: Session, resident, address_id: int) -> None:
    session.execute(sa.update(SavedAddress).where(SavedAddress.resident_id == resident.id)
                    .values(is_default=SavedAddress.id == address_id).execution_options(synchronize_session=False))
    for entry in session.identity_map.values():
        if isinstance(entry, SavedAddress) and entry.resident_id == resident.id:
            session.expire(entry, ["is_default"])


def save_address(session: Session, resident, party: PartyIn, *, label: str | None = None, is_default: bool = False,
                 actor: Actor | str, address_id: int | None = None) -> SavedAddress:
    """Add an address to the resident's book (or change entry ``address_id``). ``party.mobile``
    None: the resident's own number. The first address becomes the default.

    Raises Invalid (422, fields named), NotFound (``address_id`` not the resident's),
    Conflict (the book holds MAX_ADDRESSES already)."""
    problems = _Problems()
    checked = _check_party(session, problems, "address", party, resident=resident, uses_own=party.mobile is None,
                           address_id=None) if isinstance(party, PartyIn) else None
    label = (label or "").strip() or None
    if label is not None and (len(label) > 20 or _CONTROL.search(label)):
        problems.add(("label",), "at most 20 characters", "最多 20 个字")
    if not isinstance(party, PartyIn):
        problems.add(("address",), "required", "必填")
    problems.raise_if_any()
    assert checked is not None
    entry = _own_address(session, resident, address_id) if address_id is not None else None
    if entry is None:
        count = session.scalar(sa.select(sa.func.count()).select_from(SavedAddress)
                               .where(SavedAddress.resident_id == resident.id))
        if count >= MAX_ADDRESSES:
            raise Conflict(f"An address book holds at most {MAX_ADDRESSES} addresses; delete one first.",
                           f"地址簿最多保存 {MAX_ADDRESSES} 个地址，请先删除一个。")
        entry = SavedAddress(resident_id=resident.id)
        session.add(entry)
        is_default = is_default or count == 0
    entry.label, entry.name, entry.address, entry.postcode = label, checked.name, checked.address, checked.postcode
    entry.mobile_encrypted, entry.mobile_masked = seal_mobile(checked.mobile), mask_contact(checked.mobile)
    entry.province_code, entry.city_code, entry.county_code = (checked.province_code, checked.city_code,
                                                               checked.county_code)
    session.flush()
    if is_default:
        _make_default(session, resident, entry.id)
    audit.record(session, actor=actor, action="courier.address.save", target=f"resident:{resident.id}",
                 details={"address_id": entry.id, "default": bool(is_default)})
    session.flush()
    session.refresh(entry)
    return entry


def delete_address(session: Session, resident, address_id: int, *, actor: Actor | str) -> None:
    """Delete an entry of the resident's book; the newest remaining one becomes the default
    if the default went. Raises NotFound (not the resident's)."""
    entry = _own_address(session, resident, address_id)
    was_default = entry.is_default
    session.delete(entry)
    session.flush()
    if was_default:
        newest = session.scalar(sa.select(SavedAddress.id).where(SavedAddress.resident_id == resident.id)
                                .order_by(SavedAddress.id.desc()).limit(1))
        if newest is not None:
            _make_default(session, resident, newest)
    audit.record(session, actor=actor, action="courier.address.delete", target=f"resident:{resident.id}",
                 details={"address_id": address_id})
    session.flush()


def set_default(session: Session, resident, address_id: int, *, actor: Actor | str) -> SavedAddress:
    """Make entry ``address_id`` the resident's default. Raises NotFound (not the resident's)."""
    entry = _own_address(session, resident, address_id)
    _make_default(session, resident, entry.id)
    audit.record(session, actor=actor, action="courier.address.default", target=f"resident:{resident.id}",
                 details={"address_id": entry.id})
    session.flush()
    session.refresh(entry)
    return entry

