"""The kiosk's side of QR login: the login screen and its poll (identity/qr_login.py).

``GET /kiosk/login`` shows a new challenge: its QR code (the phone page
``/m/login/<token>`` on KIOSK_PUBLIC_URL), the match code and a countdown; qrlogin.js shows
a new code shortly before this one expires, and asks
``GET /kiosk/login/challenges/<id>`` every KIOSK_QR_POLL_MS (500 ms) with the kiosk's own
credential. The poll is cheap by design: one primary-key SELECT (after the kiosk's own
gate), no write, ``ETag`` = the challenge's version and ``304`` while it has not changed,
a few bytes of JSON otherwise. It is not the person's activity (``not_activity``: a poll
never keeps a kiosk session alive). Once the challenge is confirmed, the poll consumes it:
the kiosk session starts, its cookie is set (identity.kiosk.set_session_cookie) and the
answer says where to go.

Plain polling rather than a long poll: a waiting kiosk then costs a sync gunicorn worker a
couple of milliseconds every half second instead of a whole worker for the wait, so 200
kiosks at their login screens stay far from starving the workers (``kiosk bench qr``).
Most polls find nothing new; :class:`NotModifiedFastPath` answers those (304) below Flask,
with one SELECT that checks the kiosk's credential and reads the challenge together.
"""
from __future__ import annotations

import base64
import io
import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.http import parse_cookie

from ..core import ratelimit
from ..core.clock import utcnow
from ..core.errors import DomainError
from ..core.kiosk_shell import AUTH_SCHEME, CREDENTIAL_COOKIE
from ..core.printing.links import public_url
from ..core.printing.qr import qr_image
from ..core.requests import client_ip
from ..core.tokens import token_hash
from ..extensions import db
from ..fleet.models import Kiosk
from . import qr_login
from .kiosk import not_activity, set_session_cookie
from .models import LoginChallenge

bp = Blueprint("qr", __name__)

QR_PIXELS = 360
# The screen asks for a new code this long before the old one expires, so a resident never
# scans a code that dies in their hand.
REFRESH_BEFORE_SECONDS = 15


def _require_qr_login() -> None:
    profile = getattr(g, "profile", None)
    if profile is not None and not profile.has("qr_login"):
        abort(404)


def qr_data_uri(payload: str) -> str:
    """The QR code of ``payload`` as a PNG data URI (img-src allows data:; no second request)."""
    out = io.BytesIO()
    qr_image(payload, QR_PIXELS).save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


@bp.get("/login")
@ratelimit.qr_challenge
def login():
    """扫码登录: a new QR login code for this kiosk (its older ones expire)."""
    _require_qr_login()
    if getattr(g, "kiosk_session", None) is not None:
        return redirect(url_for("kiosk.catalog.home"))  # somebody is logged in here already
    challenge, token = qr_login.create_challenge(db.session, kiosk=g.kiosk, actor=g.actor)
    phone_url = public_url(url_for("mobile.qr.code", token=token))
    ttl = int((challenge.expires_at - challenge.created_at).total_seconds())
    return render_template("kiosk/login.html", challenge=challenge, qr=qr_data_uri(phone_url), phone_url=phone_url,
                           ttl=ttl,
                           refresh_after=max(5, ttl - REFRESH_BEFORE_SECONDS),
                           poll_ms=int(current_app.config["KIOSK_QR_POLL_MS"]))


@bp.get("/login/challenges/<int:challenge_id>")
@not_activity
def poll(challenge_id: int):
    """The login screen's question: has my code been scanned, confirmed, denied? JSON
    ``{"state": ...}``; 304 while the ETag (the challenge's version) is unchanged. A
    confirmed challenge is consumed here: ``{"state": "consumed", "next": <home>}`` with
    the kiosk session's cookie."""
    challenge = qr_login.poll(db.session, challenge_id, kiosk=g.kiosk)
    if challenge is None:
        return _answer({"state": "unknown"}, status=404)
    now = utcnow()
    state = qr_login.effective_state(challenge, now)
    if state == qr_login.S.CONFIRMED:
        return _consume(challenge)
    etag = f"{challenge.id}.{challenge.version}" + ("x" if state != challenge.state else "")
    if request.if_none_match.contains(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return _no_cache(response)
    body = {"state": state}
    if state in qr_login.LIVE:
        body["expires_in"] = max(0, int((challenge.expires_at - now).total_seconds()))
    response = _answer(body)
    response.set_etag(etag)
    return response


def _consume(challenge) -> Response:
    try:
        _, token = qr_login.consume(db.session, challenge.id, kiosk=g.kiosk, actor=g.actor, ip=client_ip())
    except DomainError:  # another poll of this kiosk took it a moment ago, or it just expired
        now_seen = qr_login.poll(db.session, challenge.id, kiosk=g.kiosk)
        return _answer({"state": qr_login.effective_state(now_seen, utcnow())})
    response = _answer({"state": "consumed", "next": url_for("kiosk.catalog.home")})
    return set_session_cookie(response, token)


def _answer(body: dict, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return _no_cache(response)


def _no_cache(response: Response) -> Response:
    # Revalidate every time (If-None-Match → 304); never served from a cache unasked.
    response.headers["Cache-Control"] = "no-cache"
    return response


# ------------------------------------------------------------------ the common poll, below Flask

POLL_PATH = re.compile(r"^/kiosk/login/challenges/([1-9][0-9]{0,8})$")
WAITING = (qr_login.S.PENDING.value, qr_login.S.SCANNED.value)


class NotModifiedFastPath:
    """WSGI middleware for the common poll: a waiting kiosk asking with the ETag it already
    has about a challenge that has not changed. One SELECT joins the kiosk (by the hash of
    the credential it sends: authorized, not in maintenance) to its challenge; if the
    challenge is still pending or scanned, before its deadline, at the version of the ETag,
    the answer is 304 at once. Anything else (a change, a confirmation to consume, an expired
    code, another kiosk's credential, a database error) goes to the Flask route, which decides
    as always. The same rules as the route, without the request machinery around it: this is
    what 200 kiosks waiting at once cost the server (``kiosk bench qr``)."""

    def __init__(self, wsgi_app, engine):
        self.wsgi_app = wsgi_app
        self.engine = engine
        self.statement = (
            sa.select(LoginChallenge.state, LoginChallenge.version, LoginChallenge.expires_at)
            .join(Kiosk, Kiosk.id == LoginChallenge.kiosk_id)
            .where(LoginChallenge.id == sa.bindparam("challenge_id"),
                   Kiosk.credential_hash == sa.bindparam("credential_hash"),
                   Kiosk.state == "authorized", Kiosk.maintenance.is_(False)))

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("HTTP_IF_NONE_MATCH"):
            match = POLL_PATH.match(environ.get("PATH_INFO", ""))
            if match and self._unchanged(environ, int(match.group(1))):
                etag = environ["HTTP_IF_NONE_MATCH"].strip()
                start_response("304 NOT MODIFIED", [("ETag", etag), ("Cache-Control", "no-cache"),
                                                    ("X-Content-Type-Options", "nosniff"),
                                                    ("Referrer-Policy", "same-origin")])
                return [b""]
        return self.wsgi_app(environ, start_response)

    def _unchanged(self, environ, challenge_id: int) -> bool:
        credential = _credential(environ)
        if not credential:
            return False
        try:
            with self.engine.connect() as conn:
                row = conn.execute(self.statement, {"challenge_id": challenge_id,
                                                    "credential_hash": token_hash(credential)}
                                   ).first()
        except sa.exc.SQLAlchemyError:
            return False  # the route answers (503 when the database is down)
        if row is None or row.state not in WAITING or row.expires_at <= utcnow():
            return False
        return environ["HTTP_IF_NONE_MATCH"].strip() == f'"{challenge_id}.{row.version}"'


def _credential(environ) -> str | None:
    """As core.kiosk_shell.credential_from_request: the Authorization header, else the cookie."""
    scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == AUTH_SCHEME and value.strip():
        return value.strip()
    return parse_cookie(environ.get("HTTP_COOKIE", "")).get(CREDENTIAL_COOKIE) or None
