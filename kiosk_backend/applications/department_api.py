"""The department API (/api/v1/departments): HMAC-signed requests that create applications
and push their events.

Every request is signed (core/signing.py; the OpenAPI security scheme ``department_hmac``
spells the canonical string out) with the key id and secret an admin issued to the
department's system (departments.create_client; rotated secrets keep working for a grace
period, disabled clients are refused at once). A refused signature is a 401 naming the
reason. A department acts as ``department:<key id>`` and its name is what residents read in
the timeline.

- ``POST /applications``: a new application (201), or the same number from the same client
  again (200, nothing changed): a department may resend after a lost answer.
- ``POST /applications/<number>/events``: an event moves the application (201); the same
  event again (same id and content) returns the recorded event (200, applied once); an
  illegal or out-of-order event, or an event id used before for another event or with other
  content (action, time, note or a detail), is refused with 409 and the reason in
  ``errors.reason``.
- ``GET /applications/<number>``: state and timeline, for the client that created it only
  (another department's application is a 404, like an unknown number).

Every refused push (404, 409, 422 after a valid signature) is kept as a RefusedEvent with its
reason, after the request's rollback, for the integrator and the console; the copy of the
body leaves the applicant's personal data out. A correctly signed request that is refused
(any 4xx) still uses up its nonce: the rollback would give it back, and the same request
replayed later in the timestamp window would be applied once the state allows it (a
``start`` refused before 受理, replayed after). A department that wants to try again signs
again with a new nonce (``kiosk department send`` always does); only a server failure (5xx)
leaves the nonce unused.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import g, request
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from ..core import errors as core_errors
from ..core import signing
from ..core.actors import Actor, ActorKind
from ..core.clock import utcnow
from ..core.errors import DomainError, Invalid, NotFound, Unauthorized, documented_errors
from ..core.payloads import Schema, unsafe_replaced
from ..core.requests import client_ip, record_after_request
from ..extensions import db
from . import deadlines, departments, services, states
from .models import Application, ApplicationEvent, DepartmentClient, RefusedEvent
from .services import ApplicationNotFound, EventRefused

blp = Blueprint("department_api", __name__, url_prefix="/api/v1/departments",
                description="For department systems: create applications and push their state events "
                            "(HMAC-SHA256 signed requests)")

DEPARTMENT_SECURITY = [{"department_hmac": []}]
# RFC 9110: a 401 names the scheme that would have worked.
CHALLENGE = {"WWW-Authenticate": f'{signing.ALGORITHM} realm="kiosk-backend"'}
# How often an event that lost a race to a concurrent one (changed_meanwhile) is tried again
# on the application as it is now, before the department is asked to resend.
EVENT_ATTEMPTS = 3


# ---------------------------------------------------------------- authentication

@blp.before_request
def _authenticate():
    """Every operation: a valid signature of an active client (401 naming the reason
    otherwise), who becomes ``g.department_client`` / ``g.actor``."""
    clients: dict[str, DepartmentClient | None] = {}

    def secret_for(key_id: str) -> list[str]:
        clients[key_id] = departments.by_key_id(db.session, key_id)
        return departments.secrets_for(clients[key_id])

    try:
        verified = signing.verify_request(db.session, request, secret_for=secret_for)
    except signing.SignatureRejected as exc:
        exc.headers = {**exc.headers, **CHALLENGE}
        raise
    client = clients[verified.key_id]
    g.department_request = verified
    # Written after the request, in a transaction of its own: a write to the client's row in the
    # request's transaction would hold its lock to the commit and queue the department's
    # concurrent requests one behind the other.
    record_after_request(partial(_record_seen, client_id=client.id, now=utcnow()))
    g.department_client = client
    g.actor = Actor(ActorKind.DEPARTMENT, client.key_id, client.name, client_ip())


@blp.after_request
def _consume_nonce_of_refusal(response):
    """A signed request refused after its signature was checked (4xx) keeps its nonce used up:
    the request's rollback takes the nonce back, so it is claimed again in a transaction of its
    own once the rollback is done (this hook runs before core.requests ends the transaction)."""
    verified = g.get("department_request")
    if verified is not None and 400 <= response.status_code < 500:
        record_after_request(partial(signing.consume_nonce, verified=verified))
    return response


# ---------------------------------------------------------------- refusals

REFUSED_METHODS = ("POST",)  # pushes are recorded when refused; reads are not events
MAX_COPY_NODES = 200  # values kept of a refused body
MAX_COPY_TEXT = 500   # characters kept of each string


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if isinstance(error, EventRefused | ApplicationNotFound):
        error.errors = {**error.errors, "reason": [error.reason]}  # the reason, whatever else errors says
    if not isinstance(error, Unauthorized):
        _note_refusal(_reason_of(error), error.message)
    return core_errors.handle_domain_error(error)


@blp.errorhandler(422)
def _schema_error(error):
    """webargs' 422 for a body the schema refuses: recorded like the services' refusals."""
    response = core_errors.handle_http_exception(error)
    _note_refusal("invalid", (response.get_json(silent=True) or {}).get("message") or "Invalid input.")
    return response


def _reason_of(error: DomainError) -> str:
    reason = getattr(error, "reason", None)
    if reason:
        return reason
    if isinstance(error, Invalid):
        return "invalid"
    if isinstance(error, NotFound):
        return "not_found"
    return type(error).__name__.lower()[:32]


def _note_refusal(reason: str, message: str) -> None:
    """Queue a RefusedEvent for a push refused after a valid signature."""
    client = getattr(g, "department_client", None)
    if client is None or request.method not in REFUSED_METHODS:
        return
    sent = request.get_json(silent=True)
    body = sent if isinstance(sent, dict) else {}
    number = (request.view_args or {}).get("number") or body.get("number")
    event_id = body.get("event_id")
    action = body.get("action") if "number" in (request.view_args or {}) else states.Action.RECEIVE.value
    record_after_request(partial(
        _record_refusal, client_id=client.id, number=_short(number, 40), event_id=_short(event_id, 64),
        action=_short(action, 24), reason=reason[:32], message=unsafe_replaced(message)[:500],
        payload=payload_copy(sent), now=utcnow()))


def _short(value: Any, length: int) -> str | None:
    return unsafe_replaced(value)[:length] if isinstance(value, str) and value else None


def _record_refusal(session: Session, *, client_id: int, number: str | None, event_id: str | None,
                    action: str | None, reason: str, message: str, payload: dict, now: datetime) -> None:
    session.add(RefusedEvent(client_id=client_id, number=number, event_id=event_id, action=action, reason=reason,
                             message=message, payload=payload, received_at=now))


SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is for people: a write a minute per client is plenty


def _record_seen(session: Session, *, client_id: int, now: datetime) -> None:
    session.execute(sa.update(DepartmentClient)
                    .where(DepartmentClient.id == client_id,
                           sa.or_(DepartmentClient.last_seen_at.is_(None), DepartmentClient.last_seen_at < now - SEEN_EVERY))
                    .values(last_seen_at=now))


def payload_copy(body: Any) -> dict[str, Any]:
    """What is kept of a refused body: the applicant's personal data (name, ID number,
    mobile number) left out, text that neither database stores replaced, and at most
    MAX_COPY_NODES values of at most MAX_COPY_TEXT characters (``_truncated`` says so)."""
    if not isinstance(body, dict):
        return {"_body": type(body).__name__ if body is not None else "not JSON"}
    left, truncated = [MAX_COPY_NODES], [False]

    def copy(value: Any, depth: int) -> Any:
        if isinstance(value, str):
            truncated[0] |= len(value) > MAX_COPY_TEXT
            return unsafe_replaced(value)[:MAX_COPY_TEXT]
        if isinstance(value, dict | list):
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            kept: dict[str, Any] = {}
            for key, inner in pairs:
                if left[0] <= 0 or depth >= 16:
                    truncated[0] = True
                    break
                left[0] -= 1
                kept[unsafe_replaced(str(key))[:100]] = copy(inner, depth + 1)
            return kept if isinstance(value, dict) else list(kept.values())
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            truncated[0] = True
            return str(value)[:40]
        return value

    kept = copy({key: value for key, value in body.items() if key != "applicant"}, 0)
    if "applicant" in body:
        kept["applicant"] = "(personal data not kept)"
    if truncated[0]:
        kept["_truncated"] = True
    return kept


# ---------------------------------------------------------------- schemas

def _one_line(value: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ma.ValidationError("No control characters allowed / 不能包含控制字符")


_one_line.openapi = {"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}  # the same rule, for the OpenAPI document

EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _plausible_time(value: datetime) -> None:
    """Between 2000 and 2100 (a typo such as year 0202 is refused, and nothing overflows
    when converted to UTC)."""
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise ma.ValidationError("Must be between 2000 and 2100 / 时间应在 2000 年到 2100 年之间")


def _time(description: str, **kwargs) -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", validate=_plausible_time, metadata={"description": description}, **kwargs)


EVENT_ID = fields.String(validate=validate.Regexp(r"^[!-~]{1,64}$"),
                         metadata={"description": "The department's own id for this event (1–64 visible ASCII "
                                                  "characters, unique per department): sending it again is harmless"})
PUSHED_ACTIONS = [action.value for action in states.Action if action != states.Action.RECEIVE]


class DepartmentApplicantIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=100), _one_line],
                         metadata={"description": "Kept masked only (张*)"})
    id_number = fields.String(validate=validate.Regexp(r"^[0-9]{17}[0-9Xx]$"),
                              metadata={"description": "GB 11643 ID number: kept as a keyed hash and masked; "
                                                       "its last 4 characters let the applicant look it up"})
    phone = fields.String(validate=[validate.Length(min=11, max=20), _one_line],
                          metadata={"description": "Mainland mobile number for SMS notices: kept encrypted and masked"})


class DepartmentOrgIn(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _one_line])
    region = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}$"),
                           metadata={"description": "GB/T 2260 division code, 6 digits"})


class DepartmentApplicationIn(Schema):
    number = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Za-z][0-9A-Za-z-]{5,39}$"),
                           metadata={"description": "办件编号: 6–40 letters, digits or hyphens (stored upper-cased)"})
    task_code = fields.String(required=True, validate=[validate.Length(min=1, max=64), _one_line],
                              metadata={"description": "实施编码 of the item"})
    item_name = fields.String(validate=[validate.Length(min=1, max=200), _one_line],
                              metadata={"description": "事项名称; required when task_code is not in the catalog"})
    mode = fields.String(required=True, validate=validate.OneOf([mode.value for mode in states.Mode]),
                         metadata={"description": "local 本地办理 | online 全程网办 | proxy 异地代收代办 | joint 多地联办"})
    applicant = fields.Nested(DepartmentApplicantIn, required=True,
                              metadata={"description": "Needs id_number or phone (the second factor of a lookup)"})
    receiving_org = fields.Nested(DepartmentOrgIn, required=True, metadata={"description": "收件地"})
    handling_org = fields.Nested(DepartmentOrgIn, required=True, metadata={"description": "业务属地"})
    received_at = _time("接件 time, ISO 8601 with its UTC offset (2026-03-02T09:30:00+08:00)", required=True)
    promise_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=3650),
                                  metadata={"description": "承诺办结时限; default: the catalog item's"})
    promise_unit = fields.String(validate=validate.OneOf(list(deadlines.UNITS)),
                                 metadata={"description": "工作日 (default) or 自然日"})
    note = fields.String(validate=validate.Length(max=500), metadata={"description": "Shown in the timeline"})
    event_id = EVENT_ID


class DepartmentEventIn(Schema):
    event_id = fields.String(required=True, validate=EVENT_ID.validators, metadata=EVENT_ID.metadata)
    action = fields.String(required=True, validate=validate.OneOf(PUSHED_ACTIONS),
                           metadata={"description": "accept 受理 | refuse 不予受理 (reason) | request_supplement 补正 "
                                                    "(missing) | supplement 已补正 | start 办理 | suspend 特别程序 (reason) | "
                                                    "resume | conclude 办结 (outcome) | deliver 送达 (delivery) | rate"})
    occurred_at = _time("When it happened, ISO 8601 with its UTC offset; not before the application's newest event",
                        required=True)
    note = fields.String(validate=validate.Length(max=500), metadata={"description": "Shown in the timeline"})
    reason = fields.String(validate=[validate.Length(min=1, max=500)],
                           metadata={"description": "Required by refuse and suspend"})
    missing = fields.List(fields.String(validate=[validate.Length(min=1, max=200), _one_line]),
                          validate=validate.Length(max=50),
                          metadata={"description": "The missing materials; required by request_supplement"})
    outcome = fields.String(validate=validate.OneOf([o.value for o in states.Outcome]),
                            metadata={"description": "Required by conclude: approved 准予 | denied 不予"})
    delivery = fields.String(validate=validate.OneOf([d.value for d in states.Delivery]),
                             metadata={"description": "Required by deliver: window 窗口领取 | post 邮寄 | online 网络送达"})


class DepartmentOrgOut(Schema):
    name = fields.String(required=True)
    region = fields.String(required=True)


class DepartmentApplicantOut(Schema):
    name_masked = fields.String(required=True)
    id_number_masked = fields.String(required=True, allow_none=True)
    phone_masked = fields.String(required=True, allow_none=True)


class DepartmentEventOut(Schema):
    seq = fields.Integer(required=True, metadata={"description": "1, 2, 3 … in the application's timeline"})
    event_id = fields.String(required=True, allow_none=True,
                             metadata={"description": "The department's id; null for events recorded by staff"})
    action = fields.String(required=True)
    from_state = fields.String(required=True, allow_none=True)
    to_state = fields.String(required=True)
    actor_name = fields.String(required=True, metadata={"description": "Who, as residents read it"})
    note = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    missing = fields.List(fields.String(), required=True)
    outcome = fields.String(required=True, allow_none=True)
    delivery = fields.String(required=True, allow_none=True)
    occurred_at = fields.DateTime(required=True)
    recorded_at = fields.DateTime(required=True)


class DepartmentApplicationOut(Schema):
    number = fields.String(required=True)
    task_code = fields.String(required=True)
    item_name = fields.String(required=True)
    mode = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "|".join(s.value for s in states.State)})
    outcome = fields.String(required=True, allow_none=True)
    delivery = fields.String(required=True, allow_none=True)
    missing = fields.List(fields.String(), required=True, metadata={"description": "While supplement_requested"})
    applicant = fields.Nested(DepartmentApplicantOut, required=True)
    receiving_org = fields.Nested(DepartmentOrgOut, required=True)
    handling_org = fields.Nested(DepartmentOrgOut, required=True)
    received_at = fields.DateTime(required=True)
    accepted_on = fields.Date(required=True, allow_none=True, metadata={"description": "受理日 (China Standard Time)"})
    promise_days = fields.Integer(required=True)
    promise_unit = fields.String(required=True)
    deadline = fields.Date(required=True, allow_none=True, metadata={
        "description": "The promised deadline; null before 受理, while the clock is stopped (paused) or when the "
                       "working-day calendar lacks a year"})
    paused = fields.Boolean(required=True, metadata={"description": "特别程序 or 补正 stops the clock"})
    finished = fields.Boolean(required=True)
    version = fields.Integer(required=True, metadata={"description": "Bumped by every event"})
    last_event_at = fields.DateTime(required=True, metadata={"description": "The next event may not be older"})
    timeline = fields.List(fields.Nested(DepartmentEventOut), required=True)


class DepartmentEventResultOut(Schema):
    applied = fields.Boolean(required=True, metadata={"description": "false: this event id was applied before"})
    number = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "The application's state now"})
    deadline = fields.Date(required=True, allow_none=True)
    version = fields.Integer(required=True)
    event = fields.Nested(DepartmentEventOut, required=True)


# ---------------------------------------------------------------- presenting

def _utc(moment: datetime) -> datetime:
    """Every time in an answer in UTC, whether read back or just written with the sender's offset."""
    return moment.astimezone(UTC)


def event_out(event: ApplicationEvent) -> dict[str, Any]:
    details = event.details or {}
    return {"seq": event.seq, "event_id": event.event_id, "action": event.action, "from_state": event.from_state,
            "to_state": event.to_state, "actor_name": event.actor_name, "note": event.note,
            "reason": details.get("reason"), "missing": list(details.get("missing") or []),
            "outcome": details.get("outcome"), "delivery": details.get("delivery"),
            "occurred_at": _utc(event.occurred_at), "recorded_at": _utc(event.recorded_at)}


def application_out(application: Application) -> dict[str, Any]:
    """The application as its department sees it: its own data, the applicant masked."""
    return {
        "number": application.number, "task_code": application.task_code, "item_name": application.item_name,
        "mode": application.mode, "state": application.state, "outcome": application.outcome,
        "delivery": application.delivery, "missing": list(application.missing or []),
        "applicant": {"name_masked": application.applicant_name_masked,
                      "id_number_masked": application.applicant_id_masked,
                      "phone_masked": application.applicant_phone_masked},
        "receiving_org": {"name": application.receiving_org, "region": application.receiving_region},
        "handling_org": {"name": application.handling_org, "region": application.handling_region},
        "received_at": _utc(application.received_at), "accepted_on": application.accepted_on,
        "promise_days": application.promise_days, "promise_unit": application.promise_unit,
        "deadline": application.deadline, "paused": application.paused_since is not None,
        "finished": states.State(application.state) in states.FINISHED, "version": application.version,
        "last_event_at": _utc(application.last_event_at),
        "timeline": [event_out(event) for event in application.events],
    }


# ---------------------------------------------------------------- the department's view of the services

def own_application(session: Session, client: DepartmentClient, number: str) -> Application:
    """The application ``number`` if ``client`` created it; ApplicationNotFound (404) if it is
    unknown or another department's (the same answer), Invalid for a malformed number."""
    application = services.get_by_number(session, services.normalize_number(number))
    if application is None or application.client_id != client.id:
        raise ApplicationNotFound()
    return application


def create(session: Session, client: DepartmentClient, data: dict[str, Any], *, actor: Actor,
           now=utcnow) -> tuple[Application, bool]:
    """services.create_application for a department's request. Raises what it raises, and
    EventRefused ``event_id_reused`` when the event id named another of the client's events
    (of another application, or another event than this one's 接件)."""
    event_id = data.get("event_id")
    if event_id:
        seen = session.scalar(sa.select(ApplicationEvent).where(ApplicationEvent.client_id == client.id,
                                                                ApplicationEvent.event_id == event_id))
        if seen is not None and (seen.application.number != services.normalize_number(data["number"])
                                 or seen.action != states.Action.RECEIVE):
            raise EventRefused("event_id_reused", "This event id was used before for another event.",
                               "该事件编号已用于另一事件。")
    applicant = data["applicant"]
    new = services.NewApplication(
        number=data["number"], task_code=data["task_code"], item_name=data.get("item_name"), mode=data["mode"],
        applicant=services.Applicant(name=applicant["name"], id_number=applicant.get("id_number"),
                                     phone=applicant.get("phone")),
        receiving_org=data["receiving_org"]["name"], receiving_region=data["receiving_org"]["region"],
        handling_org=data["handling_org"]["name"], handling_region=data["handling_org"]["region"],
        received_at=data["received_at"], promise_days=data.get("promise_days"),
        promise_unit=data.get("promise_unit"), note=data.get("note"))
    return services.create_application(session, new, actor=str(actor), actor_name=actor.name, client=client,
                                       event_id=event_id, now=now)


def push(session: Session, client: DepartmentClient, number: str, data: dict[str, Any], *, actor: Actor,
         now=utcnow) -> tuple[ApplicationEvent, bool]:
    """services.apply_event for the client's own application (ApplicationNotFound for anyone
    else's). An event that lost a race to a concurrent one (``changed_meanwhile``) is tried
    again on the application as it is now, as the department would resend it: the same event
    id then finds the event that won, another event is applied or refused on the new state."""
    event = services.NewEvent(action=data["action"], occurred_at=data["occurred_at"], note=data.get("note"),
                              reason=data.get("reason"), missing=tuple(data.get("missing") or ()),
                              outcome=data.get("outcome"), delivery=data.get("delivery"), event_id=data["event_id"])
    for attempt in range(1, EVENT_ATTEMPTS + 1):
        application = own_application(session, client, number)
        try:
            return services.apply_event(session, application.number, event, actor=str(actor), actor_name=actor.name,
                                        client=client, now=now)
        except EventRefused as exc:
            if exc.reason != "changed_meanwhile" or attempt == EVENT_ATTEMPTS:
                raise
            session.flush()
            session.expire_all()  # read the winner's committed state
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- routes

@blp.post("/applications")
@blp.arguments(DepartmentApplicationIn())
@blp.response(201, DepartmentApplicationOut(), description="Created (已接件)")
@blp.alt_response(200, schema=DepartmentApplicationOut(),
                  description="This client sent this number before: the application as it is, unchanged")
@blp.doc(security=DEPARTMENT_SECURITY)
@documented_errors(blp, 400, 401, 409, 413, 503)
def create_application(data):
    """Create an application (已接件).

    Idempotent by number for its department: sending it again answers 200 with the existing
    application. 409 ``number_taken``: another department uses this number; 409
    ``event_id_reused``: the event id named another event. 422 for a domain rule (an unknown
    task code without item_name, an invalid ID number, a time in the future).
    """
    application, created = create(db.session, g.department_client, data, actor=g.actor)
    return application_out(application), 201 if created else 200


@blp.post("/applications/<string:number>/events")
@blp.arguments(DepartmentEventIn())
@blp.response(201, DepartmentEventResultOut(), description="Applied")
@blp.alt_response(200, schema=DepartmentEventResultOut(),
                  description="This event (same id and content) was applied before: the recorded event, "
                              "not applied again")
@blp.doc(security=DEPARTMENT_SECURITY)
@documented_errors(blp, 400, 401, 404, 409, 413, 503)
def push_event(data, number):
    """Push an event that moves the application (受理, 补正, 办结, 送达 …).

    Events are idempotent by ``event_id``: the same event sent again answers 200. 409 with
    ``errors.reason``: ``illegal_transition`` (not allowed in the current state;
    ``errors.action`` lists what is), ``out_of_order`` (older than the application's newest
    event), ``event_id_reused`` (the id was used for another event, or comes with another
    action, time, note, reason, missing, outcome or delivery; the message names them). 404: no application of this department has this number. 422: a detail
    the action needs is missing (reason, missing, outcome, delivery) or a time is in the
    future. Refusals are recorded with their reason.
    """
    event, applied = push(db.session, g.department_client, number, data, actor=g.actor)
    result = {"applied": applied, "number": event.application.number, "state": event.application.state,
              "deadline": event.application.deadline, "version": event.application.version, "event": event_out(event)}
    return result, 201 if applied else 200


@blp.get("/applications/<string:number>")
@blp.response(200, DepartmentApplicationOut())
@blp.doc(security=DEPARTMENT_SECURITY)
@documented_errors(blp, 401, 404, 422, 503)
def get_application(number):
    """The application's state and timeline, for the department that created it."""
    return application_out(own_application(db.session, g.department_client, number))
