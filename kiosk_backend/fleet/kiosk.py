"""The kiosk surface's gate: every kiosk page needs an enrolled, authorized kiosk.

A kiosk browser holds its credential in an HttpOnly cookie set at activation; device
agents may send ``Authorization: Kiosk <credential>`` instead.
"""
from __future__ import annotations

from functools import partial

import marshmallow as ma
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from ..core import actors, ratelimit
from ..core.errors import Invalid
from ..core.i18n import describe_validation_errors
from ..core.kiosk_shell import CREDENTIAL_COOKIE, CREDENTIAL_MAX_AGE, credential_from_request
from ..core.requests import client_ip, record_after_request
from ..extensions import db
from ..sites import services as sites
from . import schemas, services

bp = Blueprint("fleet", __name__)

COOKIE, COOKIE_MAX_AGE = CREDENTIAL_COOKIE, CREDENTIAL_MAX_AGE
# Pages a kiosk can open before it is enrolled, or that must work while the backend is half there.
OPEN_ENDPOINTS = {"kiosk.fleet.activate", "kiosk.shell.offline", "kiosk.shell.service_worker", "kiosk.shell.ping"}


def profiles() -> dict:
    return current_app.extensions["device_profiles"]


def require_kiosk():
    """before_request of the kiosk surface."""
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
    if kiosk.state == "pending":
        return Response(render_template("kiosk/pending.html", kiosk=kiosk), status=403)
    if kiosk.maintenance and request.endpoint != "kiosk.shell.help":
        nearest = sites.nearest_open_sites(db.session, kiosk.site)
        return Response(render_template("kiosk/maintenance.html", kiosk=kiosk, nearest=nearest), status=503,
                        headers={"Retry-After": "60"})
    return None


def kiosk_context() -> dict:
    """What every kiosk template may use: the kiosk, its profile and effective settings."""
    kiosk = getattr(g, "kiosk", None)
    profile = getattr(g, "profile", None)
    if kiosk is None:
        return {"kiosk": None, "profile": None}
    settings = kiosk.settings or {}
    return {
        "kiosk": kiosk,
        "profile": profile,
        "idle_seconds": settings.get("idle_timeout_seconds") or (profile.idle_seconds if profile else None),
        "idle_warning_seconds": settings.get("idle_warning_seconds") or (profile.idle_warning_seconds if profile else None),
        "printer_kind": profile.printer_kind if profile else "thermal80",
        "feature": (lambda name: profile is None or profile.has(name)),
    }


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
