"""The mini-app's applications API (/api/v1/applications).

- ``GET /applications`` and ``GET /applications/<number>``: the signed-in resident's own
  applications ('Authorization: Resident <token>', identity/api.py), matched by ID number.
  Someone else's number is answered exactly like an unknown one (404), and so is a number
  that is not one at all.
- ``POST /application-lookup``: without login, a number and the last 4 characters of the
  applicant's ID number or mobile number → the masked view; "not found" and "not yours" are
  one answer (services.lookup). Rate-limited per IP and per number, one budget with the
  kiosk's and the phone page's lookups (core.ratelimit.progress_lookup).

The lookup is not ``/applications/lookup``: application numbers are opaque letters and digits,
so any word under /applications/ is also a possible number (and the path would answer GET).

Every answer is :func:`applications.progress.view` through schemas.py: codes plus their zh-CN
words, masked applicant data only.
"""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from ..core import ratelimit
from ..core.clock import utcnow
from ..core.errors import Invalid, documented_errors
from ..core.i18n import translate
from ..extensions import db
from ..identity.api import RESIDENT_SECURITY, resident_required
from . import deadlines, progress, schemas, services

blp = Blueprint("applications_api", __name__, url_prefix="/api/v1",
                description="For the mini-app: the signed-in resident's applications (办件) and their progress, "
                            "and a lookup by number and the last 4 characters of the ID or mobile number")

NO_ID_NUMBER = "mobile.applications.no_id_number"


def present(application, *, timeline: bool = True) -> dict:
    """The shared progress view of ``application`` on today's working-day calendar."""
    from ..core import calendar_store

    return progress.view(application, calendar=calendar_store.calendar(db.session),
                         today=deadlines.china_day(utcnow()), timeline=timeline)


def page_of(resident, page: int, page_size: int) -> dict:
    """A page of the resident's applications, newest first (one more is read to know whether
    another page follows), with a notice when the account has no ID number to match by."""
    found = services.for_resident(db.session, resident, limit=page_size + 1, offset=(page - 1) * page_size)
    notice = None if resident.id_number_hash else "no_id_number"
    return {"items": [present(a, timeline=False) for a in found[:page_size]], "page": page, "page_size": page_size,
            "has_more": len(found) > page_size, "notice": notice,
            "notice_text": translate(NO_ID_NUMBER, schemas.LANG) if notice else None}


def owned(number: str, resident):
    """The resident's application ``number``; ApplicationNotFound (404) when it is unknown,
    someone else's, or not an application number at all — one answer for the three."""
    try:
        return services.get_for_resident(db.session, number, resident)
    except Invalid:
        raise services.ApplicationNotFound() from None


@blp.get("/applications")
@resident_required
@blp.arguments(schemas.PageArgs(), location="query")
@blp.response(200, schemas.ApplicationPage())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 503)
def my_applications(args):
    """My applications, newest first, with state, next step and deadline (matched by the
    resident's ID number: an account without one gets an empty list and ``notice``)."""
    return page_of(g.resident, args["page"], args["page_size"])


@blp.get("/applications/<string(maxlength=64):number>")
@resident_required
@blp.response(200, schemas.ApplicationOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 404, 503)
def my_application(number):
    """One of my applications with its timeline; anyone else's number is 404, as an unknown one."""
    return present(owned(number, g.resident))


@blp.post("/application-lookup")
@ratelimit.progress_lookup
@blp.arguments(schemas.LookupIn())
@blp.response(200, schemas.ApplicationOut())
# No security requirement: the second factor (last 4 characters) is the credential.
@documented_errors(blp, 400, 404, 413, 429, 503)
def lookup(data):
    """Look an application up without login: its number and the last 4 characters of the
    applicant's ID number or mobile number → the masked view with the timeline. An unknown
    number and a wrong tail get the same 404; limited per IP and per number (429)."""
    return present(services.lookup(db.session, data["number"], data["tail"]))
