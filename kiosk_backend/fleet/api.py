"""The kiosk's own JSON API: heartbeats, command acknowledgements, credentials."""
from __future__ import annotations

from functools import partial

from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint

from ..core import actors, ratelimit
from ..core.errors import Forbidden, Invalid, Unauthorized, documented_errors
from ..core.requests import client_ip, record_after_request
from ..extensions import db
from . import heartbeats, schemas, services
from .kiosk import COOKIE, COOKIE_MAX_AGE, credential_from_request, profiles

blp = Blueprint("kiosk_api", __name__, url_prefix="/api/v1/kiosk",
                description="For kiosks: heartbeat, command acknowledgement, credential rotation "
                            "(cookie set at activation, or 'Authorization: Kiosk <credential>')")
# A kiosk's credential, as the header or as the cookie a kiosk browser got at activation.
KIOSK_SECURITY = [{"kiosk": []}, {"kiosk_cookie": []}]


def _kiosk_or_401():
    kiosk = services.authenticate(db.session, credential_from_request())
    if kiosk is None or kiosk.state == "revoked":
        raise Unauthorized("Unknown or revoked kiosk credential.", "终端凭证无效或已被吊销。",
                           headers={"WWW-Authenticate": 'Kiosk realm="kiosk-backend"'})  # RFC 9110
    return kiosk


@blp.before_request
def _require_kiosk():
    if request.endpoint in ("kiosk_api.activate", "kiosk_api.heartbeat"):
        return  # activation has no credential yet; a heartbeat authenticates in its own statement
    kiosk = _kiosk_or_401()
    if kiosk.state != "authorized":
        raise Forbidden("This kiosk waits for an administrator to authorize it.", "本终端正在等待管理员授权。")
    g.kiosk = kiosk
    g.actor = actors.kiosk(kiosk.number, ip=client_ip())


_HEARTBEAT_IN = schemas.HeartbeatIn()


@blp.post("/heartbeat")
# Documented like @blp.arguments(HeartbeatIn), which is not used: it would run the schema on every beat.
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": _HEARTBEAT_IN}}})
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.response(200, schemas.HeartbeatOut())
@blp.doc(security=KIOSK_SECURITY)
@documented_errors(blp, 400, 401, 413, 503)
def heartbeat():
    """Report liveness and peripherals; the answer carries status and due commands.

    A pending kiosk may beat too (admins then see it is alive), but gets no commands.
    """
    # The common beat (plainly valid body, nothing changed or due) is one UPDATE … RETURNING.
    beat = heartbeats.common_beat(request.get_data()) if request.is_json else None
    if beat is not None and (beat["profile"] is None or beat["profile"] in profiles()):
        answer = heartbeats.quick_beat(db.engine, credential_from_request(), beat,
                                       connect_args=current_app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args"))
        if answer is not None:
            return jsonify(_heartbeat_json(answer))
    # Anything else goes the transactional way: authenticate (401 first), the schema's checks, the service.
    kiosk = _kiosk_or_401()
    data = blp.ARGUMENTS_PARSER.parse(_HEARTBEAT_IN, location="json")
    if data["profile"] is not None and data["profile"] not in profiles():
        raise Invalid(f"Invalid input. profile: unknown device profile {data['profile']!r}.",
                      f"输入有误。字段 profile：未知的设备型号 {data['profile']!r}。",
                      errors={"json": {"profile": ["Unknown device profile. / 未知的设备型号。"]}})
    result = heartbeats.record_heartbeat(db.session, kiosk, **data)
    if kiosk.state != "authorized":
        result["commands"] = []
    return result  # core commits the request's transaction


def _heartbeat_json(answer: dict) -> dict:
    """HeartbeatOut's dump of a quick beat's answer (no commands), without marshmallow."""
    return {**answer, "server_time": answer["server_time"].isoformat()}


@blp.post("/commands/<int:command_id>/ack")
@blp.response(200, schemas.AckOut())
@blp.doc(security=KIOSK_SECURITY)
@documented_errors(blp, 401, 403, 404, 409, 503)
def ack(command_id):
    """Acknowledge a command. Repeating the call is harmless."""
    return services.ack_command(db.session, g.kiosk, command_id, actor=g.actor)


@blp.post("/credential")
@blp.response(200, schemas.CredentialOut(), headers={"Set-Cookie": {
    "description": "The new credential as the kiosk_credential cookie too (HttpOnly, SameSite=Strict; Secure over HTTPS)",
    "required": True, "schema": {"type": "string"}}})
@blp.doc(security=KIOSK_SECURITY)
@documented_errors(blp, 401, 403, 503)
def rotate():
    """Swap this kiosk's credential for a new one; the old one stops working at once."""
    credential = services.rotate_credential(db.session, g.kiosk, actor=g.actor)
    response = jsonify({"kiosk_number": g.kiosk.number, "state": g.kiosk.state, "credential": credential})
    response.set_cookie(COOKIE, credential, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/")
    return response


@blp.post("/activate")
@ratelimit.enrolment
@blp.arguments(schemas.ActivateIn())
@blp.response(201, schemas.CredentialOut())
@blp.doc(security=[])  # the one-time code is the credential
@documented_errors(blp, 400, 409, 413, 429, 503)
def activate(data):
    """Enrol a kiosk with a one-time code (for device agents; browsers use /kiosk/activate)."""
    try:
        kiosk, credential = services.activate(db.session, known_profiles=profiles().keys(), ip=client_ip(), **data)
    except services.EnrolmentRefused as exc:
        # The 422 rolls the request back; the refusal is recorded after that.
        record_after_request(partial(services.record_refused_activation, code=data["code"], reason=exc.message,
                                     ip=client_ip()))
        raise
    return {"kiosk_number": kiosk.number, "state": kiosk.state, "credential": credential}
