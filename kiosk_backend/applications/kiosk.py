"""Kiosk screens for progress (办件进度): look up by number and last 4 characters, my
applications, the printed receipt.

- ``GET /kiosk/progress``: the lookup form (办件编号 + the last 4 characters of the ID number
  or mobile, typed on the on-screen keyboard); a resident logged in at this kiosk sees their
  own applications (我的办件) above it.
- ``POST /kiosk/progress``: the lookup (rate-limited per kiosk, IP and number). The answer is
  rendered directly, never redirected to: a result must not be reachable again from the
  browser's history or a bookmark on a shared screen (every kiosk page is ``no-store``).
  Unknown and not yours are one answer (the same template, words and status).
- The result carries a short-lived *view token*, signed with the app's secret and bound to
  this kiosk, the number and the kiosk session (if someone is logged in): it re-shows the
  result (after a change of language or text size, back from printing) and it is the only
  key to the receipt. The number alone opens nothing.
- ``GET /kiosk/progress/mine`` and ``/kiosk/progress/<number>``: the logged-in resident's own
  applications; anyone else's number gets the lookup's not-found answer.
"""
from __future__ import annotations

import io
import math
import time
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItemPerSecond
from werkzeug.exceptions import NotFound, TooManyRequests

from ..catalog.kiosk import PRINT_GUARD_SECONDS
from ..core import ratelimit
from ..core.clock import LOCAL_TZ, utcnow
from ..core.errors import Invalid
from ..core.kiosk_shell import register_tile, require_feature
from ..core.printing import PAPERS, qr_image, render_pdf, render_png
from ..core.printing.links import public_url
from ..extensions import db, limiter
from ..fleet import services as fleet
from . import deadlines, progress, services
from .receipt import applicant_words, deadline_words, event_details, receipt_blocks, state_words

bp = Blueprint("progress", __name__)

register_tile("progress.tile", "kiosk.progress.index", "progress.svg", 50, "progress")

# A view token lives this long: long enough to read the result slowly and print it, short
# enough that a screen left behind does not keep someone's application open for the next person.
TOKEN_SECONDS = 10 * 60
TOKEN_SALT = "kiosk.progress.view"
# Printouts and codes of someone's application are kept by no cache (HTML is no-store anyway).
NO_STORE = {"Cache-Control": "no-store"}
MINE_ON_FORM = 3   # 我的办件 on the lookup screen; the rest on /kiosk/progress/mine
MINE_PAGE = 10
# The words of a state come with a symbol, so that colour is never the only signal (UX.md).
STATE_LOOK = {
    "received": ("wait", "⏳"), "accepted": ("wait", "⏳"), "supplemented": ("wait", "⏳"),
    "in_progress": ("wait", "⏳"), "supplement_requested": ("act", "⚠"), "special_procedure": ("pause", "⏸"),
    "not_accepted": ("stop", "✕"), "concluded": ("done", "✓"), "delivered": ("done", "✓"), "rated": ("done", "✓"),
}


@bp.app_template_filter("progress_time")
def progress_time(moment: datetime | None) -> str:
    """A timeline moment in China Standard Time, to the minute."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


# ===================================================================== view tokens

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token(number: str, *, kiosk_id: int, session_id: int | None, now=utcnow) -> str:
    """A token that shows application ``number`` on kiosk ``kiosk_id`` for TOKEN_SECONDS, and
    only in the kiosk session ``session_id`` when one is given (it dies with a logout)."""
    expires = int(now().timestamp()) + TOKEN_SECONDS
    return _serializer().dumps({"n": number, "k": kiosk_id, "s": session_id, "e": expires})


def read_token(token: str | None, *, kiosk_id: int, session_id: int | None, now=utcnow) -> str | None:
    """The application number ``token`` opens here and now, or None (forged, expired, another
    kiosk, another session)."""
    try:
        data = _serializer().loads(token or "")
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != kiosk_id or not isinstance(data.get("n"), str):
        return None
    if not isinstance(data.get("e"), int) or data["e"] <= now().timestamp():
        return None
    if data.get("s") is not None and data["s"] != session_id:
        return None
    return data["n"]


def _session_id() -> int | None:
    record = getattr(g, "kiosk_session", None)
    return record.id if record is not None else None


def _token_for(number: str) -> str:
    return issue_token(number, kiosk_id=g.kiosk.id, session_id=_session_id())


def _number_from_token() -> str | None:
    return read_token(request.values.get("t"), kiosk_id=g.kiosk.id, session_id=_session_id())


# ===================================================================== presenting

def _view(application, *, timeline: bool = True) -> dict:
    from ..core import calendar_store  # the admins' working-day calendar (core/calendar_store.py)

    data = progress.view(application, calendar=calendar_store.calendar(db.session),
                         today=deadlines.china_day(utcnow()), timeline=timeline)
    lang = _lang()
    data["look"], data["symbol"] = STATE_LOOK[data["state"]]
    data["state_words"], data["deadline_words"] = state_words(data, lang), deadline_words(data, lang)
    data["applicant_words"] = applicant_words(data)
    # Newest first: the line that matters (what happened last) is the first one read.
    data["recent_first"] = [{**event, "details": event_details(event, lang)}
                            for event in reversed(data.get("timeline") or [])]
    return data


def _mine(limit: int, offset: int = 0) -> list[dict]:
    return [_view(a, timeline=False) for a in services.for_resident(db.session, g.resident, limit=limit, offset=offset)]


def _form(*, number: str = "", errors: dict | None = None, not_found: bool = False, expired: bool = False,
          status: int = 200):
    """The lookup screen, with 我的办件 above it for a logged-in resident."""
    mine = _mine(MINE_ON_FORM + 1) if g.resident is not None else []
    return render_template("kiosk/progress.html", number=number, errors=errors or {}, not_found=not_found,
                           expired=expired, mine=mine[:MINE_ON_FORM], more_mine=len(mine) > MINE_ON_FORM), status


def _result(application):
    """The result screen of one application (masked), with its view token."""
    view = _view(application)
    return render_template("kiosk/progress_result.html", app=view, token=_token_for(view["number"]))


def _paper_of_kiosk() -> str | None:
    profile = getattr(g, "profile", None)
    return profile.printer_kind if profile is not None else "thermal80"


# ===================================================================== the lookup

@bp.get("/progress")
def index():
    require_feature("progress")
    return _form()


@bp.post("/progress")
@ratelimit.progress_lookup
def lookup():
    """Number + last 4 characters → the result; malformed input → the form naming the field
    (422); unknown or not this person's → one answer (404), the number kept in its box."""
    require_feature("progress")
    raw_number, raw_tail = request.form.get("number", "")[:64], request.form.get("tail", "")[:16]
    errors = _format_errors(raw_number, raw_tail)
    if errors:
        return _form(number=raw_number.strip(), errors=errors, status=422)
    try:
        application = services.lookup(db.session, raw_number, raw_tail)
    except services.ApplicationNotFound:
        return _form(number=services.normalize_number(raw_number), not_found=True, status=404)
    return _result(application)


def _format_errors(number: str, tail: str) -> dict[str, str]:
    """Both fields checked, so one answer names every field to correct (message keys)."""
    errors = {}
    for field, normalize in (("number", services.normalize_number), ("tail", services.normalize_tail)):
        try:
            normalize(number if field == "number" else tail)
        except Invalid:
            errors[field] = f"progress.error.{field}"
    return errors


@bp.post("/progress/result")
def result():
    """The result again, from its view token: after 长辈版 / English, or back from printing."""
    require_feature("progress")
    number = _number_from_token()
    application = services.get_by_number(db.session, number) if number else None
    if application is None:
        return _form(expired=True, status=410)
    return _result(application)


@bp.errorhandler(TooManyRequests)
def too_many(error):
    """Too many lookups (of this number, from this kiosk or address): a calm screen saying how
    long to wait and where a person can help, instead of the bare error page."""
    current = limiter.current_limit
    # reset_at is a whole second rounded up: a minute's window reads 60.x seconds.
    seconds = int(current.reset_at - time.time()) if current is not None else 60
    minutes = max(1, math.ceil(seconds / 60))
    return render_template("kiosk/progress_wait.html", minutes=minutes), 429


# ===================================================================== my applications

@bp.get("/progress/mine")
def mine():
    """All of the logged-in resident's applications, newest first, a page at a time."""
    require_feature("progress")
    if g.resident is None:
        return _form()
    page = max(1, min(1000, request.args.get("page", 1, type=int) or 1))
    rows = _mine(MINE_PAGE + 1, (page - 1) * MINE_PAGE)
    return render_template("kiosk/progress_mine.html", mine=rows[:MINE_PAGE], page=page,
                           has_next=len(rows) > MINE_PAGE)


@bp.get("/progress/<string:number>")
def detail(number):
    """The logged-in resident's own application; anything else is the lookup's not-found."""
    require_feature("progress")
    try:
        application = services.get_for_resident(db.session, number, g.resident)
    except (services.ApplicationNotFound, Invalid):
        return _form(not_found=True, status=404)
    return _result(application)


# ===================================================================== the receipt

def _receipt_application():
    """The application of the view token in the query, or None."""
    number = _number_from_token()
    return services.get_by_number(db.session, number) if number else None


def _paper(default: str | None = None):
    """The paper asked for, if this kiosk prints on it: the receipt goes to the printer its
    device profile names (80 mm thermal or A4). 400 for an unknown paper, 404 for another."""
    name = request.args.get("paper") or default or _paper_of_kiosk()
    paper = PAPERS.get(name or "")
    if paper is None and name:
        abort(400)
    if paper is None or paper.name != _paper_of_kiosk():
        abort(404)
    return paper


def _phone_url(number: str) -> str:
    # The phone page of the application (its own login or the same second factor there);
    # KIOSK_PUBLIC_URL is the address phones reach, refused (503) in production without it.
    return public_url(f"/m/applications/{number}")


def _blocks(application):
    view = _view(application)
    return receipt_blocks(view, lang=_lang(), phone_url=_phone_url(view["number"]), kiosk_number=g.kiosk.number,
                          printed_at=utcnow())


def _lang() -> str:
    profile = getattr(g, "profile", None)
    lang = getattr(g, "lang", "zh-CN")
    return lang if profile is None or lang in profile.ui.languages else "zh-CN"


@bp.get("/progress/receipt")
def print_preview():
    """The print screen of a receipt (kiosk/print.js prints the image once the print job below
    is accepted). A kiosk without a printer gets the QR code to the phone page instead (404,
    as there is no printout here); an expired or foreign view token, the lookup form (410)."""
    require_feature("progress")
    application = _receipt_application()
    if application is None:
        return _form(expired=True, status=410)
    view, token = _view(application, timeline=False), request.args["t"]
    try:
        paper = _paper()
    except NotFound:
        return render_template("kiosk/progress_print.html", app=view, token=token, paper=None), 404
    return render_template("kiosk/progress_print.html", app=view, token=token, paper=paper,
                           guard_seconds=PRINT_GUARD_SECONDS)


@bp.post("/progress/receipt/print")
def print_job():
    """One print of this receipt, asked for by the print screen just before it prints: 202;
    409 with Retry-After when this kiosk printed it less than PRINT_GUARD_SECONDS ago (a
    double tap), as for the guide."""
    require_feature("progress")
    _paper()
    application = _receipt_application()
    if application is None:
        return jsonify(status="expired"), 410
    if not _first_print_in_window(application.number):
        return (jsonify(status="duplicate", retry_after=PRINT_GUARD_SECONDS), 409,
                {"Retry-After": str(PRINT_GUARD_SECONDS)})
    # Counted in the request's own transaction, not beside it: with someone logged in the
    # request has already written (the session's last activity), and on SQLite a second
    # writer would wait for it until the busy timeout.
    fleet.record_usage(db.session, g.kiosk, "print")
    return jsonify(status="accepted"), 202


def _first_print_in_window(number: str) -> bool:
    window = RateLimitItemPerSecond(1, PRINT_GUARD_SECONDS)
    try:
        return limiter.limiter.hit(window, "print-guard", str(g.kiosk.id), f"receipt:{number}")
    except Exception:  # the store failed (Redis down): a lost guard is better than a lost printout
        current_app.logger.warning("print guard store failed; printing without the guard", exc_info=True)
        return True


def _receipt_or_expired():
    application = _receipt_application()
    if application is None:
        raise NotFound("This receipt has expired: look the application up again. / 回执已失效，请重新查询。")
    return application


@bp.get("/progress/receipt.png")
def receipt_png():
    require_feature("progress")
    paper = _paper()
    application = _receipt_or_expired()
    return Response(render_png(_blocks(application), paper), mimetype="image/png",
                    headers={"Content-Disposition": f'inline; filename="{application.number}-{paper.name}.png"',
                             **NO_STORE})


@bp.get("/progress/receipt.pdf")
def receipt_pdf():
    require_feature("progress")
    _paper("a4")
    application = _receipt_or_expired()
    return Response(render_pdf(_blocks(application), PAPERS["a4"]), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{application.number}.pdf"', **NO_STORE})


@bp.get("/progress/qr.png")
def phone_qr():
    """The QR code to the application's phone page, shown on the result screen (and on the
    print screen of a kiosk that cannot print)."""
    require_feature("progress")
    application = _receipt_or_expired()
    out = io.BytesIO()
    qr_image(_phone_url(application.number), 360).save(out, format="PNG", optimize=True)
    return Response(out.getvalue(), mimetype="image/png", headers=NO_STORE)
