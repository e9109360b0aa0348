"""The handling authority scans a cover sheet: ``POST /api/v1/departments/cover-scans``.

The cover sheet on the envelope of the materials (coversheet.py) carries one QR code that
joins the application and the parcel, ``KIOSK-COVER:1:<application>:<order no>:<waybill>``.
The authority's system reads it on arrival and sends it here, signed like every other request
of the department API (applications/department_api.py: the same key, the same ``department_hmac``
scheme, a refused request uses up its nonce, 401 naming the reason). One scan advances both:

- the parcel: a tracking event ``已签收`` (delivered) recorded on the booking through
  services.record_tracking (source ``scan``), so it never moves the parcel backwards (a
  parcel the carrier has already reported signed for stays so) and the resident hears of
  签收 once, as from a carrier;
- the application: the materials leg is merged into the application's timeline
  (courier/timeline.py) as 办理机关已签收申请材料, the event's place being the department.
  The application's state does not change: its life cycle has no step for the materials
  arriving (接件 is the department creating it).

The scan is once per booking: scanning the sheet again answers 200 with what the first scan
recorded (201), whatever time or note the second one sends. Refused: a text that is not a
cover sheet's code, or the sheet of a standalone booking (422, ``errors.payload``); an
application that is not the calling department's (404, as an unknown number: the department
API's rule); an order number that is not a booking of that application, or a waybill number
that is not the booking's (422, ``errors.payload``); the sheet of the result sent home,
which the authority sends and does not receive (422 ``errors.payload``); a booking cancelled
or returned (409); a scan time in the future (422 ``errors.scanned_at``). Each refusal after a
valid signature is kept as a RefusedEvent (action ``cover_scan``, the reason, the sheet's
application number), as the department API keeps its refused pushes. A scan time older
than the parcel's newest tracking event is recorded at that event's time: the authority holding
the envelope is the journey's last step.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from flask import g, request
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from ..applications import department_api
from ..applications.department_api import DEPARTMENT_SECURITY, _one_line, _time
from ..applications.models import Application, DepartmentClient
from ..core import audit
from ..core import errors as core_errors
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, DomainError, Invalid, Unauthorized, documented_errors
from ..core.payloads import Schema, unsafe_replaced
from ..core.requests import record_after_request
from ..extensions import db
from . import services
from .coversheet import parse_cover_payload
from .gateway import CarrierEvent
from .models import Booking, TrackingEvent
from .states import Purpose, Status

SOURCE = "scan"
EVENT_ID = "cover-scan"  # one per booking: its dedupe key is services.dedupe_key of this id
RAW_CODE = "cover_scan"
FUTURE_TOLERANCE = timedelta(minutes=5)  # the scanner's clock may run a little ahead of ours
REFUSED_STATES = frozenset({Status.CANCELLED, Status.RETURNED})

blp = Blueprint("department_cover_scans", __name__, url_prefix="/api/v1/departments",
                description="For department systems: scan the cover sheet of a parcel of materials on arrival "
                            "(HMAC-SHA256 signed requests, as the rest of the department API)")
# The department API's signature check and its nonce rule, for this operation too.
blp.before_request(department_api._authenticate)
blp.after_request(department_api._consume_nonce_of_refusal)
ACTION = "cover_scan"  # a refusal's action, as the console lists it


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if not isinstance(error, Unauthorized):
        _note_refusal(department_api._reason_of(error), error.message)
    return core_errors.handle_domain_error(error)


@blp.errorhandler(422)
def _schema_error(error):
    response = core_errors.handle_http_exception(error)
    _note_refusal("invalid", (response.get_json(silent=True) or {}).get("message") or "Invalid input.")
    return response


def _note_refusal(reason: str, message: str) -> None:
    """Keep a refused scan as the department API keeps a refused push (a RefusedEvent with its
    reason, written after the request's rollback; listed on the client's console page)."""
    client = g.get("department_client")
    if client is None:
        return
    sent = request.get_json(silent=True)
    try:
        number = parse_cover_payload(sent.get("payload")).application_number
    except (AttributeError, TypeError, ValueError):
        number = None
    record_after_request(partial(
        department_api._record_refusal, client_id=client.id, number=unsafe_replaced(number)[:40] if number else None,
        event_id=None, action=ACTION, reason=reason[:32], message=unsafe_replaced(message)[:500],
        payload=department_api.payload_copy(sent), now=utcnow()))


def _payload_invalid(reason: str, en: str, zh: str) -> Invalid:
    error = Invalid(f"payload: {en}.", f"{zh}。", errors={"payload": [f"{en} / {zh}"]})
    error.reason = reason  # for the kept refusal
    return error


@dataclass(frozen=True)
class ScanResult:
    booking: Booking
    application: Application
    event: TrackingEvent
    recorded: bool  # False: the sheet was scanned before; ``event`` is that scan


def _scan_event(session: Session, booking: Booking) -> TrackingEvent | None:
    key = services.dedupe_key(CarrierEvent(status=Status.DELIVERED, raw_text="", occurred_at=utcnow(),
                                           event_id=EVENT_ID))
    return session.scalar(sa.select(TrackingEvent).where(TrackingEvent.booking_id == booking.id,
                                                         TrackingEvent.dedupe_key == key))


def record_scan(session: Session, client: DepartmentClient, payload: str, *, scanned_at: datetime | None = None,
                note: str | None = None, actor: Actor | str, now=utcnow) -> ScanResult:
    """Record that ``client``'s authority received the parcel of the cover sheet whose QR code
    reads ``payload`` (module doc). Flushes, never commits."""
    try:
        code = parse_cover_payload(payload)
    except ValueError:
        raise _payload_invalid("not_a_cover_sheet", "not the code of a cover sheet (KIOSK-COVER:1:…)",
                               "不是寄递封面的二维码") from None
    if code.application_number is None:
        raise _payload_invalid("standalone_sheet", "the sheet names no application", "该封面没有关联办件")
    application = department_api.own_application(session, client, code.application_number)
    booking = services.get_by_order_no(session, code.order_no)
    if booking is None or booking.application_id != application.id:
        raise _payload_invalid("not_this_application", "the order number is not a booking of this application",
                               "寄件订单号不属于该办件")
    if code.waybill_no and booking.waybill_no and code.waybill_no != booking.waybill_no:
        raise _payload_invalid("waybill_differs", "the waybill number is not the booking's", "运单号与寄件不符")
    if booking.purpose != Purpose.MATERIALS_TO_AUTHORITY:
        raise _payload_invalid("not_materials_leg",
                               "only the sheet of materials posted to the authority is scanned on arrival",
                               "只有寄往办理机关的申请材料封面可扫码签收")

    seen = _scan_event(session, booking)
    if seen is not None:
        return ScanResult(booking, application, seen, recorded=False)
    if Status(booking.status) in REFUSED_STATES:
        refused = Conflict("This booking was cancelled or returned; its parcel cannot be signed for.",
                           "该寄件已取消或退回，不能签收。", errors={"status": [booking.status]})
        refused.reason = "parcel_final"
        raise refused
    moment = now()
    occurred = scanned_at or moment
    if occurred > moment + FUTURE_TOLERANCE:
        raise Invalid("scanned_at is in the future.", "扫描时间晚于当前时间。",
                      errors={"scanned_at": ["In the future / 晚于当前时间"]})
    if occurred < booking.status_at:
        occurred = booking.status_at  # the last step of the journey (module doc); never before the booking
    trace = f"【{client.name}】扫描封面签收" + (f"：{note}" if note else "")
    event = CarrierEvent(status=Status.DELIVERED, raw_text=trace, occurred_at=occurred, raw_code=RAW_CODE,
                         location=client.name, event_id=EVENT_ID, order_no=booking.order_no)
    services.record_tracking(session, booking, [event], source=SOURCE, now=lambda: moment)
    recorded = _scan_event(session, booking)
    if recorded is None:  # pragma: no cover - the row was just written or by a concurrent scan
        raise AssertionError("the scan was not recorded")
    mine = recorded.received_at == moment
    if mine:
        audit.record(session, actor=actor, action="courier.cover_scan", target=f"booking:{booking.order_no}",
                     details={"application": application.number, "status": booking.status}, now=lambda: moment)
    session.flush()
    return ScanResult(booking, application, recorded, recorded=mine)


# ---------------------------------------------------------------- the operation

class CoverScanIn(Schema):
    payload = fields.String(required=True, validate=[validate.Length(min=1, max=300), _one_line],
                            metadata={"description": "The cover sheet's QR code as scanned: "
                                                     "KIOSK-COVER:1:<application number>:<order no>:<waybill no>"})
    scanned_at = _time("When the envelope was scanned, ISO 8601 with its UTC offset; default: now")
    note = fields.String(validate=[validate.Length(max=200), _one_line],
                         metadata={"description": "Shown in the parcel's trace, e.g. who signed"})


class CoverScanOut(Schema):
    recorded = fields.Boolean(required=True, metadata={"description": "false: this sheet was scanned before; the "
                                                                      "answer is what that scan recorded"})
    application_number = fields.String(required=True)
    application_state = fields.String(required=True, metadata={
        "description": "The application's state (unchanged by the scan)"})
    order_no = fields.String(required=True)
    waybill_no = fields.String(required=True, allow_none=True)
    booking_status = fields.String(required=True, metadata={
        "description": "The parcel's status: delivered (已签收), or a final state it had reached before"})
    scanned_at = fields.DateTime(required=True, metadata={"description": "The time recorded for the scan"})


def result_out(result: ScanResult) -> dict[str, Any]:
    return {"recorded": result.recorded, "application_number": result.application.number,
            "application_state": result.application.state, "order_no": result.booking.order_no,
            "waybill_no": result.booking.waybill_no, "booking_status": result.booking.status,
            "scanned_at": result.event.occurred_at}


@blp.post("/cover-scans")
@blp.arguments(CoverScanIn())
@blp.response(201, CoverScanOut(), description="Recorded: the parcel is signed for (已签收)")
@blp.alt_response(200, schema=CoverScanOut(),
                  description="This sheet was scanned before: what that scan recorded, nothing changed")
@blp.doc(security=DEPARTMENT_SECURITY)
@documented_errors(blp, 400, 401, 404, 409, 413, 503)
def scan_cover(data):
    """Scan the cover sheet of a parcel of materials on arrival (办理机关签收).

    The parcel is recorded as signed for (已签收) and the application's timeline shows
    办理机关已签收申请材料; the application's state does not change. Once per sheet: a
    second scan answers 200 with the first one's result. 422 ``errors.payload``: not a cover
    sheet's code, a standalone booking, an order or waybill number not of this application,
    or the sheet of the result sent home. 404: the application is not this department's.
    409: the booking was cancelled or returned.
    """
    result = record_scan(db.session, g.department_client, data["payload"], scanned_at=data.get("scanned_at"),
                         note=data.get("note"), actor=g.actor)
    return result_out(result), 201 if result.recorded else 200
