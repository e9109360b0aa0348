"""QR login for the mini-app (identity/qr_login.py): the resident scans the kiosk's code with
the mini-app, which reads the token out of the code's URL (``/m/login/<token>``) and calls
these operations with the resident's session (``Authorization: Resident <token>``).

``scan`` answers where the kiosk is and the match code to show; ``confirm`` or ``deny``
follow. Refusals: 404 unknown code, 410 a code expired, denied or used (scan the kiosk's
new code), 403 a code another resident opened first, 409 a decision already made or a code
not scanned yet.
"""
from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ..core import ratelimit
from ..core.errors import documented_errors
from ..core.payloads import Schema
from ..core.requests import client_ip
from ..extensions import db
from ..fleet.models import Kiosk
from . import qr_login
from .api import RESIDENT_SECURITY, resident_required

blp = Blueprint("qr_api", __name__, url_prefix="/api/v1/qr-login",
                description="For the mini-app: log in at a kiosk by its QR code (scan, then confirm or deny)")

STATES = [s.value for s in qr_login.ChallengeState]


class QrTokenIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=64),
                          metadata={"description": "The token at the end of the QR code's URL, /m/login/<token>"})


class QrChallengeOut(Schema):
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    match_code = fields.String(required=True, metadata={"description": "Show it: the kiosk's screen shows the same"})
    site = fields.String(required=True, metadata={"description": "The name of the kiosk's site"})
    address = fields.String(required=True, allow_none=True)
    kiosk_number = fields.String(required=True, metadata={"description": "As on the kiosk's screen, e.g. JZ01-03"})
    expires_at = fields.DateTime(required=True, metadata={"description": "Confirm before this moment"})


def _out(challenge) -> dict:
    kiosk = db.session.get(Kiosk, challenge.kiosk_id)
    return {"state": challenge.state, "match_code": challenge.match_code, "site": kiosk.site.name,
            "address": kiosk.site.address, "kiosk_number": kiosk.number, "expires_at": challenge.expires_at}


def _operation(view):
    view = documented_errors(blp, 400, 401, 403, 404, 410, 413, 429, 503)(view)
    view = blp.doc(security=RESIDENT_SECURITY)(view)
    view = blp.response(200, QrChallengeOut())(view)
    return blp.arguments(QrTokenIn())(view)


@blp.post("/scan")
@resident_required
@ratelimit.qr_login
@_operation
def scan(data):
    """The resident scanned a kiosk's QR login code: bound to them; where, and the match code."""
    return _out(qr_login.scan(db.session, data["token"], resident=g.resident, actor=g.actor, ip=client_ip()))


@blp.post("/confirm")
@resident_required
@ratelimit.qr_login
@_operation
@documented_errors(blp, 409)
def confirm(data):
    """确认登录: the kiosk logs the resident in on its next poll (first decision wins)."""
    return _out(qr_login.confirm(db.session, data["token"], resident=g.resident, actor=g.actor, ip=client_ip()))


@blp.post("/deny")
@resident_required
@ratelimit.qr_login
@_operation
@documented_errors(blp, 409)
def deny(data):
    """不是我 / 我不在这台机器前: refuse the login; the code is flagged for administrators."""
    return _out(qr_login.deny(db.session, data["token"], resident=g.resident, actor=g.actor, ip=client_ip()))
