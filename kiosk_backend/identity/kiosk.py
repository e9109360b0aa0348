"""The kiosk session (SECURITY.md, "Sessions on a shared screen"): a resident, or a staff
member, logged in at one kiosk.

- The browser holds the session's token in the ``kiosk_session`` cookie (HttpOnly,
  SameSite=Strict, path /kiosk, Secure over HTTPS); the session itself is server-side
  (identity/sessions.py) and bound to the kiosk: another kiosk's cookie is not found.
- :func:`load_kiosk_session` runs on every kiosk request after the kiosk is known
  (fleet/kiosk.py ``require_kiosk``; app.py registers it after that gate) and sets
  ``g.kiosk_session`` and ``g.resident`` or ``g.staff_at_kiosk``. A request is the person's
  activity and restarts the idle time, except requests the screen makes by itself (the QR
  poll, service worker fetches, the idle warning): :data:`PASSIVE_ENDPOINTS`,
  :func:`not_activity`.
- The session ends by 退出 (``POST /kiosk/logout``), when the screen's idle countdown runs
  out (it goes to ``/kiosk/reset``, which ends the session it finds), or on the server's
  own clock: the server's idle time is the screen's idle time + its countdown +
  :data:`SERVER_GRACE_SECONDS`, so the screen always ends first, and a kiosk switched off
  mid-session is ended by the next request or the periodic job anyway. After an end the
  answer deletes the cookie and sends ``Clear-Site-Data: "cache", "storage"`` (not
  ``"cookies"``: that would delete the kiosk's own credential too) and ``no-store``; a page
  asked for with a session the server has ended sends the browser home with the notice
  已退出登录.
- Staff (helpers, site managers of this kiosk's site, admins) log in at
  ``/kiosk/staff-login`` with their console password, throttled like the console's login.
"""
from __future__ import annotations

from datetime import timedelta
from functools import partial

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, url_for

from ..core import actors, audit, ratelimit
from ..core.clock import utcnow
from ..core.requests import client_ip, independent_session, record_after_request
from ..extensions import db
from ..fleet import kiosk as fleet_kiosk
from . import services, sessions
from .models import StaffUser
from .residents import mask_name

bp = Blueprint("session", __name__)

COOKIE = "kiosk_session"
COOKIE_PATH = "/kiosk"
# The screen's idle timer and countdown have floors of their own (idle.js): the server counts
# from the same floors.
CLIENT_MIN_IDLE, CLIENT_MIN_WARNING = 5, 20
# The server ends an idle session this long after the screen would have: the screen always
# ends first (and says so), the server ends it anyway when the screen cannot.
SERVER_GRACE_SECONDS = 20
# The screen tells the server of a touch at most this often (POST /kiosk/session/extend): less
# than the grace, so touches the server has not heard of never outlive the server's idle time.
KEEPALIVE_SECONDS = 10
# Staff may log in at a kiosk in these roles (helpers and site managers for their sites only).
KIOSK_STAFF_ROLES = ("admin", "site_manager", "helper")
# The ends the screen asks for at /kiosk/reset: its idle countdown, or the absolute limit.
SCREEN_END_REASONS = {"idle": sessions.EndReason.IDLE, "expired": sessions.EndReason.EXPIRED}
# Requests the kiosk makes by itself: they never count as the person's activity.
PASSIVE_ENDPOINTS = {"kiosk.shell.ping", "kiosk.shell.service_worker", "kiosk.shell.offline", "kiosk.session.status"}
SIGNED_OUT_ARG = "signed_out"


# ===================================================================== cookie

def set_session_cookie(response: Response, token: str) -> Response:
    """Give the kiosk browser a new session's token (after a QR login or a staff login)."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path=COOKIE_PATH)
    return response


def clear_session_cookie(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict", secure=request.is_secure)
    return response


# ===================================================================== limits

def session_limits(kiosk, profile=None) -> tuple[int, int]:
    """(idle, absolute) seconds for a new session on ``kiosk``: idle is what the screen counts
    (its idle time and countdown, from its settings or device profile) plus the grace, so
    the screen's countdown always runs out first; absolute is KIOSK_KIOSK_SESSION_MAX_MINUTES."""
    if profile is None:
        profile = fleet_kiosk.profiles().get(kiosk.profile)
    idle, warning = fleet_kiosk.idle_times(kiosk, profile)
    server_idle = max(int(idle), CLIENT_MIN_IDLE) + max(int(warning), CLIENT_MIN_WARNING) + SERVER_GRACE_SECONDS
    return server_idle, int(current_app.config["KIOSK_KIOSK_SESSION_MAX_MINUTES"]) * 60


# ===================================================================== every request

def not_activity(view):
    """Mark a kiosk view as one the screen calls by itself (a poll): it never restarts the
    session's idle time."""
    view.not_kiosk_activity = True
    return view


def is_activity() -> bool:
    """Whether this request is the person at the kiosk doing something."""
    if request.endpoint in PASSIVE_ENDPOINTS:
        return False
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "not_kiosk_activity", False):
        return False
    # The service worker fetching its script or its shell.
    return not (request.headers.get("Service-Worker") or request.headers.get("Sec-Fetch-Dest") == "serviceworker")


def load_kiosk_session():
    """before_request of the kiosk surface, after the kiosk's gate (``g.kiosk`` is known)."""
    g.kiosk_session = g.resident = g.staff_at_kiosk = None
    g.kiosk_session_over = g.kiosk_signed_out = False
    token = request.cookies.get(COOKIE)
    # The pages open to any browser know no one: the offline page above all, which the
    # service worker keeps in the browser's cache for whoever comes next.
    if not token or getattr(g, "kiosk", None) is None or request.endpoint in fleet_kiosk.OPEN_ENDPOINTS:
        return None
    if request.endpoint == "kiosk.fleet.reset":
        # The end of the visit on the screen: its idle countdown ran out (or its absolute
        # limit). The session ends here, on the server, with the screen's reason.
        record = sessions.lookup(db.session, token, channel="kiosk", kiosk_id=g.kiosk.id, touch=False, actor=g.actor)
        if record is not None:
            reason = SCREEN_END_REASONS.get(request.args.get("end", ""), sessions.EndReason.IDLE)
            sessions.end(db.session, record, reason=reason, actor=g.actor)
        g.kiosk_session_over = True
        g.kiosk_signed_out = True
        return None
    record = sessions.lookup(db.session, token, channel="kiosk", kiosk_id=g.kiosk.id, touch=is_activity(),
                             actor=g.actor)
    if record is None:
        # Ended by the server (idle, absolute limit, revoked), or not this kiosk's: the
        # cookie goes, and a page asked for shows home with 已退出登录 instead.
        g.kiosk_session_over = True
        if _is_page_request() and request.endpoint != "kiosk.catalog.home":
            return redirect(_home_signed_out(), code=303)
        return None
    g.kiosk_session = record
    g.resident = record.resident
    g.staff_at_kiosk = record.staff
    return None


def _home_signed_out() -> str:
    return url_for("kiosk.catalog.home", **{SIGNED_OUT_ARG: 1})


def _is_page_request() -> bool:
    """A page the browser navigates to (not a fetch from a page's script)."""
    if request.method != "GET" or not is_activity():
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return request.accept_mimetypes.best != "application/json"


def session_headers(response: Response) -> Response:
    """after_request of the kiosk surface: nothing a session showed is kept by a cache, and a
    session that is over leaves no cookie and nothing in the browser's storage."""
    if getattr(g, "kiosk_session", None) is not None or getattr(g, "kiosk_session_over", False):
        response.headers["Cache-Control"] = "no-store"
    if getattr(g, "kiosk_session_over", False) and not _sets_new_session(response):
        if request.endpoint != "kiosk.fleet.reset":  # which has done it itself
            fleet_kiosk.forget_visit(response)  # what /kiosk/reset does: the resident's choices go too
        clear_session_cookie(response)
        # Not "cookies": that would delete the kiosk's own credential cookie as well.
        response.headers["Clear-Site-Data"] = '"cache", "storage"'
        if getattr(g, "kiosk_signed_out", False) and response.status_code == 303:
            response.headers["Location"] = _home_signed_out()  # /kiosk/reset's way home says 已退出登录
    return response


def _sets_new_session(response: Response) -> bool:
    """Whether this answer logs someone in (the QR poll that consumed a confirmed code, after
    the old session was found over): its new cookie must not be deleted."""
    return any(header.startswith(f"{COOKIE}=") and not header.startswith(f"{COOKIE}=;")
               for header in response.headers.getlist("Set-Cookie"))


def session_context() -> dict:
    """What kiosk templates know of the person logged in (later features use
    ``current_resident``: never ask a resident again what is known)."""
    record = getattr(g, "kiosk_session", None)
    resident, staff = getattr(g, "resident", None), getattr(g, "staff_at_kiosk", None)
    context = {"kiosk_session": record, "current_resident": resident, "staff_at_kiosk": staff,
               "signed_out": request.args.get(SIGNED_OUT_ARG) == "1" and record is None}
    if record is not None:
        context["session_who"] = mask_name(resident.name if resident else (staff.display_name or staff.username))
        context["session_ends_in"] = max(0, int((record.expires_at - utcnow()).total_seconds()))
        context["session_keepalive"] = KEEPALIVE_SECONDS
    return context


# ===================================================================== routes

@bp.post("/logout")
def logout():
    """退出: the session ends on the server, the browser forgets it, home."""
    record = g.kiosk_session
    if record is not None:
        sessions.end(db.session, record, reason=sessions.EndReason.LOGOUT,
                     actor=sessions.principal(record).at(client_ip()))
    g.kiosk_session_over = True  # session_headers: cookie, choices, Clear-Site-Data, no-store
    g.kiosk_session = None
    return redirect(_home_signed_out(), code=303)


@bp.post("/session/extend")
def extend():
    """继续办理 (and touches the server has not heard of): the request itself restarted the
    idle time (load_kiosk_session). Answers whether the session lives, and for how long at
    most, so the screen's countdown agrees with the server."""
    record = g.kiosk_session
    if record is None:
        return jsonify(live=False)
    return jsonify(live=True, idle_seconds=record.idle_seconds,
                   ends_in=max(0, int((record.expires_at - utcnow()).total_seconds())))


@bp.get("/session")
@not_activity
def status():
    """Whether this kiosk's session lives (without counting as activity)."""
    record = g.kiosk_session
    if record is None:
        return jsonify(live=False)
    idle_left = record.last_seen_at + timedelta(seconds=record.idle_seconds) - utcnow()
    return jsonify(live=True, idle_left=max(0, int(idle_left.total_seconds())),
                   ends_in=max(0, int((record.expires_at - utcnow()).total_seconds())))


@bp.route("/staff-login", methods=["GET", "POST"])
@ratelimit.login
def staff_login():
    """A helper or site manager logs in at this kiosk (assisted service) with the console
    password and the on-screen keyboard. Only staff of this kiosk's site (admins anywhere)."""
    error = None
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        try:
            staff = services.check_password(db.session, username=username, password=request.form.get("password", ""),
                                            ip=client_ip(), side=independent_session)
        except services.LoginRefused:
            error, status = services.REFUSED, 401  # one answer for a wrong password, an unknown name, a lock
        else:
            if may_serve_at(staff, g.kiosk):
                return _start_staff_session(staff)
            _refuse_staff(staff)
            error, status = "staff_login.not_here", 403
    else:
        status = 200
    return render_template("kiosk/staff_login.html", error=error, username=username), status


def may_serve_at(staff: StaffUser, kiosk) -> bool:
    """Admins at any kiosk; helpers and site managers at the kiosks of their own sites."""
    if not staff.active or staff.role not in KIOSK_STAFF_ROLES:
        return False
    scope = services.site_scope(db.session, staff)
    return scope is None or kiosk.site_id in scope


def _start_staff_session(staff: StaffUser) -> Response:
    idle, absolute = session_limits(g.kiosk, g.profile)
    actor = actors.staff(staff.username, name=staff.display_name, ip=client_ip())
    _record, token = sessions.start(db.session, channel="kiosk", staff=staff, kiosk_id=g.kiosk.id, idle_seconds=idle,
                                    absolute_seconds=absolute, actor=actor, ip=client_ip())
    audit.record(db.session, actor=actor, action="kiosk.staff_login", target=f"kiosk:{g.kiosk.number}",
                 details={"role": staff.role})
    return set_session_cookie(redirect(url_for("kiosk.catalog.home"), code=303), token)


def _refuse_staff(staff: StaffUser) -> None:
    """The right password, but not for this kiosk: refused (403, rolled back) and recorded."""
    record_after_request(partial(_record_refusal, username=staff.username, role=staff.role,
                                 kiosk_number=g.kiosk.number, ip=client_ip()))


def _record_refusal(session, *, username: str, role: str, kiosk_number: str, ip: str | None) -> None:
    audit.record(session, actor=actors.staff(username, ip=ip), action="kiosk.staff_login_refused",
                 target=f"kiosk:{kiosk_number}", details={"role": role})
