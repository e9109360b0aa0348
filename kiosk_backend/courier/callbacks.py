"""Carriers' tracking pushes: ``POST /api/v1/courier/callbacks/<carrier>``.

A carrier calls this URL with its own signature (快递100: form fields ``param`` and ``sign`` =
upper-case MD5(param + salt); the OpenAPI security scheme ``carrier_signature`` says so), and
our ``order_no``/``tag`` in the query of the URL we gave it (courier.kuaidi100). The view
hands the form and query to the carrier's ``parse_push``, finds each event's booking
(services.find_by_carrier_event) and records the events (services.record_tracking,
source "push"): deduplicated per booking, never moving a parcel backwards, SMS at 揽收,
派送中 and 签收. The answer is the one the carrier expects (快递100: ``{"result": true,
"returnCode": "200", "message": "成功"}``), also for a push already seen (a re-push after a
lost answer) and for events of no booking of ours: the carrier need not send them again.

Refused: a bad or missing signature (401 ``bad_signature``), a carrier that pushes nothing
here or has no active account, whose signature therefore nobody can make (401
``unknown_carrier``, like an unknown key of the department API), a signed body that is
neither kind of push (400), a body over :data:`MAX_PUSH_BYTES` (413). A 401 names the scheme,
``WWW-Authenticate: Carrier-Signature``. Each refusal of a carrier we have an account for is
kept as an audit entry ``courier.push_refused`` (carrier, reason, size, address; nothing of
the body, which holds names, numbers and addresses), written after the request's rollback;
posts naming no carrier of ours are only logged (anyone can send them).
"""
from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor, ActorKind
from ..core.clock import utcnow
from ..core.errors import DomainError, Unauthorized, documented_errors
from ..core.payloads import Schema, TooLarge
from ..core.requests import client_ip, record_after_request
from ..extensions import db
from . import carriers, services
from .gateway import CarrierEvent, CarrierRejected, PushRejected

log = logging.getLogger(__name__)

blp = Blueprint("courier_callbacks", __name__, url_prefix="/api/v1/courier",
                description="For carriers: signed tracking pushes")

CARRIER_SECURITY = [{"carrier_signature": []}]
PUSH_CARRIERS = ("kuaidi100",)  # the carriers that push; the demo carrier is polled
CHALLENGE = {"WWW-Authenticate": 'Carrier-Signature realm="kiosk-backend"'}
MAX_PARAM_CHARS = 64 * 1024  # a full trace of a long journey is a few hundred lines at most
MAX_PUSH_BYTES = 1024 * 1024  # room for the longest param, percent-encoded (up to 9 bytes a character)
DEFAULT_ACK = {"result": True, "returnCode": "200", "message": "成功"}


class UnknownCarrier(Unauthorized):
    """401: no carrier of ours pushes to this URL, so no signature can be checked."""

    def __init__(self, carrier: str):
        super().__init__(f"No pushes are taken here for carrier {carrier[:32]!r}: no signature can be checked.",
                         f"此处不接收承运商 {carrier[:32]!r} 的推送，无法核验签名。",
                         errors={"signature": ["unknown_carrier"]}, headers=dict(CHALLENGE))
        self.reason = "unknown_carrier"


class PushSignatureRefused(Unauthorized):
    """401 for a push whose signature we refuse; ``errors.signature`` names the reason."""

    def __init__(self, rejected: PushRejected):
        super().__init__("The push is not signed by the carrier (signature missing or wrong).",
                         "推送未经承运商签名（签名缺失或不正确）。", errors={"signature": [rejected.reason]},
                         headers=dict(CHALLENGE))
        self.reason = rejected.reason


class PushMalformed(DomainError):
    """400 for a signed push we cannot read."""

    status_code = 400

    def __init__(self, rejected: PushRejected):
        super().__init__("The push is neither a tracking push nor an order callback.",
                         "推送内容既不是轨迹推送也不是订单回调。", errors={"param": [rejected.reason]})
        self.reason = rejected.reason


# ---------------------------------------------------------------- schemas

class PushForm(Schema):
    """快递100's form (other fields are passed on to the carrier's parser as they are)."""

    class Meta:
        unknown = ma.EXCLUDE

    param = fields.String(required=True, validate=validate.Length(min=1, max=MAX_PARAM_CHARS), metadata={
        "description": "JSON text: a tracking push ({status, message, autoCheck, comOld, comNew, lastResult: {state, "
                       "com, nu, data: [{context, time, ftime, status, statusCode, areaName}]}}) or a 商家寄件 order "
                       "callback ({kuaidicom, kuaidinum, status, data: {orderId, status, …}})"})
    sign = fields.String(validate=validate.Length(max=64), metadata={
        "description": "Upper-case hex MD5(param + salt), the salt given with the order or subscription; required "
                       "(missing: 401)"})


class PushQuery(Schema):
    """Our own part of the callback URL we gave the carrier."""

    class Meta:
        unknown = ma.EXCLUDE

    order_no = fields.String(validate=validate.Regexp(r"^[0-9A-Za-z]{1,32}$"),
                             metadata={"description": "Our order number (the booking the push is about)"})
    tag = fields.String(validate=validate.Regexp(r"^[0-9a-f]{32}$"),
                        metadata={"description": "HMAC-SHA256(salt, order number), first 32 hex characters: binds "
                                                 "order_no to the account"})


class PushAckOut(Schema):
    result = fields.Boolean(required=True, metadata={"description": "true: received, do not send it again"})
    returnCode = fields.String(required=True, metadata={"description": "200"})
    message = fields.String(required=True, metadata={"description": "成功"})


# ---------------------------------------------------------------- the push

@blp.before_request
def _read_body_once():
    """Refuse an oversized body before reading it, then keep the raw bytes for the parser
    (the form is parsed from the same cached bytes)."""
    if request.content_length is not None and request.content_length > MAX_PUSH_BYTES:
        raise TooLarge(f"A push is at most {MAX_PUSH_BYTES // 1024} KB.", f"推送内容最多 {MAX_PUSH_BYTES // 1024} KB。")
    request.max_content_length = MAX_PUSH_BYTES
    request.get_data(cache=True, parse_form_data=False)


@blp.route("/callbacks/<string:carrier>", methods=["POST"])
@blp.arguments(PushQuery, location="query", as_kwargs=False)
@blp.arguments(PushForm, location="form")
@blp.response(200, PushAckOut, description="Received (also when seen before, or about no booking of ours): the "
                                           "carrier's own success answer")
@blp.doc(security=CARRIER_SECURITY, summary="A carrier's tracking push or order callback",
         description="快递100 posts application/x-www-form-urlencoded fields `param` and `sign` to the callback URL "
                     "it was given with an order or subscription (that URL carries `order_no` and `tag`). Events "
                     "are recorded once per booking and never move a parcel backwards.")
@documented_errors(blp, 400, 401, 413, 422, 503)
def push(_query: dict, _form: dict, carrier: str):
    gateway = _gateway(carrier)
    try:
        events = gateway.parse_push(body=request.get_data(cache=True), headers=dict(request.headers),
                                    form={**request.args.to_dict(), **request.form.to_dict()})
    except PushRejected as exc:
        record_after_request(partial(_record_refusal, carrier=carrier, reason=exc.reason, text=str(exc)[:200],
                                     size=len(request.get_data(cache=True)), ip=client_ip(), now=utcnow()))
        log.warning("push from %s refused (%s): %s", carrier, exc.reason, exc)
        if exc.reason == "malformed":
            raise PushMalformed(exc) from None
        raise PushSignatureRefused(exc) from None
    apply_events(db.session, carrier, events)
    ack = getattr(gateway, "push_ack", None)
    return ack() if callable(ack) else dict(DEFAULT_ACK)


def _gateway(carrier: str):
    """The pushing carrier's gateway; 401 for a carrier that does not push or has no active
    account (nobody can have been given our callback URL, nor the salt to sign with)."""
    account = carriers.get_account(db.session, carrier)
    if carrier not in PUSH_CARRIERS or account is None or not account.active:
        log.info("push to %r refused: no carrier of ours pushes there", carrier[:32])
        raise UnknownCarrier(carrier)
    try:
        return carriers.gateway_for(db.session, carrier)
    except CarrierRejected:  # an account whose settings cannot work
        raise UnknownCarrier(carrier) from None


def apply_events(session: Session, carrier: str, events: list[CarrierEvent], *, now=utcnow) -> int:
    """Record pushed events on their bookings; returns how many moved a booking. Events of no
    booking of ours are counted in the log and dropped."""
    by_booking: dict[int, tuple[Any, list[CarrierEvent]]] = {}
    unmatched = 0
    for event in events:
        booking = services.find_by_carrier_event(session, carrier, event)
        if booking is None:
            unmatched += 1
            continue
        by_booking.setdefault(booking.id, (booking, []))[1].append(event)
    applied = sum(services.record_tracking(session, booking, found, source="push", now=now)
                  for booking, found in by_booking.values())
    if unmatched:
        log.info("push from %s: %d event(s) of no booking of ours", carrier, unmatched)
    return applied


def _record_refusal(session: Session, *, carrier: str, reason: str, text: str, size: int, ip: str | None,
                    now: datetime) -> None:
    actor = Actor(ActorKind.COURIER, carrier, carrier, ip)
    audit.record(session, actor=actor, action="courier.push_refused", target=f"carrier:{carrier}",
                 details={"reason": reason, "message": text, "bytes": size}, now=lambda: now)
