"""Phone pages for courier bookings (/m/bookings), for the logged-in resident only.

- ``/m/bookings``: my bookings, newest first, each with its status in words and a symbol,
  purpose, linked application and pickup window.
- ``/m/bookings/<order_no>``: one booking: status, waybill number, the parties (masked),
  and the timeline merged — our own entries (booked, cancelled) and the carrier's traces with
  their location — newest first. Before pickup, a button to cancel.
- ``/m/bookings/<order_no>/cancel``: GET asks to confirm (with an optional reason); POST
  cancels and goes back to the booking (303). A POST from another site is refused by
  core.web's same-origin check, as every phone form is (the phone pages keep no CSRF token).

Someone else's booking, an unknown number and a text that is no order number at all get the
same 404 page. Every page is sent with ``Cache-Control: no-store`` (core.web).
"""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from ..core.errors import Conflict
from ..core.forms import load_form
from ..extensions import db
from ..identity.mobile import login_required
from ..sites.models import Site
from . import schemas, services
from .api import page_of

bp = Blueprint("courier", __name__)

PAGE_SIZE = 20
MAX_PAGE = 1000

# A symbol beside the status's words (colour is never the only signal): waiting for pickup,
# under way, something for the resident to look at, done, sent back, cancelled. The tone
# names are the phone pages' colour classes (mobile.css).
STATUS_TONES = {
    "pending_pickup": ("waiting", "⏳"),
    "accepted": ("waiting", "➜"),
    "in_transit": ("waiting", "➜"),
    "out_for_delivery": ("waiting", "➜"),
    "awaiting_collection": ("action", "⚠"),
    "failed_delivery": ("action", "⚠"),
    "exception": ("action", "⚠"),
    "delivered": ("done", "✓"),
    "returned": ("refused", "↩"),
    "cancelled": ("paused", "✕"),
}


def booking_tone(status: str) -> dict:
    name, symbol = STATUS_TONES[status]
    return {"name": name, "symbol": symbol}


@bp.context_processor
def _context() -> dict:
    return {"booking_tone": booking_tone}


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), MAX_PAGE)


def _site_name(site_id: int) -> str | None:
    site = db.session.get(Site, site_id)
    return site.name if site is not None else None


def _booking_page(booking, *, status: int = 200, error=None, confirm: bool = False):
    view = services.view(booking)
    html = render_template("mobile/booking.html", view=view, site_name=_site_name(view["site_id"]), error=error,
                           confirm=confirm and view["cancellable"], done=request.args.get("done"))
    return html, status


@bp.get("/bookings")
@login_required
def mine():
    """My bookings, newest first, a page at a time."""
    return render_template("mobile/bookings.html", **page_of(g.resident, _page(), PAGE_SIZE))


@bp.get("/bookings/<string(maxlength=32):order_no>")
@login_required
def booking(order_no: str):
    """One of my bookings with its merged timeline; anyone else's is 404 like an unknown one."""
    return _booking_page(services.get_for_resident(db.session, order_no, g.resident))


@bp.get("/bookings/<string(maxlength=32):order_no>/cancel")
@login_required
def confirm_cancel(order_no: str):
    """The confirm step before cancelling (the booking page with the question)."""
    return _booking_page(services.get_for_resident(db.session, order_no, g.resident), confirm=True)


@bp.post("/bookings/<string(maxlength=32):order_no>/cancel")
@login_required
def cancel(order_no: str):
    """Cancel before pickup, then back to the booking (303); after pickup the booking page
    again with why not (409)."""
    found = services.get_for_resident(db.session, order_no, g.resident)
    data = load_form(schemas.CancelIn)
    try:
        services.cancel(db.session, found, actor=g.actor, reason=data.get("reason"))
    except Conflict as exc:
        return _booking_page(found, status=exc.status_code, error=exc)
    return redirect(url_for("mobile.courier.booking", order_no=found.order_no, done="cancelled"), 303)
