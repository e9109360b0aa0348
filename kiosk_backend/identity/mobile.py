"""Residents on the phone pages (/m): log in, log out, and who is asking.

The cookie ``resident_session`` (HttpOnly, SameSite=Lax so that a QR code opened from the
camera app still carries it, path /m, Secure over HTTPS) holds the token of a server-side
session of channel ``mobile`` (identity/sessions.py, limits KIOSK_PHONE_SESSION_*).
:func:`load_resident` runs before every /m request (app.py registers it on the surface) and
sets ``g.resident_session`` / ``g.resident`` (None when nobody is logged in) and ``g.actor``;
views that need a resident use :func:`login_required`, which sends the phone to
``/m/login?next=<the page>`` and back after login.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..core import actors, ratelimit
from ..core.errors import DomainError
from ..core.requests import client_ip
from ..extensions import db
from . import api, providers, residents, sessions

bp = Blueprint("identity", __name__)

COOKIE = "resident_session"
COOKIE_PATH = "/m"
HOME = "/m/login"


def load_resident() -> None:
    """before_request of the mobile surface: the phone's live session, if any."""
    record = sessions.lookup(db.session, request.cookies.get(COOKIE), channel="mobile")
    if record is not None and record.resident is None:
        record = None  # staff sessions are kiosk-only
    g.resident_session = record
    g.resident = record.resident if record is not None else None
    g.actor = sessions.principal(record).at(client_ip()) if record is not None else \
        actors.Actor(actors.ActorKind.RESIDENT, "anonymous", "", client_ip())


def mobile_context() -> dict:
    resident = getattr(g, "resident", None)
    return {"resident_name": residents.mask_name(resident.name) if resident is not None else None}


def login_required(view):
    """The view needs a logged-in resident: otherwise a redirect to /m/login?next=<this page>."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if getattr(g, "resident", None) is None:
            target = request.full_path if request.method == "GET" else request.path
            return redirect(url_for("mobile.identity.login", next=target.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """``target`` if it is a path of the phone pages on this host, else the login page:
    never another site (``//evil``, ``/\\evil``, ``https://…``) and nothing a Location header
    cannot carry."""
    target = target or ""
    parts = urlsplit(target)
    if (not target.startswith(COOKIE_PATH + "/") or target.startswith("//") or "\\" in target
            or parts.scheme or parts.netloc or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)):
        return HOME
    return target


@bp.get("/login")
def login():
    """The providers on offer; when logged in already, who and a way out."""
    names = providers.enabled(current_app.config)
    demo = [(claims.subject, residents.mask_name(claims.name), claims.name)
            for claims in providers.demo_residents()] if "demo" in names else []
    return render_template("mobile/login.html", providers=names, demo_residents=demo,
                           next=safe_next(request.args.get("next")), error=None, login_page=True)


@bp.post("/login/<any(demo, oidc):provider>")
@ratelimit.token_exchange
def login_with(provider: str):
    """Log in with the demo provider (form field ``subject``) or an ID token (``id_token``)."""
    token = request.form.get("subject" if provider == "demo" else "id_token", "")
    target = safe_next(request.form.get("next"))
    try:
        record, secret = api.exchange(provider, token, channel="mobile")
    except DomainError as exc:
        names = providers.enabled(current_app.config)
        demo = [(claims.subject, residents.mask_name(claims.name), claims.name)
                for claims in providers.demo_residents()] if "demo" in names else []
        return render_template("mobile/login.html", providers=names, demo_residents=demo, next=target,
                               error=exc, login_page=True), exc.status_code, exc.headers
    earlier = getattr(g, "resident_session", None)
    if earlier is not None:  # a new login on this phone ends the one before
        sessions.end(db.session, earlier, reason=sessions.EndReason.REPLACED, actor=g.actor)
    response = redirect(target)
    response.set_cookie(COOKIE, secret, httponly=True, samesite="Lax", secure=request.is_secure, path=COOKIE_PATH)
    return response


@bp.post("/logout")
def logout():
    """End the phone's session on the server, forget the cookie and whatever the pages stored.
    (A POST from another site is refused before it gets here: core.web's same-origin check.)"""
    record = getattr(g, "resident_session", None)
    if record is not None:
        sessions.end(db.session, record, reason=sessions.EndReason.LOGOUT, actor=g.actor)
    response = redirect(url_for("mobile.identity.login"))
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=request.is_secure)
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    response.headers["Cache-Control"] = "no-store"
    return response
