"""Console pages: applications (办件) with filters, one application with its timeline, SMS
notices and refused events, the overdue list, and the department clients.

Who sees what:

- Admins see and do everything here.
- Site managers read applications (list, detail, overdue) and change nothing. An application
  belongs to no site — a resident may ask about it at any kiosk, and 跨省通办 ones are
  handled in another province — so there is no site scope to apply; the console shows
  masked personal data only (name, ID number and phone as stored masked; free text from
  departments and SMS providers is scrubbed of ID and mobile numbers before it is shown).
- Department clients (secrets, rotation, disabling, refused pushes) are for admins only:
  the nested blueprint ``departments`` refuses everyone else with 403.
- Helpers have no console at all (identity.admin.require_staff_session).
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Blueprint, g, redirect, render_template, request, session, url_for
from marshmallow import fields, validate
from sqlalchemy.orm import Session, lazyload

from ..core import calendar_store
from ..core.clock import utcnow
from ..core.errors import Invalid
from ..core.forms import use_form
from ..core.payloads import Schema
from ..core.requests import require_role
from ..extensions import db
from ..identity import residents
from ..sites import divisions
from . import departments, progress, services, states
from .deadlines import china_day
from .models import Application, DepartmentClient, Notification, RefusedEvent
from .states import State

bp = Blueprint("applications", __name__, url_prefix="/applications")
clients_bp = Blueprint("departments", __name__, url_prefix="/departments")

PAGE_SIZE = 50
OVERDUE_PAGE_SIZE = 100
MAX_PAGE = 10_000
REFUSED_SHOWN = 50  # refused events on a client's or an application's page
REFUSED_RECENT = timedelta(days=7)  # the list's "refused lately" count


def _today() -> date:
    return china_day(utcnow())


def _text(name: str, limit: int = 64) -> str | None:
    """A query argument as text (PostgreSQL refuses NUL even in a comparison)."""
    return request.args.get(name, "").replace("\x00", "").strip()[:limit] or None


def _page() -> int:
    return max(1, min(MAX_PAGE, request.args.get("page", 1, type=int)))


# ------------------------------------------------------------------ personal data in free text

# Free text written by departments (notes, details, refusal messages) or SMS providers (errors)
# may quote a number; the console shows masked personal data only.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d{9})(?!\d)")


def scrub(value: Any) -> str:
    """``value`` as text with ID numbers and mainland mobile numbers masked."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _ID_NUMBER.sub(lambda m: residents.mask_id_number(m.group(1).upper()), text)
    return _MOBILE.sub(lambda m: residents.mask_phone(m.group(1)), text)


def detail_pairs(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An event's details as (key, text) pairs, lists joined, personal numbers masked."""
    out = []
    for key, value in (details or {}).items():
        if isinstance(value, list | tuple):
            value = "、".join(scrub(item) for item in value)
        out.append((scrub(key), scrub(value)))
    return out


# ------------------------------------------------------------------ queries of the console

def _open_overdue(today: date):
    """The condition of services.overdue: open, clock running, deadline before today."""
    return sa.and_(Application.state.in_([str(s) for s in states.OPEN]), Application.paused_since.is_(None),
                   Application.deadline < today)


def search(session: Session, *, today: date, state: str | None = None, mode: str | None = None,
           number: str | None = None, overdue: bool = False, cross_province: bool = False,
           region: str | None = None, limit: int = PAGE_SIZE, offset: int = 0) -> list[Application]:
    """Applications newest first (by receipt). ``number`` matches part of the number,
    ``region`` is a handling region code or its 2- or 4-digit prefix (province, city).
    Filters are applied as given: an unknown state or region matches nothing."""
    query = sa.select(Application).options(lazyload(Application.events))
    if state:
        query = query.where(Application.state == state)
    if mode:
        query = query.where(Application.mode == mode)
    if number:
        query = query.where(Application.number.contains(re.sub(r"\s", "", number).upper(), autoescape=True))
    if overdue:
        query = query.where(_open_overdue(today))
    if cross_province:
        query = query.where(sa.func.substr(Application.receiving_region, 1, 2)
                            != sa.func.substr(Application.handling_region, 1, 2))
    if region:
        query = query.where(Application.handling_region == region if len(region) == 6
                            else Application.handling_region.startswith(region, autoescape=True))
    query = query.order_by(Application.received_at.desc(), Application.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def region_name(code: str | None) -> str | None:
    """The full name of a 6-digit division code (GB/T 2260); a city's or a province's code
    (``360400``, ``330000``) names the city or the province. None for an unknown code."""
    if not code:
        return None
    for length in (6, 4, 2):
        if length == 6 or code.endswith("0" * (6 - length)):
            name = divisions.full_name(code[:length])
            if name:
                return name
    return None


def handling_regions(session: Session) -> list[tuple[str, str]]:
    """The handling regions applications have, as (code, full name), for the filter."""
    codes = session.scalars(sa.select(Application.handling_region).distinct().order_by(Application.handling_region))
    return [(code, region_name(code) or code) for code in codes]


def overdue_count(session: Session, *, today: date) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Application).where(_open_overdue(today)))


def deadline_unknown(session: Session, *, limit: int = OVERDUE_PAGE_SIZE) -> list[Application]:
    """Open applications whose deadline waits for a calendar year admins have not entered."""
    return list(session.scalars(
        sa.select(Application).options(lazyload(Application.events))
        .where(Application.deadline_missing_year.is_not(None), Application.state.in_([str(s) for s in states.OPEN]))
        .order_by(Application.deadline_missing_year, Application.received_at, Application.id).limit(limit)))


def notifications_of(session: Session, application: Application) -> dict[int, Notification]:
    """The SMS notices of an application's events, by event id (one per event at most)."""
    rows = session.scalars(sa.select(Notification).where(Notification.application_id == application.id))
    return {row.event_id: row for row in rows}


def refused_for_number(session: Session, number: str, *, limit: int = REFUSED_SHOWN) -> list[RefusedEvent]:
    return list(session.scalars(sa.select(RefusedEvent).where(RefusedEvent.number == number)
                                .order_by(RefusedEvent.received_at.desc(), RefusedEvent.id.desc()).limit(limit)))


def refused_for_client(session: Session, client: DepartmentClient, *, limit: int = REFUSED_SHOWN) -> list[RefusedEvent]:
    return list(session.scalars(sa.select(RefusedEvent).where(RefusedEvent.client_id == client.id)
                                .order_by(RefusedEvent.received_at.desc(), RefusedEvent.id.desc()).limit(limit)))


def refused_counts(session: Session, *, since) -> dict[int, int]:
    """How many events each client had refused since ``since``."""
    rows = session.execute(sa.select(RefusedEvent.client_id, sa.func.count())
                           .where(RefusedEvent.received_at >= since, RefusedEvent.client_id.is_not(None))
                           .group_by(RefusedEvent.client_id))
    return dict(rows.all())


def known_numbers(session: Session, numbers: list[str | None]) -> set[str]:
    """Which of ``numbers`` are applications (a refused create or an unknown number is not)."""
    wanted = {number for number in numbers if number}
    if not wanted:
        return set()
    return set(session.scalars(sa.select(Application.number).where(Application.number.in_(wanted))))


def client_names(session: Session) -> dict[int, DepartmentClient]:
    return {client.id: client for client in session.scalars(sa.select(DepartmentClient))}


def get_application(session: Session, number: str) -> Application:
    """The application ``number`` (blanks and case as a person types them); raises
    ApplicationNotFound, also for a string that cannot be a number (a path that is no page)."""
    try:
        found = services.get_by_number(session, services.normalize_number(number))
    except Invalid:
        found = None
    if found is None:
        raise services.ApplicationNotFound()
    return found


# ------------------------------------------------------------------ applications

def _words() -> dict[str, Any]:
    """What every applications page shows things with."""
    return {"full_name": region_name, "scrub": scrub, "state_group": state_group}


def state_group(state: str) -> str:
    """The colour and symbol group of a state: open, paused, done or refused."""
    if state in states.PAUSED:
        return "paused"
    if state == State.NOT_ACCEPTED:
        return "refused"
    if state in states.FINISHED:
        return "done"
    return "open"


@bp.get("/")
def index():
    """Applications newest first, filtered by state, mode, part of the number, overdue,
    跨省 and handling region; each with its state and deadline in words."""
    today, page = _today(), _page()
    rows = search(db.session, today=today, state=_text("state"), mode=_text("mode"), number=_text("q", 40),
                  overdue=request.args.get("overdue") == "1", cross_province=request.args.get("cross") == "1",
                  region=_text("region", 6), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    calendar = calendar_store.calendar(db.session)
    views = [progress.view(row, calendar=calendar, today=today, timeline=False) for row in rows[:PAGE_SIZE]]
    return render_template("admin/applications.html", views=views, args=request.args, page=page,
                           more=len(rows) > PAGE_SIZE, regions=handling_regions(db.session),
                           state_names=[s.value for s in State], modes=[m.value for m in states.Mode], **_words())


@bp.get("/overdue")
def overdue():
    """Open applications past their deadline, most overdue first, with the days overdue; and
    the open ones whose deadline is unknown because a calendar year is missing."""
    today, page = _today(), _page()
    rows = services.overdue(db.session, today=today, limit=OVERDUE_PAGE_SIZE + 1,
                            offset=(page - 1) * OVERDUE_PAGE_SIZE)
    return render_template("admin/applications_overdue.html", today=today, page=page,
                           rows=[(row, (today - row.deadline).days) for row in rows[:OVERDUE_PAGE_SIZE]],
                           more=len(rows) > OVERDUE_PAGE_SIZE, total=overdue_count(db.session, today=today),
                           unknown=deadline_unknown(db.session), args=request.args, **_words())


@bp.get("/<number>")
def detail(number):
    """One application: every field (personal data masked), the deadline with its pauses, the
    timeline with who recorded what when, each event's SMS notice, and refused events."""
    application = get_application(db.session, number)
    view = progress.view(application, calendar=calendar_store.calendar(db.session), today=_today(), timeline=False)
    return render_template("admin/applications_detail.html", application=application, view=view,
                           notifications=notifications_of(db.session, application),
                           refused=refused_for_number(db.session, application.number),
                           clients=client_names(db.session), detail_pairs=detail_pairs,
                           notified={str(action) for action in services.NOTIFIED}, **_words())


@bp.post("/<number>/notices/<int:notice_id>/resend")
def resend_notice(number, notice_id):
    """Send a rejected or uncertain SMS notice again (admins: the cause is fixed, or the
    uncertain text is known not to have arrived)."""
    require_role("admin")
    services.resend_notice(db.session, number, notice_id, actor=g.actor)
    return redirect(url_for("admin.applications.detail", number=number, done="resend") + "#timeline", code=303)


# ------------------------------------------------------------------ department clients (admins only)

@clients_bp.before_request
def _admins_only():
    """Department clients hold the secrets that let a system write applications: admins only."""
    require_role("admin")


class ClientForm(Schema):
    """The console's "new department client" form; the service checks the rules again."""

    class Meta:
        unknown = ma.EXCLUDE  # csrf_token

    name = fields.String(required=True, validate=[validate.Length(min=1, max=200),
                                                  validate.Regexp(r"^[^\x00-\x1f\x7f]*$",
                                                                  error="No control characters allowed / 不能包含控制字符")])
    region_code = fields.String(load_default=None,
                                validate=validate.Regexp(r"^\d{6}$", error="6 digits (GB/T 2260) / 应为 6 位数字"))

    @ma.pre_load
    def _trimmed(self, form, **kwargs):
        form = {key: (value.strip() if isinstance(value, str) else value) for key, value in dict(form).items()}
        if not form.get("region_code"):
            form.pop("region_code", None)
        return form


def _clients_context() -> dict:
    return {"clients": departments.list_clients(db.session), "full_name": region_name,
            "refused": refused_counts(db.session, since=utcnow() - REFUSED_RECENT)}


@clients_bp.route("/", methods=["GET", "POST"], endpoint="index")
@use_form(ClientForm, "admin/department_clients.html", context=_clients_context)
def clients(data):
    """The department clients; the form registers a new one, whose secret the next page shows once."""
    item, secret = departments.create_client(db.session, name=data["name"], region_code=data["region_code"],
                                             actor=g.actor)
    _remember_secret(item, secret, "created")
    return redirect(url_for("admin.applications.departments.client", client_id=item.id) + "#new-secret", code=303)


# A new secret is shown once, like a new enrolment code (fleet/admin.py): it waits in the
# signed session cookie for the page the POST redirects to, whose first GET takes it out, so
# neither a reload nor the address (no secret in a URL) shows it again.
_NEW_SECRET = "new_department_secret"


def _remember_secret(client: DepartmentClient, secret: str, kind: str) -> None:
    session[_NEW_SECRET] = {"secret": secret, "client": client.id, "kind": kind}


def _one_time_secret(client: DepartmentClient) -> dict | None:
    """The secret waiting for this client's page ({"secret", "kind"}), taken out of the session."""
    waiting = session.get(_NEW_SECRET)
    if not isinstance(waiting, dict) or waiting.get("client") != client.id:
        return None
    session.pop(_NEW_SECRET)
    return {"secret": waiting.get("secret"), "kind": waiting.get("kind")}


@clients_bp.get("/<int:client_id>")
def client(client_id):
    """A client: its key id, state, last request, rotation, and the events refused lately."""
    item = departments.get_client(db.session, client_id)
    refused = refused_for_client(db.session, item)
    return render_template("admin/department_client.html", client=item, new_secret=_one_time_secret(item),
                           refused=refused, known=known_numbers(db.session, [r.number for r in refused]),
                           full_name=region_name, scrub=scrub)


@clients_bp.post("/<int:client_id>/rotate")
def rotate(client_id):
    """A new secret (shown once); the old one keeps working for the grace period."""
    item, secret = departments.rotate_secret(db.session, client_id, actor=g.actor)
    _remember_secret(item, secret, "rotated")
    return redirect(url_for("admin.applications.departments.client", client_id=item.id) + "#new-secret", code=303)


@clients_bp.post("/<int:client_id>/disable")
def disable(client_id):
    """Refuse the client's requests from now on (both secrets stop working)."""
    departments.set_active(db.session, client_id, False, actor=g.actor)
    return redirect(url_for("admin.applications.departments.client", client_id=client_id, done="disable"))


@clients_bp.post("/<int:client_id>/enable")
def enable(client_id):
    departments.set_active(db.session, client_id, True, actor=g.actor)
    return redirect(url_for("admin.applications.departments.client", client_id=client_id, done="enable"))


bp.register_blueprint(clients_bp)
