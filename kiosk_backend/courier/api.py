"""The mini-app's courier API (/api/v1): the signed-in resident's bookings, pickup slots, the
booking form's prefill and the address book.

Every operation needs 'Authorization: Resident <token>' (identity/api.py) and answers about
the resident's own things only: someone else's booking or address is answered exactly like
one that does not exist (404).

- ``POST /bookings`` books a pickup. It honours ``Idempotency-Key`` (core/idempotency.py,
  scoped per resident): a retry with the same key and body gets the first answer again (with
  ``Idempotent-Replayed: true``), the same key with another body 422, while the first still
  runs 409. The booking is saved before any carrier is called (the worker places the order).
- ``GET /bookings`` (newest first, a page at a time), ``GET /bookings/<order_no>`` (with the
  timeline: our own entries and the carrier's traces, newest first), ``POST
  /bookings/<order_no>/cancel`` (before pickup only; 409 after), ``POST
  /bookings/<order_no>/slot`` (another pickup window of the site, before pickup).
- ``GET /pickup-slots?site=<code>&from=<date>``: the site's windows with places left.
- ``GET /booking-prefill?purpose=…&application=<number>``: the form's starting values.
- ``GET|POST /addresses``, ``DELETE /addresses/<id>``, ``POST /addresses/<id>/default``.

No fixed word sits under a path segment that is free (``/bookings/<order_no>``): the slots,
the prefill and the address book have paths of their own.

Every booking answer is :func:`services.view` through schemas.py: codes plus their zh-CN words,
masked names and mobile numbers only.
"""
from __future__ import annotations

from datetime import timedelta

from flask import g, url_for
from flask_smorest import Blueprint

from ..core import idempotency
from ..core.clock import LOCAL_TZ, utcnow
from ..core.errors import NotFound, documented_errors
from ..extensions import db
from ..identity.api import RESIDENT_SECURITY, current_resident, resident_required
from ..sites import divisions
from ..sites import services as sites
from . import schemas, services

blp = Blueprint("courier_api", __name__, url_prefix="/api/v1",
                description="For the mini-app: the signed-in resident's courier bookings (邮寄材料 / 结果寄回家), "
                            "pickup slots, the booking form's prefill and the address book")

ORDER_NO = "<string(maxlength=32):order_no>"
ADDRESS_ID = "<int(max=2147483647):address_id>"
SLOT_DAYS = 7
# Slots are made a few weeks ahead at most: a day further than this has none (and no date
# arithmetic near date.max is ever attempted).
SLOT_HORIZON_DAYS = 366

CREATED_HEADERS = {
    "Location": {"description": "The new booking: /api/v1/bookings/<order_no>", "required": True,
                 "schema": {"type": "string"}},
    **idempotency.REPLAYED_HEADER_DOC,
}


def _scope() -> str:
    """Whose Idempotency-Key it is: the signed-in resident's (401 without one)."""
    return f"resident:{current_resident().id}"


def page_of(resident, page: int, page_size: int) -> dict:
    """A page of the resident's bookings, newest first (one more is read to know whether
    another page follows)."""
    found = services.for_resident(db.session, resident, limit=page_size + 1, offset=(page - 1) * page_size)
    return {"items": [services.view(b) for b in found[:page_size]], "page": page, "page_size": page_size,
            "has_more": len(found) > page_size}


def booking_in(data: dict) -> services.BookingIn:
    """The API's loaded body as the service's input."""
    return services.BookingIn(**{**data, "sender": services.PartyIn(**data["sender"]),
                                 "recipient": services.PartyIn(**data["recipient"])})


def address_view(entry) -> dict:
    return {"id": entry.id, "label": entry.label, "name": entry.name, "mobile_masked": entry.mobile_masked,
            "province_code": entry.province_code, "city_code": entry.city_code, "county_code": entry.county_code,
            "region": divisions.full_name(entry.county_code) or "", "address": entry.address,
            "postcode": entry.postcode, "is_default": entry.is_default}


def prefill_view(prefill: services.Prefill) -> dict:
    authority = prefill.authority
    return {"application_number": prefill.application.number if prefill.application is not None else None,
            "sender": prefill.sender, "recipient": prefill.recipient,
            "authority": {"org_name": authority.org_name, "region_code": authority.region_code}
            if authority is not None else None,
            "addresses": [address_view(entry) for entry in prefill.addresses],
            "item_type": prefill.item_type, "item_type_key": f"courier.item_type.{prefill.item_type}",
            "payer": prefill.payer, "payer_key": f"courier.payer.{prefill.payer}",
            "payers": [p for p in services.PAYER_WORDS if p in services.carrier_capabilities().payers],
            "item_checklist": prefill.item_checklist}


def slot_view(slot, site) -> dict:
    return {"id": slot.id, "site_id": slot.site_id, "site": site.code, "day": slot.day, "starts": slot.starts,
            "ends": slot.ends, "places_left": max(0, slot.capacity - slot.taken)}


# ---------------------------------------------------------------- bookings

@blp.post("/bookings")
@resident_required
@idempotency.idempotent(scope=_scope)
@blp.arguments(schemas.BookingIn())
@blp.response(201, schemas.BookingOut(), headers=CREATED_HEADERS)
@blp.doc(security=RESIDENT_SECURITY, parameters=[idempotency.OPENAPI_PARAMETER])
@documented_errors(blp, 400, 401, 404, 409, 413, 503)
def create_booking(data):
    """Book a courier pickup: saved at once (待揽收), the order placed with the carrier by the
    worker. For the two application legs the handling authority's side (the recipient of
    materials_to_authority, the sender of result_to_applicant) is its registered address:
    whatever is sent for that side is replaced, and the answer shows what was booked.
    404: the application is not one of yours (or the site is unknown); 409: the pickup
    window is full, this leg of the application is booked already (until that booking is
    cancelled), or a request with the same Idempotency-Key is still running; 422: a field is
    invalid (named; the authority's address not registered yet is named on its side), or the
    Idempotency-Key was used for another body."""
    booking = services.book(db.session, booking_in(data), resident=g.resident, channel="api", actor=g.actor)
    return services.view(booking), {"Location": url_for("courier_api.booking", order_no=booking.order_no)}


@blp.get("/bookings")
@resident_required
@blp.arguments(schemas.PageArgs(), location="query")
@blp.response(200, schemas.BookingPage())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 503)
def my_bookings(args):
    """My bookings, newest first, with status, purpose, linked application and pickup window."""
    return page_of(g.resident, args["page"], args["page_size"])


@blp.get(f"/bookings/{ORDER_NO}")
@resident_required
@blp.response(200, schemas.BookingOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def booking(order_no):
    """One of my bookings with its timeline (newest first); anyone else's is 404, as an unknown one."""
    return services.view(services.get_for_resident(db.session, order_no, g.resident))


@blp.post(f"/bookings/{ORDER_NO}/cancel")
@resident_required
@blp.arguments(schemas.CancelIn(), required=False)
@blp.response(200, schemas.BookingOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 400, 401, 404, 409, 413, 503)
def cancel_booking(data, order_no):
    """Cancel one of my bookings before pickup: 已取消 at once, the order cancelled at the carrier
    by the worker, and the window's place given back once the carrier confirms. If the carrier
    refuses (it picked the parcel up meanwhile) the booking shows 待揽收 (or where the parcel
    is) again with the carrier's answer on its timeline. 409 once the parcel was picked up,
    the booking cancelled, or the carrier refused a cancel."""
    booking = services.get_for_resident(db.session, order_no, g.resident)
    return services.view(services.cancel(db.session, booking, actor=g.actor, reason=data.get("reason")))


@blp.post(f"/bookings/{ORDER_NO}/slot")
@resident_required
@blp.arguments(schemas.SlotChangeIn())
@blp.response(200, schemas.BookingOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 400, 401, 404, 409, 413, 503)
def change_slot(data, order_no):
    """Move one of my bookings to another pickup window of its site, before pickup: the new
    window's place is taken and the old one's given back at once. Asking for the window it
    has already changes nothing. 409: the new window is full, the parcel was picked up or the
    booking cancelled, or a home pickup the carrier has scheduled already (cancel and book
    again); 422: not a window of the booking's site, one that is over, or further ahead than
    the carrier books."""
    booking = services.get_for_resident(db.session, order_no, g.resident)
    return services.view(services.change_slot(db.session, booking, data["slot_id"], actor=g.actor))


# ---------------------------------------------------------------- the booking form

@blp.get("/pickup-slots")
@resident_required
@blp.arguments(schemas.SlotArgs(), location="query")
@blp.response(200, schemas.SlotList())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def pickup_slots(args):
    """The site's pickup windows with places left, for 7 days from ``from`` (default today,
    China time), and no further ahead than the configured carrier books pickups (快递100:
    today, tomorrow and the day after); windows already over are left out. 404: no site has
    this code."""
    site = sites.get_site_by_code(db.session, args["site"])
    if site is None:
        raise NotFound("No such site.", "没有找到该网点。")
    today = utcnow().astimezone(LOCAL_TZ).date()
    first = max(args["from_"] or today, today)
    if first > today + timedelta(days=SLOT_HORIZON_DAYS):
        return {"items": []}
    capabilities = services.carrier_capabilities()
    if capabilities.pickup_days_ahead is not None:  # the carrier books pickups only so far ahead (快递100: 3 days)
        last = today + timedelta(days=capabilities.pickup_days_ahead)
        if first > last:
            return {"items": []}
        found = services.open_slots(db.session, site.id, day_from=first, days=(last - first).days + 1)
    else:
        found = services.open_slots(db.session, site.id, day_from=first, days=SLOT_DAYS)
    return {"items": [slot_view(slot, site) for slot in found]}


@blp.get("/booking-prefill")
@resident_required
@blp.arguments(schemas.PrefillArgs(), location="query")
@blp.response(200, schemas.PrefillOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def booking_prefill(args):
    """A booking form's starting values: you (your default address, else your name and masked
    mobile), the handling authority of the application, your address book, who pays and the
    envelope's checklist. 404: the application is not one of yours."""
    return prefill_view(services.prefill(db.session, resident=g.resident, application_number=args["application"],
                                         purpose=args["purpose"]))


# ---------------------------------------------------------------- address book

@blp.get("/addresses")
@resident_required
@blp.response(200, schemas.AddressList())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 503)
def addresses():
    """My address book, the default first."""
    return {"items": [address_view(entry) for entry in services.list_addresses(db.session, g.resident)]}


@blp.post("/addresses")
@resident_required
@blp.arguments(schemas.AddressIn())
@blp.response(201, schemas.AddressOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 400, 401, 409, 413, 503)
def add_address(data):
    """Add an address (mobile null: your own number on record). 409: the book is full (20)."""
    label, is_default = data.pop("label"), data.pop("is_default")
    entry = services.save_address(db.session, g.resident, services.PartyIn(**data), label=label,
                                  is_default=is_default, actor=g.actor)
    return address_view(entry)


@blp.delete(f"/addresses/{ADDRESS_ID}")
@resident_required
@blp.response(204)
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def delete_address(address_id):
    """Delete one of my addresses (if it was the default, the newest one left becomes it)."""
    services.delete_address(db.session, g.resident, address_id, actor=g.actor)


@blp.post(f"/addresses/{ADDRESS_ID}/default")
@resident_required
@blp.response(200, schemas.AddressOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def default_address(address_id):
    """Make one of my addresses the default."""
    return address_view(services.set_default(db.session, g.resident, address_id, actor=g.actor))
