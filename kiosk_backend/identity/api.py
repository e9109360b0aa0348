"""Authentication for the JSON API: staff bearer tokens, and residents' session tokens for
the mini-app (its token exchange, who-am-I and logout operations are here too)."""
from __future__ import annotations

import hashlib
from functools import partial, wraps

from flask import current_app, g, request
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ..core import actors, audit, ratelimit
from ..core.errors import Unauthorized, documented_errors
from ..core.payloads import Schema
from ..core.requests import client_ip, record_after_request, require_role
from ..extensions import db
from . import providers, residents, services, sessions
from .models import Resident, ResidentSession

# RFC 9110: a 401 names the scheme that would have worked.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kiosk-backend"'}


def require_staff(*roles: str):
    """A ``before_request`` hook: a valid bearer token of a staff member (401 otherwise),
    who then becomes ``g.staff`` / ``g.actor``; with ``roles``, one of them is required
    (:func:`~kiosk_backend.core.requests.require_role`, its 403 and messages)."""

    def hook():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>'.", "请在请求头中提供访问令牌（Authorization: Bearer）。",
                               headers=CHALLENGE)
        try:
            staff = services.authenticate_token(db.session, token.strip())
        except Unauthorized as exc:
            exc.headers = {**exc.headers, **CHALLENGE}
            raise
        g.staff = staff
        g.actor = actors.staff(staff.username, name=staff.display_name, ip=client_ip())
        if roles:
            require_role(*roles)

    return hook


# ---------------------------------------------------------------- residents (the mini-app)
#
# A resident's token is sent as 'Authorization: Resident <token>': a scheme of its own, so a
# resident's token is never tried as a staff token (Bearer) or the other way round. Behind it
# is a server-side session of channel "api" (identity/sessions.py).

RESIDENT_SCHEME = "Resident"
RESIDENT_CHALLENGE = {"WWW-Authenticate": f'{RESIDENT_SCHEME} realm="kiosk-backend"'}
RESIDENT_SECURITY = [{"resident": []}]

blp = Blueprint("resident_api", __name__, url_prefix="/api/v1",
                description="For the mini-app: exchange the identity platform's ID token for a resident "
                            "session token ('Authorization: Resident <token>'), who am I, log out")


def _resident_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == RESIDENT_SCHEME.lower() else None


def authenticate_resident() -> ResidentSession:
    """The live ``api`` session of the ``Authorization: Resident <token>`` header, which
    becomes ``g.resident_session`` / ``g.resident`` / ``g.actor``; raises Unauthorized (401,
    WWW-Authenticate: Resident) when the header is missing or the session unknown or over."""
    # Remembered on the request itself (an app context, and so g, may outlive one request:
    # a request served inside a test's app context shares it).
    known = getattr(request, "_resident_session", None)
    if known is not None:
        return known
    token = _resident_token()
    if token is None:
        raise Unauthorized("Send 'Authorization: Resident <token>' (from POST /api/v1/auth/token).",
                           "请在请求头中提供居民登录令牌（Authorization: Resident）。", headers=dict(RESIDENT_CHALLENGE))
    record = sessions.lookup(db.session, token, channel="api")
    if record is None or record.resident is None:
        # lookup() ended an idle or expired session, but this 401 rolls the request back:
        # the end (and its audit entry) is written again after that, on its own transaction.
        record_after_request(partial(_end_if_over, token=token))
        raise Unauthorized("Unknown, expired or ended resident session; log in again.",
                           "登录已失效，请重新登录。", headers=dict(RESIDENT_CHALLENGE))
    request._resident_session = g.resident_session = record
    g.resident = record.resident
    g.actor = sessions.principal(record).at(client_ip())
    return record


def _end_if_over(session, *, token: str) -> None:
    sessions.lookup(session, token, channel="api", touch=False)


def current_resident() -> Resident:
    """The resident of this API request (see :func:`authenticate_resident`; 401 without one)."""
    return authenticate_resident().resident


def resident_required(view):
    """Decorator for JSON API views of a logged-in resident: 401 unless the request carries a
    live resident token; the view then finds ``g.resident`` and ``g.actor``. Document the
    operation with ``@blp.doc(security=RESIDENT_SECURITY)`` and its 401."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate_resident()
        return view(*args, **kwargs)

    return wrapper


def exchange(provider_name: str, token: str, *, channel: str) -> tuple[ResidentSession, str]:
    """Log a resident in: ``token`` verified by the provider (TokenRefused 401, an unknown
    provider 422), the per-resident rate limit (429), the resident created or updated from
    the claims, and a new session of ``channel`` (the phone's limits, KIOSK_PHONE_SESSION_*).
    A refused token is audited ``identity.resident.login_refused`` (provider and reason only)
    after the request's rollback."""
    config = current_app.config
    provider = providers.provider_for(config, provider_name)
    ip = client_ip()
    try:
        claims = provider.verify(token)
    except providers.TokenRefused as exc:
        record_after_request(partial(_record_refusal, provider=provider_name, reason=exc.reason, ip=ip))
        raise
    digest = hashlib.sha256(f"{provider_name}:{claims.subject}".encode()).hexdigest()[:32]
    ratelimit.check("KIOSK_RATELIMIT_TOKEN_RESIDENT", f"resident:{digest}")
    vouched = actors.Actor(actors.ActorKind.SYSTEM, f"idp:{provider_name}", provider_name, ip)
    resident = residents.upsert_from_claims(db.session, provider=provider_name, claims=claims, actor=vouched)
    who = actors.Actor(actors.ActorKind.RESIDENT, str(resident.id), residents.mask_name(resident.name), ip)
    return sessions.start(db.session, channel=channel, resident=resident, actor=who, ip=ip,
                          idle_seconds=int(config["KIOSK_PHONE_SESSION_IDLE_SECONDS"]),
                          absolute_seconds=int(config["KIOSK_PHONE_SESSION_MAX_SECONDS"]))


def _record_refusal(session, *, provider: str, reason: str, ip: str | None) -> None:
    anonymous = actors.Actor(actors.ActorKind.RESIDENT, "anonymous", "", ip)
    audit.record(session, actor=anonymous, action="identity.resident.login_refused", target=f"provider:{provider}",
                 details={"provider": provider, "reason": reason})


def me_of(resident: Resident) -> dict:
    """What a resident may see of themselves, masked: never the clear ID or phone number."""
    return {"provider": resident.provider, "name_masked": residents.mask_name(resident.name),
            "id_number_masked": resident.id_number_masked, "phone_masked": resident.phone_masked}


class TokenIn(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(providers.NAMES),
                             metadata={"description": "oidc (the identity platform), or demo (demo mode only)"})
    id_token = fields.String(required=True, validate=validate.Length(min=1, max=8192),
                             metadata={"description": "The platform's ID token (a JWT); for demo, a demo "
                                                      "resident's subject such as demo-1"})


class MeOut(Schema):
    provider = fields.String(required=True)
    name_masked = fields.String(required=True, metadata={"description": "张三 → 张*"})
    id_number_masked = fields.String(required=True, allow_none=True, metadata={"description": "1101**********002X"})
    phone_masked = fields.String(required=True, allow_none=True, metadata={"description": "138****8000"})


class TokenOut(Schema):
    token = fields.String(required=True, metadata={"description": "Send as 'Authorization: Resident <token>'"})
    token_type = fields.String(required=True, metadata={"description": "Always Resident"})
    idle_seconds = fields.Integer(required=True, metadata={"description": "The session ends after this long unused"})
    expires_at = fields.DateTime(required=True, metadata={"description": "The session ends then at the latest"})
    resident = fields.Nested(MeOut, required=True)


@blp.post("/auth/token")
@ratelimit.token_exchange
@blp.arguments(TokenIn())
@blp.response(201, TokenOut())
@blp.doc(security=[])  # the ID token is the credential
@documented_errors(blp, 400, 401, 413, 429, 503)
def token(data):
    """Exchange an ID token of the identity platform for a resident session token."""
    record, secret = exchange(data["provider"], data["id_token"], channel="api")
    return {"token": secret, "token_type": RESIDENT_SCHEME, "idle_seconds": record.idle_seconds,
            "expires_at": record.expires_at, "resident": me_of(record.resident)}


@blp.get("/me")
@resident_required
@blp.response(200, MeOut())
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 503)
def me():
    """The logged-in resident, masked."""
    return me_of(g.resident)


@blp.post("/auth/logout")
@resident_required
@blp.response(204)
@blp.doc(security=RESIDENT_SECURITY)
@documented_errors(blp, 401, 503)
def logout():
    """End this resident session on the server; the token stops working at once."""
    sessions.end(db.session, g.resident_session, reason=sessions.EndReason.LOGOUT, actor=g.actor)
    return ""
