"""The kiosk surface's gate: every kiosk page needs an enrolled, authorized kiosk.

A kiosk browser holds its credential in an HttpOnly cookie set at activation; device
agents may send ``Authorization: Kiosk <credential>`` instead.
"""
from __future__ import annotations

from functools import partial

import marshmallow as ma
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from ..core import actors, ratelimit
from ..core.errors import Invalid
from ..core.i18n import DEFAULT_LANGUAGE, LANGUAGES, describe_validation_errors
from ..core.kiosk_shell import CREDENTIAL_COOKIE, CREDENTIAL_MAX_AGE, credential_from_request
from ..core.requests import client_ip, record_after_request
from ..extensions import db
from ..sites import services as sites
from . import schemas, services

bp = Blueprint("fleet", __name__)

COOKIE, COOKIE_MAX_AGE = CREDENTIAL_COOKIE, CREDENTIAL_MAX_AGE
# What a resident chose on this screen (core.web keeps ?lang= / ?elder= in these cookies);
# forgotten when the visit ends (``reset``).
LANG_COOKIE, ELDER_COOKIE = "lang", "elder"
RESIDENT_COOKIES = (LANG_COOKIE, ELDER_COOKIE)
# Pages a kiosk can open before it is enrolled, or that must work while the backend is half there.
OPEN_ENDPOINTS = {"kiosk.fleet.activate", "kiosk.shell.offline", "kiosk.shell.service_worker", "kiosk.shell.ping"}


def profiles() -> dict:
    return current_app.extensions["device_profiles"]


def resident_language(profile) -> str:
    """The language of this kiosk screen: the one a resident chose (``?lang=``, then the cookie
    the choice left) if the kiosk offers it, else the kiosk's default (the first language of
    its device profile). Never the browser's Accept-Language: a kiosk is a shared screen, and
    its browser's locale says nothing about the person standing at it."""
    offered = profile.ui.languages if profile is not None else LANGUAGES
    for chosen in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if chosen in offered:
            return chosen
    return offered[0] if offered else DEFAULT_LANGUAGE


def require_kiosk():
    """before_request of the kiosk surface."""
    g.lang = resident_language(None)  # before any kiosk is known (activation, offline page)
    if request.endpoint == "kiosk.shell.offline":
        _identify_for_offline_page()
        return None
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    kiosk = services.authenticate(db.session, credential_from_request())
    if kiosk is None or kiosk.state == "revoked":
        response = redirect(url_for("kiosk.fleet.activate"))
        response.delete_cookie(COOKIE)
        return response
    g.kiosk = kiosk
    g.actor = actors.kiosk(kiosk.number, ip=client_ip())
    g.profile = profiles().get(kiosk.profile)
    g.lang = resident_language(g.profile)
    if kiosk.state == "pending":
        return Response(render_template("kiosk/pending.html", kiosk=kiosk), status=403)
    if kiosk.maintenance and request.endpoint != "kiosk.shell.help":
        nearest = sites.nearest_open_sites(db.session, kiosk.site)
        return Response(render_template("kiosk/maintenance.html", kiosk=kiosk, nearest=nearest), status=503,
                        headers={"Retry-After": "60"})
    return None


def _identify_for_offline_page() -> None:
    """The offline page is open to anyone, but the service worker caches it for the kiosk it
    serves: an authorized kiosk's copy carries its number and its font scale, so the screen a
    resident sees while the network is down still says which kiosk this is, at its size.
    A database that does not answer leaves the page plain rather than failing it."""
    try:
        kiosk = services.authenticate(db.session, credential_from_request())
    except SQLAlchemyError:
        db.session.rollback()
        return
    if kiosk is not None and kiosk.state == "authorized":
        g.kiosk = kiosk
        g.profile = profiles().get(kiosk.profile)
        g.lang = resident_language(g.profile)


def kiosk_context() -> dict:
    """What every kiosk template may use: the kiosk, its profile and effective settings."""
    kiosk = getattr(g, "kiosk", None)
    profile = getattr(g, "profile", None)
    if kiosk is None:
        return {"kiosk": None, "profile": None}
    idle_seconds, idle_warning_seconds = idle_times(kiosk, profile)
    return {
        "kiosk": kiosk,
        "profile": profile,
        "idle_seconds": idle_seconds,
        "idle_warning_seconds": idle_warning_seconds,
        "printer_kind": profile.printer_kind if profile else "thermal80",
        "feature": (lambda name: profile is None or profile.has(name)),
        # A language or display mode chosen on this screen: the idle countdown runs even on
        # the home screen then, so the next resident does not inherit it.
        "resident_choices": any(request.cookies.get(name) or request.args.get(name) for name in RESIDENT_COOKIES),
    }


def idle_times(kiosk, profile) -> tuple[int, int]:
    """What the kiosk's screen counts: seconds without a touch before the idle countdown, and
    the countdown's length. The kiosk's own settings (apply_settings), else its device
    profile's, else the configured defaults."""
    settings = kiosk.settings or {}
    config = current_app.config
    idle = settings.get("idle_timeout_seconds") or (profile.idle_seconds if profile else None)
    warning = settings.get("idle_warning_seconds") or (profile.idle_warning_seconds if profile else None)
    return idle or config["KIOSK_IDLE_SECONDS"], warning or config["KIOSK_IDLE_WARNING_SECONDS"]


@bp.route("/activate", methods=["GET", "POST"])
@ratelimit.enrolment
def activate():
    """The activation screen of a new kiosk: type (or scan) the enrolment code."""
    error = None
    if request.method == "POST":
        form = {key: request.form[key] for key in ("code", "profile", "app_version") if request.form.get(key)}
        try:
            data = schemas.ActivateIn().load(form)  # the same rules as the device agents' API
            kiosk, credential = services.activate(db.session, known_profiles=profiles().keys(), ip=client_ip(),
                                                  **data)
        except ma.ValidationError as exc:
            error = Invalid(*describe_validation_errors(exc.messages), errors=exc.messages)
        except Invalid as exc:
            error = exc  # answered with 422: core rolls the request back, then records the refusal
            record_after_request(partial(services.record_refused_activation, code=form.get("code", ""),
                                         reason=exc.message, ip=client_ip()))
        else:
            response = redirect(url_for("kiosk.catalog.home"))
            response.set_cookie(COOKIE, credential, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Strict",
                                secure=request.is_secure, path="/")
            return response
    status = 422 if error else 200
    return render_template("kiosk/activate.html", profiles=sorted(profiles().values(), key=lambda p: p.model),
                           error=error, code=request.form.get("code", request.args.get("code", ""))), status


@bp.get("/reset")
def reset():
    """The end of a visit (the idle countdown ran out, a session ended): forget what the
    resident chose on this screen (language, elder mode) and start again at home with the
    kiosk's defaults. The kiosk JS clears the browser's storage before coming here; the
    kiosk's own credential cookie and the service worker's offline page stay. (A resident's
    or helper's session on this kiosk ends here too: identity/kiosk.py.)"""
    return forget_visit(redirect(url_for("kiosk.catalog.home"), code=303))


def forget_visit(response: Response) -> Response:
    """What the end of a visit does to its answer: the resident's choices (cookies) are
    deleted and the browser's cache of this site cleared."""
    for name in RESIDENT_COOKIES:
        response.delete_cookie(name, path="/", samesite="Lax", httponly=True)
    response.headers["Clear-Site-Data"] = '"cache"'
    return response
