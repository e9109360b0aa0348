"""Phone pages for applications (/m/applications).

- ``/m/applications``: my applications, newest first (login_required: the phone goes to
  /m/login and comes back).
- ``/m/applications/<number>``: what the kiosk's progress receipt's QR code opens. The
  logged-in applicant sees the application. Anyone else — not logged in, or logged in as
  someone whose application it is not, or a number nobody has — gets the same page asking for
  the last 4 characters of the applicant's ID number or mobile number (with logging in as the
  other way); posting them shows the masked view. A wrong answer and an unknown number get the
  same page and status (404). The POST is rate-limited with the kiosk's and the mini-app's
  lookups (core.ratelimit.progress_lookup, per IP and per number): the form carries the number
  as ``number`` for that count, and a form without the page's number is refused before any
  lookup. A POST from another site is refused by core.web's same-origin check (the phone pages
  keep no CSRF token; the console's forms do).

Every HTML page is sent with ``Cache-Control: no-store`` (core.web).
"""
from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from ..core import ratelimit
from ..core.errors import DomainError, Invalid
from ..core.forms import load_form
from ..extensions import db
from ..identity.mobile import login_required
from . import schemas, services
from .api import owned, page_of, present

bp = Blueprint("applications", __name__)

PAGE_SIZE = 20
MAX_PAGE = 1000

# A symbol beside the state's words (colour is never the only signal): what the state means for
# the applicant — waiting, something to do, clock stopped, done, refused.
TONES = {
    "received": "waiting", "accepted": "waiting", "supplemented": "waiting", "in_progress": "waiting",
    "supplement_requested": "action", "special_procedure": "paused", "not_accepted": "refused",
    "concluded": "done", "delivered": "done", "rated": "done",
}
SYMBOLS = {"waiting": "⏳", "action": "⚠", "paused": "⏸", "done": "✓", "refused": "✕"}


def tone_of(view: dict) -> str:
    if view["state"] == "concluded" and view["outcome"] == "denied":
        return "refused"
    return TONES[view["state"]]


def application_tone(view: dict) -> dict:
    tone = tone_of(view)
    return {"name": tone, "symbol": SYMBOLS[tone]}


@bp.context_processor
def _context() -> dict:
    return {"application_tone": application_tone}


def _page() -> int:
    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), MAX_PAGE)


@bp.get("/applications")
@login_required
def mine():
    """My applications, newest first, a page at a time."""
    return render_template("mobile/applications.html", **page_of(g.resident, _page(), PAGE_SIZE))


@bp.get("/applications/<string(maxlength=64):number>")
def application(number: str):
    """The applicant's own application, else the page asking for the second factor."""
    number = _number_of_page(number)
    if g.resident is not None:
        try:
            return render_template("mobile/application.html", view=present(owned(number, g.resident)), mine=True)
        except services.ApplicationNotFound:
            pass  # someone else's or unknown: the same page as for anyone
    return _verify_page(number)


@bp.post("/applications/<string(maxlength=64):number>")
@ratelimit.progress_lookup
def lookup(number: str):
    """The second factor for ``number``: the masked view, or the same page again (404/422)."""
    number = _number_of_page(number)
    try:
        data = load_form(schemas.LookupIn)
        if services.normalize_number(data["number"]) != number:
            raise Invalid("The form is not this page's.", "表单与当前页面不符，请重新打开本页面。",
                          errors={"number": ["not this page's number"]})
        view = present(services.lookup(db.session, number, data["tail"]))
    except DomainError as exc:
        return _verify_page(number, error=exc, tail=request.form.get("tail", "")[:16]), exc.status_code
    return render_template("mobile/application.html", view=view, mine=False)


def _number_of_page(number: str) -> str:
    """The page's application number, normalised; a text that is no application number is
    not found (404), like a number nobody has."""
    try:
        return services.normalize_number(number)
    except Invalid:
        raise services.ApplicationNotFound() from None


def _verify_page(number: str, *, error: DomainError | None = None, tail: str = ""):
    field = next(iter(error.errors), None) if isinstance(error, Invalid) else None
    return render_template("mobile/application_verify.html", number=number, error=error, error_field=field,
                           tail=tail if field == "tail" else "",
                           login_url=url_for("mobile.identity.login", next=request.path))
