"""The admin console's gate (server-side sessions, CSRF, roles), login/logout and the audit log."""
from __future__ import annotations

import hmac
from datetime import datetime, time, timedelta
from functools import partial

import sqlalchemy as sa
from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from ..core import actors, audit, ratelimit
from ..core.clock import LOCAL_TZ, utcnow
from ..core.errors import Forbidden
from ..core.i18n import DEFAULT_LANGUAGE, catalogue, translate
from ..core.requests import client_ip, independent_session, require_role
from ..core.web import db_id
from ..extensions import db
from ..fleet.models import Kiosk
from . import residents, services
from .models import LoginChallenge, ResidentSession

bp = Blueprint("identity", __name__)

COOKIE = "kiosk_admin"
OPEN_ENDPOINTS = {"admin.identity.login"}
CONSOLE_ROLES = ("admin", "site_manager")


def require_staff_session():
    """before_request of the admin surface: a live session, a console role, and a valid
    CSRF token on every state-changing request."""
    open_endpoint = request.endpoint in OPEN_ENDPOINTS
    # The login page leaves the cookie's session untouched: on SQLite a pending write of
    # last_seen_at would be autoflushed by the login's first SELECT and hold the write lock
    # that the failed-login count (written on an independent session) must wait for.
    record = services.current_session(db.session, request.cookies.get(COOKIE), touch=not open_endpoint)
    g.admin_session = record
    if open_endpoint:
        return None
    if record is None:
        return redirect(url_for("admin.identity.login", next=request.full_path if request.method == "GET" else None))
    # current_session() moved the sliding idle timeout forward (at most once a minute); core
    # commits once per request, and only when the answer is below 400, so the touch is saved
    # with a successful request and rolled back with a refused or failed one.
    if record.staff.role not in CONSOLE_ROLES and request.endpoint != "admin.identity.logout":
        raise Forbidden("The console is for admins and site managers.", "管理后台仅限管理员和网点负责人使用。")
    g.staff = record.staff
    g.actor = actors.staff(record.staff.username, name=record.staff.display_name, ip=client_ip())
    g.site_ids = services.site_scope(db.session, record.staff)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(record)
    return None


def check_csrf(record) -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(sent.encode(), record.csrf_token.encode()):
        abort(400, description="csrf")


def admin_context() -> dict:
    record = getattr(g, "admin_session", None)
    return {"staff": record.staff if record else None, "csrf_token": record.csrf_token if record else ""}


@bp.route("/login", methods=["GET", "POST"])
@ratelimit.login
def login():
    error = None
    if request.method == "POST":
        # The attempt's claim is committed on a transaction of its own before the password is
        # checked, and so are a refusal's records: a refused login answers 401, and the
        # request's own transaction is rolled back.
        try:
            token, _record = services.login(db.session, username=request.form.get("username", "").strip(),
                                            password=request.form.get("password", ""), ip=client_ip(),
                                            side=independent_session)
        except services.LoginRefused as exc:
            error = exc
        if error is None:
            target = request.args.get("next") or ""
            # Only our own console pages, and nothing a Location header cannot carry (CR/LF).
            if not target.startswith("/admin/") or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
                target = url_for("admin.fleet.grid")
            response = redirect(target)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure,
                                path="/admin")
            return response
    return render_template("admin/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    services.logout(db.session, g.admin_session, actor=g.actor)
    response = redirect(url_for("admin.identity.login"))
    response.delete_cookie(COOKIE, path="/admin")
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response


@bp.get("/audit")
def audit_log():
    """The append-only audit log, newest first, filterable."""
    require_role("admin")
    args = request.args

    def text(name):  # PostgreSQL refuses NUL even in a comparison
        return args.get(name, "").replace("\x00", "")[:200] or None

    before = args.get("before", type=db_id)
    entries = audit.search(db.session, actor=text("actor"), action=text("action"), target=text("target"),
                           before_id=before, limit=100)
    lang = getattr(g, "lang", DEFAULT_LANGUAGE)
    return render_template("admin/audit.html", entries=entries, args=args,
                           action_name=partial(audit_action_name, lang=lang),
                           details_of=partial(audit_details, lang=lang))


def audit_action_name(action: str, *, lang: str) -> str:
    """The action in words (``admin.audit_action.<code>``); commands by their name; else the code."""
    known = catalogue()
    if f"admin.audit_action.{action}" in known:
        return translate(f"admin.audit_action.{action}", lang)
    kind = action.removeprefix("command.")
    if kind != action and f"admin.command.{kind}" in known:
        return translate("admin.audit_action.command", lang, command=translate(f"admin.command.{kind}", lang))
    return action


# Detail values that are codes with words of their own in the catalogue.
_CODED_DETAILS = {"state": "admin.state.", "role": "admin.role.", "kind": ("admin.alert_kind.", "admin.command.")}


def audit_details(details: dict | None, *, lang: str) -> list[tuple[str, str]]:
    """(label, value) pairs of an entry's details in words, instead of its raw JSON."""
    known = catalogue()
    out = []
    for key, value in (details or {}).items():
        label = translate(f"admin.audit_detail.{key}", lang) if f"admin.audit_detail.{key}" in known else key
        out.append((label, _detail_value(key, value, lang, known)))
    return out


def _detail_value(key: str, value, lang: str, known) -> str:
    if isinstance(value, bool):
        return translate("admin.yes" if value else "admin.no", lang)
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list | tuple):
        return ("、" if lang != "en" else ", ").join(_detail_value(key, item, lang, known) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_detail_value(k, v, lang, known)}" for k, v in value.items())
    prefixes = _CODED_DETAILS.get(key, ())
    for prefix in (prefixes,) if isinstance(prefixes, str) else prefixes:
        if f"{prefix}{value}" in known:
            return translate(f"{prefix}{value}", lang)
    return str(value)


# ---------------------------------------------------------------- resident logins

@bp.get("/logins")
def logins():
    """Residents' logins: challenges flagged by a "not me" (denied), and how many sessions
    started and ended today and in the last 7 days, by channel and by reason. Site managers
    see their own sites' kiosks only (phone and mini-app sessions belong to no site)."""
    scope = g.site_ids
    return render_template("admin/logins.html", flagged=flagged_challenges(db.session, site_ids=scope),
                           periods=session_counts(db.session, site_ids=scope), mask_name=residents.mask_name,
                           channels=("kiosk", "mobile", "api"), reasons=_END_REASONS)


_END_REASONS = ("logout", "idle", "expired", "revoked", "replaced")


def flagged_challenges(session: Session, *, site_ids: set[int] | None,
                       limit: int = 100) -> list[tuple[LoginChallenge, Kiosk]]:
    """Denied ("不是我 / 我不在这台机器前") challenges with their kiosk, newest first, of the
    kiosks in ``site_ids`` (None: all)."""
    query = (sa.select(LoginChallenge, Kiosk).join(Kiosk, Kiosk.id == LoginChallenge.kiosk_id)
             .where(LoginChallenge.flagged.is_(True))
             .order_by(LoginChallenge.created_at.desc(), LoginChallenge.id.desc()).limit(limit))
    if site_ids is not None:
        query = query.where(Kiosk.site_id.in_(site_ids))
    return [(challenge, kiosk) for challenge, kiosk in session.execute(query)]


def session_counts(session: Session, *, site_ids: set[int] | None, now=utcnow) -> list[dict]:
    """For today (since local midnight) and the last 7 days: sessions started (all and per
    channel) and ended (per reason)."""
    moment = now()
    midnight = datetime.combine(moment.astimezone(LOCAL_TZ).date(), time(), tzinfo=LOCAL_TZ)
    periods = []
    for name, since in (("today", midnight), ("week", moment - timedelta(days=7))):
        started = sa.select(ResidentSession.channel, sa.func.count()).where(ResidentSession.created_at >= since)
        ended = sa.select(ResidentSession.end_reason, sa.func.count()).where(ResidentSession.ended_at >= since)
        if site_ids is not None:
            kiosks = sa.select(Kiosk.id).where(Kiosk.site_id.in_(site_ids))
            started = started.where(ResidentSession.kiosk_id.in_(kiosks))
            ended = ended.where(ResidentSession.kiosk_id.in_(kiosks))
        by_channel = dict(session.execute(started.group_by(ResidentSession.channel)).all())
        by_reason = dict(session.execute(ended.group_by(ResidentSession.end_reason)).all())
        periods.append({"name": name, "started": sum(by_channel.values()), "by_channel": by_channel,
                        "ended": sum(by_reason.values()), "by_reason": by_reason})
    return periods
