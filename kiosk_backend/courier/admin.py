"""Console pages: courier bookings, pickup slots, carrier accounts, handling authorities'
addresses and reconciliation findings (/admin/courier).

Who sees what:

- Admins see and do everything here.
- Site managers see the bookings of their own sites (a booking belongs to the site whose
  counter or home-pickup area it was booked for; another site's booking answers 404, as
  another site's kiosk does) and read and edit the pickup slots of their own sites.
- Carrier accounts (credentials), handling authorities' addresses and reconciliation with
  the carriers are for admins only: the nested blueprints refuse everyone else with 403.
- Helpers have no console at all (identity.admin.require_staff_session).

Personal data is shown masked: a resident's name and detailed address, mobiles as stored
masked, and numbers in carriers' free text (traces, errors) scrubbed. An office's address
(the handling authority that receives materials or sends a result back) is not personal
and is shown in full.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, g, redirect, render_template, request, url_for
from marshmallow import fields, validate
from sqlalchemy.orm import Session, lazyload

from ..applications.admin import region_name, scrub
from ..applications.deadlines import CHINA, china_day
from ..applications.models import Application
from ..core import audit, outbox
from ..core.clock import utcnow
from ..core.errors import DomainError, NotFound
from ..core.forms import load_form, use_form
from ..core.outbox import OutboxMessage
from ..core.payloads import Schema
from ..core.requests import require_role
from ..core.web import db_id
from ..extensions import db
from ..fleet.models import Kiosk
from ..identity import residents
from ..identity.models import StaffUser
from ..sites import services as sites
from ..sites.models import Site
from . import authorities, carriers, jobs, services, slots_admin, states
from .models import Booking, HandlingAuthority, PickupSlot, ReconciliationFinding
from .states import OrderState, Purpose, Status

bp = Blueprint("courier", __name__, url_prefix="/courier")
authorities_bp = Blueprint("authorities", __name__, url_prefix="/authorities")
accounts_bp = Blueprint("accounts", __name__, url_prefix="/accounts")
reconciliation_bp = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")

PAGE_SIZE = 50
RECONCILE_TOPIC = "courier.reconcile"  # "reconcile now" from the console, run by the worker
MAX_PAGE = 10_000
_CONTROL = r"^[^\x00-\x1f\x7f]*\Z"


class BookingNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such booking.", "没有找到该寄递预约。")


def _now_china() -> datetime:
    return utcnow().astimezone(CHINA)


def _text(name: str, limit: int = 64) -> str | None:
    """A query argument as text (PostgreSQL refuses NUL even in a comparison)."""
    return request.args.get(name, "").replace("\x00", "").strip()[:limit] or None


def _page() -> int:
    return max(1, min(MAX_PAGE, request.args.get("page", 1, type=int)))


# ------------------------------------------------------------------ queries of the console

def _scoped(query, site_ids: set[int] | None):
    return query if site_ids is None else query.where(Booking.site_id.in_(site_ids))


def _overdue_condition(moment: datetime):
    """Still waiting for the courier after its pickup window ended (China Standard Time)."""
    today, clock = moment.date(), moment.strftime("%H:%M")
    ended = sa.or_(PickupSlot.day < today, sa.and_(PickupSlot.day == today, PickupSlot.ends <= clock))
    # EXISTS per booking: the few bookings still waiting come by the status index, each slot
    # by its key (an IN over every ended slot had SQLite walk the bookings of all of them).
    return sa.and_(Booking.status == Status.PENDING_PICKUP,
                   sa.exists().where(PickupSlot.id == Booking.slot_id, ended))


def _cancel_refused_condition():
    """A cancel the carrier refused (services.cancel_refused) on a parcel not yet at its end."""
    return sa.and_(Booking.last_error.like(f"{services.CANCEL_REFUSED}%"),
                   Booking.status.not_in([str(s) for s in states.FINAL]))


def search(session: Session, *, site_ids: set[int] | None, moment: datetime, site_id: int | None = None,
           status: str | None = None, carrier: str | None = None, purpose: str | None = None,
           number: str | None = None, overdue: bool = False, trouble: bool = False, order_failed: bool = False,
           cancel_refused: bool = False, limit: int = PAGE_SIZE, offset: int = 0) -> list[Booking]:
    """Bookings newest first. ``number`` is an order number or a waybill number (whole);
    ``overdue``: pending pickups whose window ended; ``trouble``: 投递失败, 退回, 异常;
    ``order_failed``: the carrier refused the order for good; ``cancel_refused``: the carrier
    refused a cancel and the parcel is not at the end of its way. Filters apply as given: an
    unknown status matches nothing."""
    query = _scoped(sa.select(Booking).options(lazyload(Booking.events)), site_ids)
    if site_id is not None:
        query = query.where(Booking.site_id == site_id)
    if status:
        query = query.where(Booking.status == status)
    if carrier:
        query = query.where(Booking.carrier == carrier)
    if purpose:
        query = query.where(Booking.purpose == purpose)
    if number:
        wanted = re.sub(r"\s", "", number)
        query = query.where(sa.or_(Booking.order_no == wanted.upper(), Booking.waybill_no == wanted))
    if overdue:
        query = query.where(_overdue_condition(moment))
    if trouble:
        query = query.where(Booking.status.in_([str(s) for s in states.TROUBLE]))
    if order_failed:
        query = query.where(Booking.order_state == OrderState.FAILED)
    if cancel_refused:
        query = query.where(_cancel_refused_condition())
    # Ids grow with time: newest first in the primary key's order, without a sort.
    return list(session.scalars(query.order_by(Booking.id.desc()).limit(limit).offset(offset)))


def counts(session: Session, *, site_ids: set[int] | None, moment: datetime) -> dict[str, int]:
    """How many bookings need a look: overdue pickups, exceptions, failed orders, refused cancels."""
    def count(condition) -> int:
        return session.scalar(_scoped(sa.select(sa.func.count()).select_from(Booking).where(condition), site_ids))

    return {"overdue": count(_overdue_condition(moment)),
            "trouble": count(Booking.status.in_([str(s) for s in states.TROUBLE])),
            "failed": count(Booking.order_state == OrderState.FAILED),
            "cancel_refused": count(_cancel_refused_condition())}


def application_numbers(session: Session, bookings: list[Booking]) -> dict[int, str]:
    wanted = {b.application_id for b in bookings if b.application_id}
    if not wanted:
        return {}
    return dict(session.execute(sa.select(Application.id, Application.number).where(Application.id.in_(wanted))).all())


def get_booking(session: Session, order_no: str, site_ids: set[int] | None) -> Booking:
    """The booking with this order number in the staff member's scope; raises BookingNotFound."""
    booking = services.get_by_order_no(session, order_no)  # None for a malformed number too
    if booking is None or (site_ids is not None and booking.site_id not in site_ids):
        raise BookingNotFound()
    return booking


def outbox_messages(session: Session, booking: Booking) -> list[OutboxMessage]:
    """The outbox messages of a booking: placing and cancelling the order (key
    ``booking:<id>``) and its SMS notices (keys that start ``booking:<id>:``)."""
    key = f"booking:{booking.id}"
    return list(session.scalars(sa.select(OutboxMessage).where(
        sa.or_(OutboxMessage.key == key, OutboxMessage.key.startswith(key + ":", autoescape=True)))
        .order_by(OutboxMessage.id)))


# ------------------------------------------------------------------ masked parties

_HOUSE = re.compile(r"[0-9０-９一二三四五六七八九十]+\s*(号|栋|幢|单元|室|楼|层|弄|组|排|#).*$")


def mask_address(address: str) -> str:
    """A resident's detailed address without the part that finds the door: from the first
    house, building or room number on (``湖滨路 26 号 3 栋 502`` → ``湖滨路 ****``); an address
    without one keeps its first eight characters."""
    text = (address or "").strip()
    cut = _HOUSE.search(text) or re.search(r"\d", text)
    if cut:
        return text[:cut.start()].rstrip() + " ****"
    return text if len(text) <= 8 else text[:8] + " ****"


@dataclass(frozen=True)
class PartyView:
    name: str
    mobile: str
    region: str
    address: str
    postcode: str
    office: bool  # an authority's address: shown in full


def party(booking: Booking, side: str) -> PartyView:
    """The sender or recipient as the console shows them."""
    office = (side == "recipient" and booking.purpose == Purpose.MATERIALS_TO_AUTHORITY) or (
        side == "sender" and booking.purpose == Purpose.RESULT_TO_APPLICANT)
    name, address = getattr(booking, f"{side}_name"), getattr(booking, f"{side}_address")
    county = getattr(booking, f"{side}_county")
    return PartyView(name=name if office else residents.mask_name(name),
                     mobile=getattr(booking, f"{side}_mobile_masked"),
                     region=region_name(county) or county, address=address if office else mask_address(address),
                     postcode=getattr(booking, f"{side}_postcode") or "", office=office)


def fen(value: int | None) -> str:
    """An amount in fen as yuan (12.50); ``—`` when there is none."""
    return "—" if value is None else f"{value / 100:.2f}"


def _words() -> dict[str, Any]:
    return {"full_name": region_name, "scrub": scrub, "fen": fen, "status_group": status_group, "party": party}


def status_group(status: str) -> str:
    """The colour and symbol group of a parcel status: waiting, moving, done, trouble, off."""
    if status in states.TROUBLE:
        return "trouble"
    if status == Status.CANCELLED:
        return "off"
    if status in states.FINAL:
        return "done"
    if status == Status.PENDING_PICKUP:
        return "waiting"
    return "moving"


def slot_ended(slot: PickupSlot | None, moment: datetime) -> bool:
    return slot is not None and (slot.day, slot.ends) <= (moment.date(), moment.strftime("%H:%M"))


# ------------------------------------------------------------------ bookings

@bp.get("/")
def index():
    """Bookings newest first, filtered by site, status, carrier, purpose, order or waybill
    number, overdue pickups, exceptions and failed orders; paged by 50."""
    moment, page = _now_china(), _page()
    args = request.args
    rows = search(db.session, site_ids=g.site_ids, moment=moment, site_id=args.get("site", type=db_id),
                  status=_text("status"), carrier=_text("carrier", 32), purpose=_text("purpose"),
                  number=_text("q", 40), overdue=args.get("overdue") == "1", trouble=args.get("trouble") == "1",
                  order_failed=args.get("order") == "failed", cancel_refused=args.get("order") == "cancel_refused",
                  limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    shown = rows[:PAGE_SIZE]
    return render_template("admin/courier.html", bookings=shown, args=args, page=page, more=len(rows) > PAGE_SIZE,
                           sites={s.id: s for s in sites.list_sites(db.session, g.site_ids)},
                           numbers=application_numbers(db.session, shown), moment=moment,
                           counts=counts(db.session, site_ids=g.site_ids, moment=moment),
                           carriers=carriers.CARRIERS, statuses=[s.value for s in Status],
                           purposes=[p.value for p in Purpose], slot_ended=slot_ended, **_words())


@bp.get("/bookings/<order_no>")
def booking(order_no):
    """One booking: both parties (masked), the parcel, our order at the carrier (state, last
    error, outbox messages), the slot, the linked application and every carrier event raw."""
    item = get_booking(db.session, order_no, g.site_ids)
    application = db.session.get(Application, item.application_id) if item.application_id else None
    return render_template(
        "admin/courier_booking.html", booking=item, application=application, site=db.session.get(Site, item.site_id),
        kiosk=db.session.get(Kiosk, item.kiosk_id) if item.kiosk_id else None,
        helper=db.session.get(StaffUser, item.helper_id) if item.helper_id else None,
        events=sorted(item.events, key=lambda e: (e.occurred_at, e.id), reverse=True),
        messages=outbox_messages(db.session, item), moment=_now_china(), slot_ended=slot_ended, **_words())


# ------------------------------------------------------------------ pickup slots

def _today() -> date:
    return china_day(utcnow())


@bp.get("/slots")
def slots():
    """Every site in scope with places taken and offered on each of the next 14 days."""
    today = _today()
    return render_template("admin/courier_slots.html", sites=sites.list_sites(db.session, g.site_ids),
                           days=[today + timedelta(days=n) for n in range(slots_admin.GRID_DAYS)],
                           totals=slots_admin.totals(db.session, g.site_ids, day_from=today), full_name=region_name)


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]\Z"  # \Z: a trailing newline is no time


class WindowsForm(Schema):
    """The console's "open a window on these days" form."""

    class Meta:
        unknown = ma.EXCLUDE  # csrf_token

    day_from = fields.Date(required=True)
    day_to = fields.Date(required=True)
    starts = fields.String(required=True, validate=validate.Regexp(_HHMM,
                                                                   error="HH:MM / 格式为 HH:MM"))
    ends = fields.String(required=True, validate=validate.Regexp(_HHMM,
                                                                 error="HH:MM / 格式为 HH:MM"))
    capacity = fields.Integer(required=True, strict=False,
                              validate=validate.Range(min=0, max=slots_admin.MAX_CAPACITY))

    @ma.pre_load
    def _trimmed(self, form, **kwargs):
        return {key: (value.strip() if isinstance(value, str) else value) for key, value in dict(form).items()}


class CapacityForm(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    capacity = fields.Integer(required=True, validate=validate.Range(min=0, max=slots_admin.MAX_CAPACITY))


class TimesForm(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    starts = fields.String(required=True, validate=validate.Regexp(_HHMM,
                                                                   error="HH:MM / 格式为 HH:MM"))
    ends = fields.String(required=True, validate=validate.Regexp(_HHMM,
                                                                 error="HH:MM / 格式为 HH:MM"))


def _site_slots_context(site_id: int, slot_errors: dict | None = None) -> dict:
    site = sites.get_site(db.session, site_id, g.site_ids)
    today = _today()
    return {"site": site, "rows": slots_admin.grid(db.session, site, day_from=today), "today": today,
            "last_day": today + timedelta(days=slots_admin.GRID_DAYS - 1), "full_name": region_name,
            "slot_errors": slot_errors or {}, "done": request.args.get("done")}


@bp.route("/slots/<int:site_id>", methods=["GET", "POST"])
@use_form(WindowsForm, "admin/courier_site_slots.html", context=_site_slots_context)
def site_slots(data, site_id):
    """A site's windows on each of the next 14 days, each with its capacity to change; the
    form opens a window on a range of days (days that have it already keep theirs)."""
    created, kept = slots_admin.add_windows(db.session, site_id, today=_today(), actor=g.actor, site_ids=g.site_ids,
                                            **data)
    return redirect(url_for("admin.courier.site_slots", site_id=site_id, done="opened", created=created, kept=kept),
                    code=303)


def _slot_action(slot_id: int, form: type[Schema], change) -> Any:
    """A change to one window from the grid: done → back to the grid; refused → the grid
    again with the reason next to that window."""
    slot = slots_admin.get_slot(db.session, slot_id, g.site_ids)
    site_id = slot.site_id
    try:
        change(slot, load_form(form))
    except DomainError as exc:  # refused before anything changed (a conditional UPDATE, a savepoint)
        message = (exc.errors and next(iter(exc.errors.values()))) or [f"{exc.message} / {exc.message_zh}"]
        return render_template("admin/courier_site_slots.html", errors={}, values=None,
                               **_site_slots_context(site_id, {slot_id: message})), exc.status_code
    return redirect(url_for("admin.courier.site_slots", site_id=site_id, done="changed") + f"#slot-{slot_id}", code=303)


@bp.post("/slots/windows/<int:slot_id>/capacity")
def capacity(slot_id):
    """A window's capacity, never below the places taken."""
    return _slot_action(slot_id, CapacityForm, lambda slot, data: slots_admin.set_capacity(
        db.session, slot.id, data["capacity"], actor=g.actor, site_ids=g.site_ids))


@bp.post("/slots/windows/<int:slot_id>/times")
def times(slot_id):
    """A window's times, while nobody has booked it."""
    return _slot_action(slot_id, TimesForm, lambda slot, data: slots_admin.set_times(
        db.session, slot.id, data["starts"], data["ends"], actor=g.actor, site_ids=g.site_ids))


# ------------------------------------------------------------------ handling authorities (admins only)

@authorities_bp.before_request
def _authorities_admins_only():
    """Where materials are posted to: admins only (a wrong address sends residents' papers astray)."""
    require_role("admin")


class AuthorityForm(Schema):
    """The console's form of a handling authority; authorities.save_authority checks the
    division codes and uniqueness."""

    class Meta:
        unknown = ma.EXCLUDE

    org_name = fields.String(required=True, validate=[validate.Length(min=2, max=200), validate.Regexp(_CONTROL)])
    region_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}\Z", error="6 digits (GB/T 2260) / 应为 6 位数字"))
    recipient_name = fields.String(required=True, validate=[validate.Length(min=2, max=100), validate.Regexp(_CONTROL)])
    phone = fields.String(required=True, validate=[validate.Length(min=5, max=20), validate.Regexp(_CONTROL)])
    province_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{2}\Z", error="2 digits / 应为 2 位数字"))
    city_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{4}\Z", error="4 digits / 应为 4 位数字"))
    county_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}\Z", error="6 digits / 应为 6 位数字"))
    address = fields.String(required=True, validate=[validate.Length(min=4, max=300), validate.Regexp(_CONTROL)])
    postcode = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{6}\Z", error="6 digits / 应为 6 位数字"))

    @ma.pre_load
    def _trimmed(self, form, **kwargs):
        form = {key: (value.strip() if isinstance(value, str) else value) for key, value in dict(form).items()}
        if not form.get("postcode"):
            form.pop("postcode", None)
        return form

    @ma.post_load
    def _authority(self, data, **kwargs):
        return authorities.AuthorityIn(**data)


def _authorities_context() -> dict:
    return {"authorities": authorities.list_authorities(db.session), "full_name": region_name, "authority": None,
            "done": request.args.get("done")}


@authorities_bp.route("/", methods=["GET", "POST"], endpoint="index")
@use_form(AuthorityForm, "admin/courier_authorities.html", context=_authorities_context)
def authority_list(data):
    """The registered handling authorities; the form registers another."""
    item = authorities.save_authority(db.session, data, actor=g.actor)
    return redirect(url_for("admin.courier.authorities.index", done="created") + f"#authority-{item.id}", code=303)


def _authority_context(authority_id: int) -> dict:
    authority = authorities.get_authority(db.session, authority_id)
    return {"authority": authority, "initial": authority_values(authority), "full_name": region_name}


@authorities_bp.route("/<int:authority_id>", methods=["GET", "POST"], endpoint="edit")
@use_form(AuthorityForm, "admin/courier_authority.html", context=_authority_context)
def authority_edit(data, authority_id):
    """One authority's address, to correct."""
    authorities.save_authority(db.session, data, actor=g.actor, authority_id=authority_id)
    return redirect(url_for("admin.courier.authorities.index", done="saved") + f"#authority-{authority_id}", code=303)


def authority_values(authority: HandlingAuthority | None) -> dict[str, str]:
    """An authority's fields as the edit form's values."""
    if authority is None:
        return {}
    return {field: getattr(authority, field) or "" for field in authorities.AuthorityIn.__dataclass_fields__}


# ------------------------------------------------------------------ carrier accounts (admins only)

@accounts_bp.before_request
def _accounts_admins_only():
    """Credentials that let the system order pickups and spend money: admins only."""
    require_role("admin")


# The settings each carrier takes (carriers._clean_settings checks them); credentials are
# carriers.REQUIRED_CREDENTIALS. A form field is ``credential_<name>`` or ``setting_<name>``.
SETTINGS = {"demo": ("step_minutes",), "kuaidi100": ("callback_url", "company", "service_type")}


def _form_text(name: str, limit: int = 300) -> str:
    return (request.form.get(name) or "").replace("\x00", "")[:limit]


def _account_form(carrier: str, *, rotating: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """(credentials, settings) from the form for ``carrier``; empty credentials are left out
    (carriers keeps the stored ones), except a rotation's ticked "new salt" (generated)."""
    names = carriers.REQUIRED_CREDENTIALS.get(carrier, ())
    credentials = {name: value for name in names if (value := _form_text(f"credential_{name}").strip())}
    if rotating and "salt" in names and request.form.get("new_salt") == "1" and "salt" not in credentials:
        credentials["salt"] = ""  # carriers.rotate_account generates one
    settings = {name: _form_text(f"setting_{name}").strip() for name in SETTINGS.get(carrier, ())}
    return credentials, settings


def _account_errors(carrier: str, error: DomainError) -> dict[str, list[str]]:
    """carriers' refusal (``{"credentials": {name: [...]}, "settings": {...}}``) as errors of
    the form's fields, per carrier."""
    out: dict[str, list[str]] = {}
    for group, inner in (error.errors or {}).items():
        prefix = {"credentials": "credential_", "settings": "setting_"}.get(group)
        if prefix and isinstance(inner, dict):
            for name, messages in inner.items():
                field = "_" if name == "_schema" else f"{carrier}.{prefix}{name}"
                out.setdefault(field, []).extend(messages if isinstance(messages, list) else [str(messages)])
        else:
            out.setdefault("_", []).extend(inner if isinstance(inner, list) else [str(inner)])
    return out or {"_": [f"{error.message} / {error.message_zh}"]}


def _accounts_page(errors: dict | None = None, status: int = 200, form_carrier: str | None = None):
    # The values typed are never sent back: a credential is shown once, as its last four.
    views = {account.carrier: carriers.account_view(account) for account in carriers.list_accounts(db.session)}
    return render_template("admin/courier_accounts.html", carriers=carriers.CARRIERS, views=views,
                           required=carriers.REQUIRED_CREDENTIALS, settings=SETTINGS, errors=errors or {},
                           form_carrier=form_carrier, done=request.args.get("done"),
                           configured=services.configured_carrier()), status


@accounts_bp.route("/", methods=["GET", "POST"], endpoint="index")
def accounts():
    """Every carrier with its account (credentials masked to their last four characters);
    the form of a carrier saves its account (empty credentials keep the stored ones)."""
    if request.method != "POST":
        return _accounts_page()
    carrier = _form_text("carrier", 32)
    try:
        credentials, settings = _account_form(carrier)
        carriers.save_account(db.session, carrier, credentials, settings, actor=g.actor)
    except DomainError as exc:
        return _accounts_page(_account_errors(carrier, exc), exc.status_code, carrier)
    return redirect(url_for("admin.courier.accounts.index", done="saved") + f"#carrier-{carrier}", code=303)


@accounts_bp.post("/<carrier>/rotate", endpoint="rotate")
def account_rotate(carrier):
    """New values for some credentials; 快递100's previous salts keep verifying pushes."""
    _known(carrier)
    try:
        credentials, _settings = _account_form(carrier, rotating=True)
        carriers.rotate_account(db.session, carrier, credentials, actor=g.actor)
    except carriers.CarrierAccountNotFound:
        raise  # no account to rotate: 404, not the form again
    except DomainError as exc:
        return _accounts_page(_account_errors(carrier, exc), exc.status_code, carrier)
    return redirect(url_for("admin.courier.accounts.index", done="rotated") + f"#carrier-{carrier}", code=303)


def _known(carrier: str) -> str:
    """A carrier named in a URL, or 404 (before any query: PostgreSQL refuses NUL even in a comparison)."""
    if carrier not in carriers.CARRIERS:
        raise carriers.CarrierAccountNotFound(carrier[:32].replace("\x00", ""))
    return carrier


@accounts_bp.post("/<carrier>/disable", endpoint="disable")
def account_disable(carrier):
    carriers.set_active(db.session, _known(carrier), False, actor=g.actor)
    return redirect(url_for("admin.courier.accounts.index", done="disabled") + f"#carrier-{carrier}", code=303)


@accounts_bp.post("/<carrier>/enable", endpoint="enable")
def account_enable(carrier):
    carriers.set_active(db.session, _known(carrier), True, actor=g.actor)
    return redirect(url_for("admin.courier.accounts.index", done="enabled") + f"#carrier-{carrier}", code=303)


# ------------------------------------------------------------------ reconciliation (admins only)

@reconciliation_bp.before_request
def _reconciliation_admins_only():
    """Our orders against the carriers' own lists: admins only (findings span every site,
    and some name orders nobody here booked)."""
    require_role("admin")


class FindingNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such reconciliation finding.", "没有找到该对账差异。")


def run_days(session: Session, *, limit: int = 60) -> list[tuple[date, int, int]]:
    """The days reconciliation ran and found something: (day, findings, still open), newest first."""
    open_count = sa.func.sum(sa.case((ReconciliationFinding.resolved_at.is_(None), 1), else_=0))
    rows = session.execute(sa.select(ReconciliationFinding.run_on, sa.func.count(), open_count)
                           .group_by(ReconciliationFinding.run_on)
                           .order_by(ReconciliationFinding.run_on.desc()).limit(limit))
    return [(day, int(total), int(still or 0)) for day, total, still in rows]


def findings(session: Session, run_on: date | None, *, open_only: bool = False) -> list[ReconciliationFinding]:
    """The findings of one run (None: every day), open ones first."""
    query = sa.select(ReconciliationFinding)
    if run_on is not None:
        query = query.where(ReconciliationFinding.run_on == run_on)
    if open_only:
        query = query.where(ReconciliationFinding.resolved_at.is_(None))
    return list(session.scalars(query.order_by(ReconciliationFinding.resolved_at.is_not(None),
                                               ReconciliationFinding.run_on.desc(), ReconciliationFinding.id)
                                .limit(500)))


def resolve_finding(session: Session, finding_id: int, *, actor, now=utcnow) -> ReconciliationFinding:
    """Mark a finding dealt with (once; again is a no-op), audited as ``courier.finding.resolve``.
    Raises FindingNotFound."""
    finding = session.get(ReconciliationFinding, finding_id)
    if finding is None:
        raise FindingNotFound()
    if finding.resolved_at is None:
        finding.resolved_at = now()
        audit.record(session, actor=actor, action="courier.finding.resolve", target=f"finding:{finding.id}",
                     details={"kind": finding.kind, "order_no": finding.order_no, "carrier": finding.carrier,
                              "run_on": finding.run_on.isoformat()})
        session.flush()
    return finding


def _day_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(_text(name, 10) or "")
    except ValueError:
        return None


@reconciliation_bp.get("/", endpoint="index")
def reconciliation():
    """Findings of a run day (the newest by default), with the days that had any."""
    days = run_days(db.session)
    day = _day_arg("day") or (days[0][0] if days else None)
    known = {number for number in (f.order_no for f in findings(db.session, day)) if number}
    booked = set(db.session.scalars(sa.select(Booking.order_no).where(Booking.order_no.in_(known)))) if known else set()
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == RECONCILE_TOPIC, OutboxMessage.state.in_(("pending", "running"))))
    return render_template("admin/courier_reconciliation.html", days=days, day=day,
                           findings=findings(db.session, day), booked=booked, done=request.args.get("done"),
                           waiting=waiting, scrub=scrub)


@outbox.handler(RECONCILE_TOPIC)
def run_reconcile(payload: dict, *, key: str, session: Session) -> None:
    """The worker's side of "reconcile now": jobs.reconcile for the day asked (it calls the
    carriers, so it never runs inside a console request). Registered here, with the button
    that queues it; the worker builds the whole app and so imports this module."""
    jobs.reconcile(session, date.fromisoformat(payload["day"]))


def queue_reconciliation(session: Session, day: date, *, actor, now=utcnow) -> OutboxMessage:
    """Ask the worker to reconcile ``day`` now (the daily job does yesterday at 08:00);
    audited as ``courier.reconcile.queue``. A second click while one waits adds nothing."""
    moment = now()
    waiting = session.scalar(sa.select(OutboxMessage).where(
        OutboxMessage.topic == RECONCILE_TOPIC, OutboxMessage.state.in_(("pending", "running")),
        OutboxMessage.key.startswith(f"reconcile:{day.isoformat()}:", autoescape=True)).limit(1))
    if waiting is not None:
        return waiting
    message = outbox.enqueue(session, RECONCILE_TOPIC, {"day": day.isoformat()},
                             key=f"reconcile:{day.isoformat()}:{moment.timestamp():.6f}", now=lambda: moment)
    audit.record(session, actor=actor, action="courier.reconcile.queue", target=f"day:{day.isoformat()}",
                 now=lambda: moment)
    session.flush()
    return message


@reconciliation_bp.post("/run", endpoint="run")
def reconciliation_run():
    """Reconcile today's bookings with every carrier now, in the worker."""
    queue_reconciliation(db.session, _today(), actor=g.actor)
    return redirect(url_for("admin.courier.reconciliation.index", day=_today().isoformat(), done="queued"), code=303)


@reconciliation_bp.post("/<int:finding_id>/resolve", endpoint="resolve")
def reconciliation_resolve(finding_id):
    finding = resolve_finding(db.session, finding_id, actor=g.actor)
    return redirect(url_for("admin.courier.reconciliation.index", day=finding.run_on.isoformat(), done="resolved")
                    + f"#finding-{finding.id}", code=303)


bp.register_blueprint(accounts_bp)
bp.register_blueprint(authorities_bp)
bp.register_blueprint(reconciliation_bp)
