"""The kiosk's own JSON API: heartbeats, command acknowledgements, credentials."""
from __future__ import annotations

from flask import g, jsonify
from flask_smorest import Blueprint

from ..core import ratelimit
from ..core.errors import Forbidden, Invalid, Unauthorized
from ..extensions import db
from . import schemas, services
from .kiosk import COOKIE, COOKIE_MAX_AGE, credential_from_request, profiles

blp = Blueprint("kiosk_api", __name__, url_prefix="/api/v1/kiosk",
                description="For kiosks: heartbeat, command acknowledgement, credential rotation "
                            "(cookie set at activation, or 'Authorization: Kiosk <credential>')")


@blp.before_request
def _require_kiosk():
    from flask import request

    if request.endpoint == "kiosk_api.activate":
        return
    kiosk = services.authenticate(db.session, credential_from_request())
    if kiosk is None or kiosk.state == "revoked":
        raise Unauthorized("Unknown or revoked kiosk credential.", "终端凭证无效或已被吊销。")
    if kiosk.state != "authorized" and request.endpoint != "kiosk_api.heartbeat":
        raise Forbidden("This kiosk waits for an administrator to authorize it.", "本终端正在等待管理员授权。")
    g.kiosk = kiosk


@blp.post("/heartbeat")
@blp.arguments(schemas.HeartbeatIn())
@blp.response(200, schemas.HeartbeatOut())
def heartbeat(data):
    """Report liveness and peripherals; the answer carries status and due commands.

    A pending kiosk may beat too (admins then see it is alive), but gets no commands.
    """
    if data["profile"] is not None and data["profile"] not in profiles():
        raise Invalid(f"Invalid input. profile: unknown device profile {data['profile']!r}.",
                      f"输入有误。字段 profile：未知的设备型号 {data['profile']!r}。",
                      errors={"json": {"profile": ["Unknown device profile. / 未知的设备型号。"]}})
    result = services.record_heartbeat(db.session, g.kiosk, **data)
    if g.kiosk.state != "authorized":
        result["commands"] = []
    db.session.commit()
    return result


@blp.post("/commands/<int:command_id>/ack")
@blp.response(200, schemas.AckOut())
def ack(command_id):
    """Acknowledge a command. Repeating the call is harmless."""
    command = services.ack_command(db.session, g.kiosk, command_id)
    db.session.commit()
    return command


@blp.post("/credential")
@blp.response(200, schemas.CredentialOut())
def rotate():
    """Swap this kiosk's credential for a new one; the old one stops working at once."""
    credential = services.rotate_credential(db.session, g.kiosk)
    db.session.commit()
    response = jsonify({"kiosk_number": g.kiosk.number, "state": g.kiosk.state, "credential": credential})
    response.set_cookie(COOKIE, credential, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict", path="/")
    return response


@blp.post("/activate")
@ratelimit.enrolment
@blp.arguments(schemas.ActivateIn())
@blp.response(201, schemas.CredentialOut())
def activate(data):
    """Enrol a kiosk with a one-time code (for device agents; browsers use /kiosk/activate)."""
    kiosk, credential = services.activate(db.session, known_profiles=profiles().keys(), **data)
    db.session.commit()
    return {"kiosk_number": kiosk.number, "state": kiosk.state, "credential": credential}
