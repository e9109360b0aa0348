"""The phone's side of QR login (identity/qr_login.py): the kiosk's QR code opens
``/m/login/<token>``.

After the phone's own login (identity.mobile ``login_required``, which comes back here),
opening the page scans the challenge and shows where the kiosk is (site, address, kiosk
number) and the match code, with 确认登录 and 不是我 / 我不在这台机器前 equally large
(POST forms; core.web refuses POSTs from other sites). A code that is unknown, expired,
used, denied or opened by someone else gets a plain page saying so and what to do (scan
the kiosk's new code), with status 200: it is the normal answer to a stale code, not an
error.
"""
from __future__ import annotations

from flask import Blueprint, g, render_template

from ..core import ratelimit
from ..core.errors import DomainError, Forbidden, NotFound
from ..core.requests import client_ip
from ..core.states import IllegalTransition
from ..extensions import db
from ..fleet.models import Kiosk
from . import qr_login
from .mobile import login_required
from .qr_login import ChallengeGone

bp = Blueprint("qr", __name__)


def _gone_page(exc: DomainError):
    """The plain page for a code that cannot be used: why, and what to do."""
    if isinstance(exc, ChallengeGone):
        reason = exc.state  # expired | denied | consumed
    elif isinstance(exc, Forbidden):
        reason = "taken"
    elif isinstance(exc, NotFound):
        reason = "unknown"
    else:
        raise exc
    return render_template("mobile/qr_gone.html", reason=reason), 200


def _where(challenge) -> dict:
    kiosk = db.session.get(Kiosk, challenge.kiosk_id)
    return {"site": kiosk.site.name, "address": kiosk.site.address, "kiosk_number": kiosk.number}


@bp.get("/login/<string(maxlength=64):token>")
@login_required
@ratelimit.qr_login
def code(token: str):
    """The phone opened the kiosk's QR code: scan it, show where and the match code."""
    try:
        challenge = qr_login.scan(db.session, token, resident=g.resident, actor=g.actor, ip=client_ip())
    except (ChallengeGone, Forbidden, NotFound) as exc:
        return _gone_page(exc)
    if challenge.state == qr_login.S.CONFIRMED:  # confirmed already, opened again
        return render_template("mobile/qr_done.html", outcome="confirmed", **_where(challenge))
    return render_template("mobile/qr_confirm.html", token=token, match_code=challenge.match_code,
                           **_where(challenge))


@bp.post("/login/<string(maxlength=64):token>/confirm")
@login_required
@ratelimit.qr_login
def confirm(token: str):
    """确认登录: the kiosk logs this resident in on its next poll."""
    return _decide(token, qr_login.confirm, "confirmed")


@bp.post("/login/<string(maxlength=64):token>/deny")
@login_required
@ratelimit.qr_login
def deny(token: str):
    """不是我 / 我不在这台机器前: the code is refused and flagged for administrators."""
    return _decide(token, qr_login.deny, "denied")


def _decide(token: str, step, outcome: str):
    try:
        challenge = step(db.session, token, resident=g.resident, actor=g.actor, ip=client_ip())
    except IllegalTransition:
        # Decided already (a double tap, or confirmed in the mini-app): say what stands.
        challenge = qr_login.by_token(db.session, token)
        return render_template("mobile/qr_done.html", outcome=challenge.state, **_where(challenge))
    except (ChallengeGone, Forbidden, NotFound) as exc:
        return _gone_page(exc)
    return render_template("mobile/qr_done.html", outcome=outcome, **_where(challenge))
