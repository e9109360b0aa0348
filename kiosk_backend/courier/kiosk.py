"""Courier bookings at the kiosk (邮寄材料 / 结果寄回家) and their printouts.

Where it starts: the result screen of the resident's own application (progress_result.html
asks :func:`courier_legs` which legs to offer: 邮寄材料 while the application is open, 结果寄回家
once it is concluded and approved), or the guide of an item that may be sent by post
(guide.html asks :func:`courier_for_item`: only when the item's department has its postal
address registered, since the materials must reach the right office).

The flow is four screens at most, each answering a POST, with the resident's choices in one
**sealed** hidden field (``s``: AES-GCM with the residents' data key, bound to this kiosk,
this login and a quarter of an hour), so that nothing personal is kept in the browser's
storage or readable in the page's source, and the server keeps no half-made bookings:

1. ``who`` (寄收双方): the handling authority's address, prefilled; the resident's name and
   masked mobile (使用本人手机号: the number itself never reaches the screen); another name
   or number only if they choose to, typed on the on-screen keyboard;
2. ``where`` (地址): the resident's saved addresses with the default preselected, or a new
   address: province → city → county tapped on large buttons (``/kiosk/courier/divisions``),
   the street on the on-screen keyboard (pinyin, address words, digits);
3. ``when`` (揽收时间): at this site's counter or at home, a day and a time slot with the
   places left (a full slot shows as full);
4. ``confirm`` (确认): the summary, who pays (only the payers the carrier takes), the
   postage (the government's, or "the carrier's price is shown after booking": no carrier is
   called inside a request; the worker asks and keeps it on the booking), and 确认 with an ``Idempotency-Key`` made for this screen (a hidden field): a double tap, or
   the same screen sent again, replays the first answer (core/idempotency.py) and books once.

Then the booking's screen (``/kiosk/courier/bookings/<order no>``): its state, 打印封面 (the
cover sheet for the envelope, courier/coversheet.py: 80 mm thermal or A4 as the device
profile says) and, when the carrier returned one, the 100 × 150 mm label's preview.

Every screen needs a resident logged in at this kiosk (otherwise the QR login prompt,
401) and only ever shows their own applications and bookings (anything else: the one
not-found screen, 404). Bad input comes back on the same screen with the field named
(422). Pages are ``no-store`` like every kiosk page; printouts and images too.
"""
from __future__ import annotations

import json
import secrets
from datetime import timedelta
from functools import partial

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from limits import RateLimitItemPerSecond
from marshmallow import fields, validate
from werkzeug.exceptions import NotFound

from ..applications import services as applications
from ..applications import states as app_states
from ..catalog import services as catalog
from ..catalog.kiosk import PRINT_GUARD_SECONDS
from ..catalog.models import Item
from ..core import idempotency
from ..core.clock import utcnow
from ..core.errors import DomainError
from ..core.i18n import catalogue
from ..core.kiosk_shell import require_feature
from ..core.payloads import Schema
from ..core.printing import PAPERS, render_pdf, render_png
from ..core.requests import client_ip, record_after_request
from ..extensions import db, limiter
from ..fleet import services as fleet
from ..identity import residents, sessions
from ..sites import divisions
from . import coversheet, services
from .kiosk_input import ADDRESS_WORDS, pinyin_table
from .models import HandlingAuthority, PickupSlot, SavedAddress
from .states import ItemType, Payer, PickupMode, Purpose

bp = Blueprint("courier", __name__)

STEPS = ("who", "where", "when", "confirm")
FLOW_SECONDS = 15 * 60  # a screen left behind does not keep someone's booking half-made for long
FLOW_AAD = b"kiosk.courier.flow"
NO_STORE = {"Cache-Control": "no-store"}
SLOT_DAYS = 7
# What the courier is told when nobody weighs the envelope: papers, or a licence in a folder.
WEIGHT_GRAMS = {ItemType.MATERIALS: 500, ItemType.LICENCE: 200}
# Open applications may still send materials; a concluded and approved one its result.
MATERIALS_STATES = frozenset({app_states.State.RECEIVED, app_states.State.ACCEPTED,
                              app_states.State.SUPPLEMENT_REQUESTED, app_states.State.SUPPLEMENTED,
                              app_states.State.IN_PROGRESS, app_states.State.SPECIAL_PROCEDURE})
LEGS = {"materials": Purpose.MATERIALS_TO_AUTHORITY, "result": Purpose.RESULT_TO_APPLICANT}
PINYIN_MAX_AGE = 24 * 3600


class LoginRequired(Exception):
    """The resident must log in first (the prompt is the answer)."""


class FlowExpired(Exception):
    """The sealed state is missing, forged, another kiosk's or login's, or too old."""


class Missing(Exception):
    """An unknown item or application number in the address: the not-found screen."""


class NotAvailable(Exception):
    """This leg cannot be booked for this application or item (yet)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ===================================================================== entry points

def _resident():
    if getattr(g, "resident", None) is None:
        raise LoginRequired()
    return g.resident


def _offered(application) -> list[str]:
    """The legs an application may book now: materials while it is open, the result once
    it is concluded and approved."""
    state = app_states.State(application.state)
    legs = []
    if state in MATERIALS_STATES:
        legs.append("materials")
    if state == app_states.State.CONCLUDED and application.outcome == app_states.Outcome.APPROVED:
        legs.append("result")
    return legs


@bp.app_template_global("courier_legs")
def courier_legs(number: str) -> list[dict]:
    """For the progress result screen: the courier buttons of application ``number``, only
    for the resident logged in at this kiosk and only for their own application; a leg
    already booked (a live booking: services.live_leg) links to its booking instead."""
    profile = getattr(g, "profile", None)
    if getattr(g, "resident", None) is None or (profile is not None and not profile.has("courier")):
        return []
    try:
        application = applications.get_for_resident(db.session, number, g.resident)
    except DomainError:
        return []
    offers = []
    for leg in _offered(application):
        booking = services.live_leg(db.session, application.id, LEGS[leg])
        if booking is not None and booking.resident_id != g.resident.id:
            continue  # booked for them by a helper: nothing to book here, nothing of theirs to show
        if booking is not None:
            offers.append({"leg": leg, "key": f"courier.kiosk.booked.{leg}",
                           "url": url_for("kiosk.courier.booking", order_no=booking.order_no)})
        else:
            offers.append({"leg": leg, "key": f"courier.kiosk.start.{leg}",
                           "url": url_for("kiosk.courier.start", application=application.number, leg=leg)})
    return offers


def _authority_for_item(item: Item) -> HandlingAuthority | None:
    """The registered postal address of the item's department (by its name; the one in this
    kiosk's region first when several regions have a department of that name)."""
    found = list(db.session.scalars(sa.select(HandlingAuthority)
                                    .where(HandlingAuthority.org_name == item.department.name)
                                    .order_by(HandlingAuthority.id)))
    site = g.kiosk.site if getattr(g, "kiosk", None) is not None else None
    city = getattr(site, "city_code", None)
    found.sort(key=lambda a: not (city and a.region_code.startswith(city)))
    return found[0] if found else None


@bp.app_template_global("courier_for_item")
def courier_for_item(guide: dict) -> bool:
    """For the guide: whether to offer 邮寄材料 (the item may be sent by post, this kiosk books
    couriers and the department's postal address is known)."""
    profile = getattr(g, "profile", None)
    if not guide.get("is_express") or (profile is not None and not profile.has("courier")):
        return False
    try:
        return _authority_for_item(catalog.get_item(db.session, guide["task_code"])) is not None
    except DomainError:
        return False


# ===================================================================== the sealed state

def _session_id() -> int | None:
    record = getattr(g, "kiosk_session", None)
    return record.id if record is not None else None


def seal_flow(flow: dict, *, now=utcnow) -> str:
    """The flow's state for the page's hidden field: sealed, bound to this kiosk and login."""
    body = {**flow, "_k": g.kiosk.id, "_s": _session_id(), "_e": int(now().timestamp()) + FLOW_SECONDS}
    return residents.seal(json.dumps(body, ensure_ascii=False, separators=(",", ":")), purpose=FLOW_AAD)


def unseal_flow(token: str | None, *, now=utcnow) -> dict:
    """The flow's state from the hidden field. Raises LoginRequired, FlowExpired."""
    resident = _resident()
    try:
        body = json.loads(residents.unseal(token or "", purpose=FLOW_AAD))
    except ValueError:
        raise FlowExpired() from None
    if not isinstance(body, dict) or body.get("_k") != g.kiosk.id or body.get("_s") != _session_id():
        raise FlowExpired()
    if not isinstance(body.get("_e"), int) or body["_e"] <= now().timestamp():
        raise FlowExpired()
    if body.get("resident") != resident.id:
        raise FlowExpired()
    return {k: v for k, v in body.items() if not k.startswith("_")}


def _office_party(authority: HandlingAuthority) -> dict:
    """The handling authority as a party: its office line and address in full (nobody's
    personal data), named as the booking service names it (org and 收件窗口)."""
    return {"name": f"{authority.org_name}（{authority.recipient_name}）"[:services.NAME_MAX],
            "org": authority.org_name, "contact": authority.recipient_name, "mobile": authority.phone,
            "mobile_masked": authority.phone, "province_code": authority.province_code,
            "city_code": authority.city_code, "county_code": authority.county_code, "address": authority.address,
            "postcode": authority.postcode}


def _new_flow(*, application_number: str | None, leg: str | None, task_code: str | None) -> dict:
    """The state of a new booking, prefilled. Raises Missing (not the resident's application,
    an unknown item), NotAvailable (nothing to book here)."""
    resident = _resident()
    if application_number is not None:
        try:
            application = applications.get_for_resident(db.session, application_number, resident)
        except DomainError:  # unknown, someone else's or malformed: one answer
            raise Missing() from None
        if leg not in LEGS or leg not in _offered(application):
            raise NotAvailable("leg")
        purpose = LEGS[leg]
        if services.live_leg(db.session, application.id, purpose) is not None:
            raise NotAvailable("booked")
        prefill = services.prefill(db.session, resident=resident, application_number=application.number,
                                   purpose=purpose)
        authority = prefill.authority
        item_name, task_code, number = application.item_name, application.task_code, application.number
    else:
        try:
            item = catalog.get_item(db.session, task_code or "")
        except DomainError:
            raise Missing() from None
        authority = _authority_for_item(item) if item.is_express else None
        purpose = Purpose.STANDALONE
        prefill = services.prefill(db.session, resident=resident, application_number=None, purpose=purpose)
        item_name, task_code, number = item.task_name, item.task_code, None
    if authority is None:
        raise NotAvailable("authority")
    default = next((a for a in prefill.addresses if a.is_default), None)
    mine = {"name": resident.name, "self": True, "use_mine": bool(resident.phone_encrypted), "mobile": None,
            "choice": f"saved:{default.id}" if default is not None else "new", "save": default is None,
            "province_code": "", "city_code": "", "county_code": "", "address": "", "postcode": None}
    if default is not None:
        mine.update(_address_of(default))
    item_type = ItemType(prefill.item_type)
    return {"resident": resident.id, "purpose": str(purpose), "application": number, "item": task_code,
            "item_name": item_name, "own": "recipient" if purpose == Purpose.RESULT_TO_APPLICANT else "sender",
            "authority": _office_party(authority), "mine": mine, "item_type": str(item_type),
            "weight": WEIGHT_GRAMS[item_type], "pieces": 1, "payer": str(prefill.payer),
            "payer_fixed": prefill.payer == Payer.GOVERNMENT, "mode": str(PickupMode.COUNTER), "slot": None}


def _address_of(address: SavedAddress) -> dict:
    return {"province_code": address.province_code, "city_code": address.city_code,
            "county_code": address.county_code, "address": address.address, "postcode": address.postcode}


# ===================================================================== presenting

def _lang() -> str:
    profile = getattr(g, "profile", None)
    lang = getattr(g, "lang", "zh-CN")
    return lang if profile is None or lang in profile.ui.languages else "zh-CN"


WEEKDAYS = {"zh-CN": "一二三四五六日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@bp.app_template_filter("courier_day")
def courier_day(day, lang: str = "zh-CN") -> str:
    """A pickup day as people say it: 3月3日 周二 / Tue 3 Mar."""
    if lang == "en":
        return f"{WEEKDAYS['en'][day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]}"
    return f"{day.month}月{day.day}日 周{WEEKDAYS['zh-CN'][day.weekday()]}"


@bp.app_template_filter("courier_region")
def courier_region(code) -> str:
    """A division's full name (江西省九江市浔阳区), empty for an unknown code."""
    return divisions.full_name(code) or ""


def region_words(party: dict) -> str:
    return (divisions.full_name(party.get("county_code")) or divisions.full_name(party.get("city_code")) or "")


def _parties(flow: dict) -> dict:
    """Sender and recipient as the screens show them: the resident's side masked."""
    mine, authority = dict(flow["mine"]), dict(flow["authority"])
    resident = g.resident
    mine["display_name"] = residents.mask_name(resident.name) if mine.get("self") else mine.get("name") or ""
    if mine.get("use_mine"):
        mine["display_mobile"] = resident.phone_masked or ""
    else:
        mine["display_mobile"] = residents.mask_phone(mine["mobile"]) if mine.get("mobile") else ""
    mine["region"], authority["region"] = region_words(mine), region_words(authority)
    authority["display_name"], authority["display_mobile"] = authority["contact"], authority["mobile_masked"]
    mine["is_resident"], authority["is_resident"] = True, False
    own = flow["own"]
    return {"sender": mine if own == "sender" else authority, "recipient": mine if own == "recipient" else authority,
            "mine": mine, "authority": authority}


def _screen(step: str, flow: dict, *, errors: dict | None = None, status: int = 200, **extra):
    """One of the four screens, with the flow's sealed state for the next POST."""
    context = {"flow": flow, "step": step, "steps": STEPS, "errors": errors or {}, "parties": _parties(flow),
               "purpose": flow["purpose"], "resident_name_masked": residents.mask_name(g.resident.name),
               # Only when the number itself is on file (and never the number: its masked form).
               "resident_phone_masked": g.resident.phone_masked if g.resident.phone_encrypted else None, **extra}
    if step == "where":
        context.update(_where_context(flow))
    elif step == "when":
        context.update(_when_context(flow))
    elif step == "confirm":
        context.update(_confirm_context(flow))
    context["state"] = seal_flow(flow)  # after the screen's own additions (the confirm screen's key)
    return render_template(f"kiosk/courier_{step}.html", **context), status


def _where_context(flow: dict) -> dict:
    mine = flow["mine"]
    addresses = [{"id": a.id, "label": a.label, "region": region_words(_address_of(a)), "address": a.address,
                  "is_default": a.is_default} for a in services.list_addresses(db.session, g.resident)]
    site = g.kiosk.site
    # The picker opens where the resident is most likely to live: the chosen county's city,
    # else this kiosk's city.
    city = mine.get("city_code") if mine.get("choice") == "new" and mine.get("city_code") else site.city_code
    province = city[:2] if city else None
    return {"addresses": addresses, "picker": {
        "province": province, "province_name": divisions.province(province) if province else None,
        "city": city, "city_name": divisions.city(city) if city else None,
        "county": mine.get("county_code") if mine.get("choice") == "new" else None,
        "options": divisions.children(city) if city else divisions.children(),
        "level": "county" if city else "province"}, "address_words": ADDRESS_WORDS}


def _slot_days(site_id: int) -> list[dict]:
    """The next days' slots at the site, grouped by day, each with the places left: full ones
    too (shown as full: a resident sees that the time exists and why it cannot be chosen),
    windows already over left out, and only as many days ahead as the carrier books."""
    today, now_hhmm = services.china_now(utcnow())
    days_shown = services.pickup_days(services.carrier_capabilities(), SLOT_DAYS)  # 快递100: 3 days
    rows = db.session.scalars(sa.select(PickupSlot).where(
        PickupSlot.site_id == site_id, PickupSlot.day >= today, PickupSlot.day < today + timedelta(days=days_shown))
        .order_by(PickupSlot.day, PickupSlot.starts))
    days: dict = {}
    for slot in rows:
        if slot.day == today and slot.ends <= now_hhmm:
            continue
        days.setdefault(slot.day, []).append({"id": slot.id, "starts": slot.starts, "ends": slot.ends,
                                              "left": max(0, slot.capacity - slot.taken)})
    return [{"day": day, "slots": slots} for day, slots in sorted(days.items())]


def _when_context(flow: dict) -> dict:
    modes = services.carrier_capabilities().pickup_modes
    return {"days": _slot_days(g.kiosk.site_id), "site": g.kiosk.site,
            "modes": [m.value for m in PickupMode if m.value in modes]}


def _slot(flow: dict):
    """The chosen slot, as the confirm screen names it."""
    slot = db.session.get(PickupSlot, flow["slot"]) if flow.get("slot") else None
    return slot if slot is not None and slot.site_id == g.kiosk.site_id else None


def _booking_in(flow: dict) -> services.BookingIn:
    mine, office = flow["mine"], flow["authority"]
    own = services.PartyIn(name=mine["name"], mobile=None if mine.get("use_mine") else mine.get("mobile"),
                           province_code=mine["province_code"], city_code=mine["city_code"],
                           county_code=mine["county_code"], address=mine["address"], postcode=mine.get("postcode"))
    other = services.PartyIn(name=office["name"], mobile=office["mobile"], province_code=office["province_code"],
                             city_code=office["city_code"], county_code=office["county_code"],
                             address=office["address"], postcode=office.get("postcode"))
    sender, recipient = (own, other) if flow["own"] == "sender" else (other, own)
    uses_own = bool(mine.get("use_mine"))
    return services.BookingIn(
        purpose=flow["purpose"], sender=sender, recipient=recipient, item_type=flow["item_type"],
        pieces=flow["pieces"], weight_grams=flow["weight"], insured_value_fen=0, payer=flow["payer"],
        pickup_mode=flow["mode"], site_id=g.kiosk.site_id, slot_id=flow["slot"],
        application_number=flow["application"],
        sender_uses_resident_mobile=flow["own"] == "sender" and uses_own,
        recipient_uses_resident_mobile=flow["own"] == "recipient" and uses_own)


def _confirm_context(flow: dict) -> dict:
    # No carrier is called inside a request: the price is asked by the worker once the booking
    # is saved (courier.quote) and shown on the booking's screen; this one says so.
    # A new key for every confirm screen: a second tap on this one replays the first answer.
    flow["key"] = secrets.token_urlsafe(18)
    payers = services.carrier_capabilities().payers  # 快递100 takes no 到付: not offered
    return {"slot": _slot(flow), "key": flow["key"],
            "payers": [p.value for p in Payer if p != Payer.GOVERNMENT and p.value in payers]}


# ===================================================================== the forms

class _Text(fields.String):
    """One line of text, blanks at the ends dropped."""

    def _deserialize(self, value, attr, data, **kwargs):
        return " ".join(str(super()._deserialize(value, attr, data, **kwargs)).split())


class WhoForm(Schema):
    name_choice = fields.String(load_default="self", validate=validate.OneOf(["self", "other"]))
    name = _Text(load_default="", validate=validate.Length(max=30))
    mobile_choice = fields.String(load_default="mine", validate=validate.OneOf(["mine", "other"]))
    mobile = _Text(load_default="", validate=validate.Regexp(r"^(1[3-9]\d{9})?$"))

    @ma.validates_schema
    def _given(self, data, **kwargs):
        if data["name_choice"] == "other" and len(data["name"]) < 2:
            raise ma.ValidationError({"name": ["name"]})


class WhereForm(Schema):
    choice = fields.String(required=True, validate=validate.Regexp(r"^(new|saved:\d{1,9})$"))
    province_code = _Text(load_default="")
    city_code = _Text(load_default="")
    county_code = _Text(load_default="")
    address = _Text(load_default="", validate=validate.Length(max=120))
    save = fields.Boolean(load_default=False, truthy={"1", "on"}, falsy={"0", ""})

    @ma.validates_schema
    def _new_address(self, data, **kwargs):
        if data["choice"] != "new":
            return
        errors = {field: [field] for field, _, _ in divisions.validate_codes(
            data["province_code"], data["city_code"], data["county_code"] or None)}
        if not data["county_code"]:
            errors["county_code"] = ["county_code"]
        if len(data["address"]) < 4:
            errors["address"] = ["address"]
        if errors:
            raise ma.ValidationError(errors)


class WhenForm(Schema):
    mode = fields.String(required=True, validate=validate.OneOf([m.value for m in PickupMode]))
    slot = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=2**31 - 1))


class ConfirmForm(Schema):
    payer = fields.String(load_default=None, validate=validate.OneOf([p.value for p in Payer]))
    key = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$"))


def _load(schema: type[Schema]) -> tuple[dict | None, dict]:
    """The form through ``schema``: (data, {}) or (None, {field: message key})."""
    try:
        return schema().load({k: v for k, v in request.form.items() if k != "s"}), {}
    except ma.ValidationError as error:
        return None, {field: f"courier.kiosk.error.{field}" for field in error.messages}


# ===================================================================== the flow's routes

@bp.get("/courier/new")
def start():
    """A new booking: ``?application=<number>&leg=materials|result`` or ``?item=<task code>``."""
    require_feature("courier")
    flow = _new_flow(application_number=request.args.get("application"), leg=request.args.get("leg"),
                     task_code=None if request.args.get("application") else request.args.get("item"))
    return _screen("who", flow)


@bp.post("/courier/step")
def step():
    """A screen again from the state: 返回 to an earlier one, or after 长辈版 / English."""
    require_feature("courier")
    flow = unseal_flow(request.form.get("s"))
    go = request.form.get("go")
    if go not in STEPS or STEPS.index(go) > STEPS.index(_reached(flow)):
        go = _reached(flow)
    return _screen(go, flow)


def _reached(flow: dict) -> str:
    """The furthest screen the state has what it needs for."""
    if not flow["mine"].get("name_ok"):
        return "who"
    if not flow["mine"].get("address_ok"):
        return "where"
    return "confirm" if flow.get("slot") else "when"


@bp.post("/courier/who")
def who():
    require_feature("courier")
    flow = unseal_flow(request.form.get("s"))
    data, errors = _load(WhoForm)
    if errors:
        return _screen("who", flow, errors=errors, status=422)
    mine = flow["mine"]
    mine["self"] = data["name_choice"] == "self"
    mine["name"] = g.resident.name if mine["self"] else data["name"]
    mine["use_mine"] = data["mobile_choice"] == "mine" and bool(g.resident.phone_encrypted)
    # A number typed earlier is kept (it is not shown again in clear) unless another is typed.
    mine["mobile"] = None if mine["use_mine"] else (data["mobile"] or mine.get("mobile") or None)
    if not mine["use_mine"] and not mine["mobile"]:  # no number of their own on file: one must be typed
        return _screen("who", flow, errors={"mobile": "courier.kiosk.error.mobile"}, status=422)
    mine["name_ok"] = True
    return _screen("where", flow)


@bp.post("/courier/where")
def where():
    require_feature("courier")
    flow = unseal_flow(request.form.get("s"))
    data, errors = _load(WhereForm)
    if errors:
        return _screen("where", flow, errors=errors, status=422)
    mine = flow["mine"]
    if data["choice"] == "new":
        mine.update({key: data[key] for key in ("province_code", "city_code", "county_code", "address")},
                    postcode=None, choice="new", save=data["save"])
    else:
        address = _saved(int(data["choice"].split(":")[1]))
        if address is None:
            return _screen("where", flow, errors={"choice": "courier.kiosk.error.choice"}, status=422)
        mine.update(_address_of(address), choice=data["choice"], save=False)
    mine["address_ok"] = True
    return _screen("when", flow)


def _saved(address_id: int) -> SavedAddress | None:
    return next((a for a in services.list_addresses(db.session, g.resident) if a.id == address_id), None)


@bp.post("/courier/when")
def when():
    require_feature("courier")
    flow = unseal_flow(request.form.get("s"))
    data, errors = _load(WhenForm)
    open_ids = {slot["id"]: slot["left"] for day in _slot_days(g.kiosk.site_id) for slot in day["slots"]}
    if not errors and data["mode"] not in services.carrier_capabilities().pickup_modes:
        errors = {"mode": "courier.kiosk.error.mode"}
    if not errors and not open_ids.get(data["slot"]):
        errors = {"slot": "courier.kiosk.error.slot_full" if data["slot"] in open_ids else "courier.kiosk.error.slot"}
    if errors:
        return _screen("when", flow, errors=errors, status=422)
    flow.update(mode=data["mode"], slot=data["slot"])
    return _screen("confirm", flow)


@bp.post("/courier/confirm")
def confirm():
    """确认: book once per confirm screen (its Idempotency-Key), then the booking's screen."""
    require_feature("courier")
    flow = unseal_flow(request.form.get("s"))
    data, errors = _load(ConfirmForm)
    if errors:
        return _screen("confirm", flow, errors=errors, status=422)
    return _idempotent(f"kiosk:{g.kiosk.id}:r{g.resident.id}", data["key"], partial(_book, flow, data))


def _idempotent(scope: str, key: str, work):
    """core/idempotency around ``work`` with the key of the form (a browser's form cannot send
    the header): the stored answer of the first request is the answer to every repeat."""
    keep, lease = idempotency.settings()
    try:
        outcome = idempotency.begin(scope, key, idempotency.request_hash(), keep=keep, lease=lease)
    except idempotency.KeyInProgress:
        # The first tap is still being booked: this screen asks again in a moment.
        return render_template("kiosk/courier_wait.html", state=request.form.get("s"), key=key,
                               payer=request.form.get("payer")), 409
    if isinstance(outcome, idempotency.Stored):
        return idempotency.replay(outcome)
    record_after_request(partial(idempotency.release, claim=outcome))
    response = current_app.make_response(work())
    if response.status_code < 400:
        idempotency.complete(db.session, outcome, response)
    return response


def _book(flow: dict, data: dict):
    if not flow["payer_fixed"] and data["payer"] in (Payer.SENDER, Payer.RECIPIENT) \
            and data["payer"] in services.carrier_capabilities().payers:
        flow["payer"] = data["payer"]
    actor = sessions.principal(g.kiosk_session).at(client_ip())
    try:
        booking = services.book(db.session, _booking_in(flow), resident=g.resident, channel="kiosk", kiosk=g.kiosk,
                                actor=actor)
    except services.SlotFull:
        flow["slot"] = None
        return _screen("when", flow, errors={"slot": "courier.kiosk.error.slot_full"}, status=409)
    except services.LegBooked as error:  # booked meanwhile (another screen, the phone): said in words
        return _screen("confirm", flow, errors={"_": error.message_zh if _lang() == "zh-CN" else error.message},
                       status=409)
    except DomainError as error:
        return _screen("confirm", flow, errors=_service_errors(error), status=error.status_code)
    if flow["mine"].get("choice") == "new" and flow["mine"].get("save"):
        mine = flow["mine"]
        services.save_address(db.session, g.resident, services.PartyIn(
            name=mine["name"], mobile=None if mine.get("use_mine") else mine.get("mobile"),
            province_code=mine["province_code"], city_code=mine["city_code"], county_code=mine["county_code"],
            address=mine["address"], postcode=mine.get("postcode")), label=None,
            is_default=not services.list_addresses(db.session, g.resident), actor=actor)
    target = url_for("kiosk.courier.booking", order_no=booking.order_no,
                     item=flow["item"] if not flow["application"] else None, booked=1)
    return redirect(target, code=303)


def _leaf_fields(tree, path=()) -> list[tuple[str, ...]]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in _leaf_fields(value, (*path, str(key)))]
    return [path]


def _service_errors(error: DomainError) -> dict:
    """A refusal of the booking service, named by field where the screens know the field
    (``sender.mobile`` → mobile), else in the service's own words."""
    named = {}
    for path in _leaf_fields(error.errors or {}):
        key = f"courier.kiosk.error.{path[-1]}" if path else ""
        if path and key in catalogue():
            named[path[-1]] = key
    if not named:
        named["_"] = error.message_zh if _lang() == "zh-CN" else error.message
    return named


# ===================================================================== helpers for the screens

@bp.get("/courier/divisions")
def division_children():
    """The picker's buttons: ``?parent=`` nothing (provinces), a province (its cities) or a
    city (its counties). Public data; nothing of anyone's."""
    require_feature("courier")
    parent = request.args.get("parent") or None
    if parent is not None and (not parent.isdigit() or len(parent) not in (2, 4)):
        return jsonify(parent=parent, children=[]), 404
    children = divisions.children(parent)
    if parent is not None and not children:
        return jsonify(parent=parent, children=[]), 404
    return jsonify(parent=parent, children=[{"code": code, "name": name} for code, name in children])


@bp.get("/courier/pinyin.json")
def pinyin():
    """The on-screen keyboard's candidates per pinyin syllable (courier/kiosk_input.py)."""
    require_feature("courier")
    response = jsonify(table=pinyin_table(), words=list(ADDRESS_WORDS))
    response.headers["Cache-Control"] = f"public, max-age={PINYIN_MAX_AGE}"
    return response


# ===================================================================== the booking and its printouts

def _own_booking(order_no: str):
    _resident()
    return services.get_for_resident(db.session, order_no, g.resident)


def _item_of(booking) -> tuple[str | None, str | None, list[dict] | None, str | None]:
    """(application number, item name, the item's materials, handling org) of a booking."""
    from ..applications.models import Application

    application = db.session.get(Application, booking.application_id) if booking.application_id else None
    item = None
    if application is not None and application.item_id:
        item = db.session.get(Item, application.item_id)
    elif application is None and request.args.get("item"):
        try:
            item = catalog.get_item(db.session, request.args["item"])
        except DomainError:
            item = None
    if application is not None:
        return application.number, application.item_name, item.materials if item else None, application.handling_org
    return None, item.task_name if item else None, item.materials if item else None, \
        item.department.name if item else None


@bp.get("/courier/bookings/<string:order_no>")
def booking(order_no):
    """The booking: its state, the pickup, 打印封面 and the label's preview."""
    require_feature("courier")
    found = _own_booking(order_no)
    application_number, item_name, _, _ = _item_of(found)
    return render_template("kiosk/courier_done.html", booking=found, view=services.view(found),
                           application_number=application_number, item_name=item_name,
                           item=request.args.get("item"), booked=request.args.get("booked") == "1",
                           has_label=coversheet.label_png(found) is not None)


def _paper_of_kiosk() -> str | None:
    profile = getattr(g, "profile", None)
    return profile.printer_kind if profile is not None else "thermal80"


def _paper(default: str | None = None):
    """The paper asked for, if this kiosk prints on it (as for the progress receipt)."""
    name = request.args.get("paper") or default or _paper_of_kiosk()
    paper = PAPERS.get(name or "")
    if paper is None and name:
        abort(400)
    if paper is None or paper.name != _paper_of_kiosk():
        abort(404)
    return paper


def _cover_blocks(found):
    application_number, item_name, materials, handling_org = _item_of(found)
    return coversheet.cover_blocks(found, application_number=application_number, item_name=item_name,
                                   handling_org=handling_org, materials=materials, kiosk_number=g.kiosk.number,
                                   printed_at=utcnow())


@bp.get("/courier/bookings/<string:order_no>/cover")
def cover_preview(order_no):
    """The print screen of the cover sheet (kiosk/print.js prints once the job is accepted);
    a kiosk without a printer says so (404)."""
    require_feature("courier")
    found = _own_booking(order_no)
    item = request.args.get("item")
    try:
        paper = _paper()
    except NotFound:
        return render_template("kiosk/courier_print.html", booking=found, paper=None, item=item), 404
    return render_template("kiosk/courier_print.html", booking=found, paper=paper, item=item,
                           guard_seconds=PRINT_GUARD_SECONDS)


@bp.post("/courier/bookings/<string:order_no>/cover/print")
def cover_print_job(order_no):
    """One print of the cover sheet: 202, or 409 with Retry-After for a double tap."""
    require_feature("courier")
    _paper()
    found = _own_booking(order_no)
    if not _first_print_in_window(found.order_no):
        return (jsonify(status="duplicate", retry_after=PRINT_GUARD_SECONDS), 409,
                {"Retry-After": str(PRINT_GUARD_SECONDS)})
    fleet.record_usage(db.session, g.kiosk, "print")
    return jsonify(status="accepted"), 202


def _first_print_in_window(order_no: str) -> bool:
    window = RateLimitItemPerSecond(1, PRINT_GUARD_SECONDS)
    try:
        return limiter.limiter.hit(window, "print-guard", str(g.kiosk.id), f"cover:{order_no}")
    except Exception:  # the store failed (Redis down): a lost guard is better than a lost printout
        current_app.logger.warning("print guard store failed; printing without the guard", exc_info=True)
        return True


@bp.get("/courier/bookings/<string:order_no>/cover.png")
def cover_png(order_no):
    require_feature("courier")
    paper = _paper()
    found = _own_booking(order_no)
    return Response(render_png(_cover_blocks(found), paper), mimetype="image/png",
                    headers={"Content-Disposition": f'inline; filename="{found.order_no}-cover-{paper.name}.png"',
                             **NO_STORE})


@bp.get("/courier/bookings/<string:order_no>/cover.pdf")
def cover_pdf(order_no):
    require_feature("courier")
    _paper("a4")
    found = _own_booking(order_no)
    return Response(render_pdf(_cover_blocks(found), PAPERS["a4"]), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{found.order_no}-cover.pdf"', **NO_STORE})


@bp.get("/courier/bookings/<string:order_no>/label")
def label(order_no):
    """The carrier's 100 × 150 mm label, to look at: no device profile has a label printer,
    so it is printed at the counter (the page says so)."""
    require_feature("courier")
    found = _own_booking(order_no)
    if coversheet.label_png(found) is None:
        raise services.BookingNotFound()
    return render_template("kiosk/courier_label.html", booking=found, item=request.args.get("item"))


@bp.get("/courier/bookings/<string:order_no>/label.png")
def label_png(order_no):
    require_feature("courier")
    data = coversheet.label_png(_own_booking(order_no))
    if data is None:
        raise services.BookingNotFound()
    return Response(data, mimetype="image/png", headers=NO_STORE)


# ===================================================================== answers

@bp.errorhandler(LoginRequired)
def login_first(error):
    """Someone not logged in (or staff): the QR login prompt."""
    return render_template("kiosk/courier_login.html"), 401, {"WWW-Authenticate": 'Resident realm="kiosk"'}


@bp.errorhandler(FlowExpired)
def flow_expired(error):
    return render_template("kiosk/courier_missing.html", reason="expired"), 410


@bp.errorhandler(NotAvailable)
def not_available(error):
    return render_template("kiosk/courier_missing.html", reason=error.reason), 409


@bp.errorhandler(Missing)
@bp.errorhandler(applications.ApplicationNotFound)
@bp.errorhandler(services.BookingNotFound)
def not_found(error):
    """Unknown and someone else's are one answer."""
    return render_template("kiosk/courier_missing.html", reason="not_found"), 404


__all__ = ["bp", "courier_for_item", "courier_legs", "seal_flow", "unseal_flow"]
