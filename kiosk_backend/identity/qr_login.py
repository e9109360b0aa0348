"""QR login: a kiosk shows a challenge, a resident's phone scans and confirms it, the kiosk
consumes it into a kiosk session (SECURITY.md, "QR login").

The challenge's life cycle::

    pending ──scan──▶ scanned ──confirm──▶ confirmed ──consume──▶ consumed
                         └──────deny─────▶ denied (flagged for admins)
    pending | scanned | confirmed ──▶ expired  (its time ran out, or the kiosk showed a new one)

The QR carries a random token (192 bits; only its hash is stored); the kiosk polls by id
with its own credential. Every move is one conditional UPDATE (``CHALLENGE.advance``) whose
WHERE clause holds the allowed source states, the deadline (``expires_at > now``) and, where
it matters, the resident or the kiosk: of two racing requests exactly one wins, on SQLite
as on PostgreSQL, and the loser is told what happened. Each move bumps ``version`` (the
kiosk's ETag) and is audited ``identity.challenge.<move>``.

Only the resident who scanned a challenge may confirm or deny it; a second person scanning a
challenge already scanned is refused, so a code photographed over a shoulder is worthless
once its owner has opened it. The match code (three digits) is shown on the kiosk and on
the phone, for the resident to compare: a QR relayed from another kiosk shows another code.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import DomainError, Forbidden, NotFound
from ..core.states import IllegalTransition, Lifecycle
from ..core.tokens import new_token, token_hash
from . import sessions
from .models import LoginChallenge, Resident, ResidentSession

MAX_TTL_SECONDS = 120  # SECURITY.md: a QR login code lives two minutes at most
MATCH_CODE_DIGITS = 3
TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters keep the QR code small


class ChallengeState(StrEnum):
    PENDING = "pending"
    SCANNED = "scanned"
    CONFIRMED = "confirmed"
    DENIED = "denied"
    CONSUMED = "consumed"
    EXPIRED = "expired"


S = ChallengeState
CHALLENGE = Lifecycle("login challenge", {
    S.PENDING: {S.SCANNED, S.EXPIRED},
    S.SCANNED: {S.CONFIRMED, S.DENIED, S.EXPIRED},
    S.CONFIRMED: {S.CONSUMED, S.EXPIRED},
    S.DENIED: set(),
    S.CONSUMED: set(),
    S.EXPIRED: set(),
})
LIVE = frozenset({S.PENDING, S.SCANNED, S.CONFIRMED})


class ChallengeGone(DomainError):
    """The challenge exists but can no longer be used: expired, denied or already used (410).
    ``state`` says which, for the page that tells the resident what to do."""

    status_code = 410

    def __init__(self, state: str):
        self.state = state
        super().__init__(f"This login code can no longer be used ({state}): scan the kiosk's new code.",
                         "此登录二维码已失效，请扫描终端屏幕上的新二维码。", errors={"state": [state]})


def _unknown() -> NotFound:
    return NotFound("Unknown login code: scan the code on the kiosk's screen again.",
                    "无效的登录二维码，请重新扫描终端屏幕上的二维码。")


def _not_yours() -> Forbidden:
    return Forbidden("This login code was opened by someone else: scan the kiosk's new code.",
                     "此登录二维码已被他人扫描，请扫描终端屏幕上的新二维码。")


# ------------------------------------------------------------------ pure helpers

def effective_state(challenge: LoginChallenge, moment: datetime) -> str:
    """The state as seen at ``moment``: a live challenge past its deadline is expired even
    before anyone has written so (the kiosk's poll reads without writing)."""
    if challenge.state in LIVE and moment >= challenge.expires_at:
        return S.EXPIRED.value
    return challenge.state


def new_match_code(avoid: str | None = None) -> str:
    """Three random digits, different from ``avoid`` (the kiosk's previous code, so that a
    phone still showing the old code does not match the new screen)."""
    while True:
        code = f"{secrets.randbelow(10 ** MATCH_CODE_DIGITS):0{MATCH_CODE_DIGITS}d}"
        if code != avoid:
            return code


def ttl_seconds() -> int:
    """KIOSK_QR_TTL_SECONDS, never above two minutes."""
    configured = current_app.config.get("KIOSK_QR_TTL_SECONDS", MAX_TTL_SECONDS) if has_app_context() else MAX_TTL_SECONDS
    return max(10, min(int(configured), MAX_TTL_SECONDS))


# ------------------------------------------------------------------ services

def create_challenge(session: Session, *, kiosk, actor: Actor, now=utcnow) -> tuple[LoginChallenge, str]:
    """A new challenge for ``kiosk`` and its token (for the QR; never stored, never shown
    again). The kiosk's older live challenges expire first: one kiosk shows one code.
    Flushes; audited ``identity.challenge.create`` (and ``.expire`` for each older one).

    Raises Forbidden for a kiosk that is not authorized.
    """
    if kiosk.state != "authorized":
        raise Forbidden("Only an authorized kiosk may show a login code.", "只有已授权的终端可以显示登录二维码。")
    moment = now()
    older = session.execute(sa.select(LoginChallenge.id, LoginChallenge.match_code)
                            .where(LoginChallenge.kiosk_id == kiosk.id,
                                   LoginChallenge.state.in_([str(s) for s in LIVE]))
                            .order_by(LoginChallenge.id)).all()
    for challenge_id, _ in older:
        _expire(session, challenge_id, actor=actor, now=now, reason="replaced")
    last_code = older[-1].match_code if older else None
    token = new_token(TOKEN_BYTES)
    challenge = LoginChallenge(token_hash=token_hash(token), kiosk_id=kiosk.id, match_code=new_match_code(last_code),
                               state=S.PENDING.value, version=1, created_at=moment,
                               expires_at=moment + timedelta(seconds=ttl_seconds()), flagged=False)
    session.add(challenge)
    session.flush()
    _audit(session, challenge, "create", actor=actor, now=now, details={"kiosk_id": kiosk.id})
    return challenge, token


def by_token(session: Session, token: str | None) -> LoginChallenge | None:
    if not token or len(token) > 128:
        return None
    return session.scalar(sa.select(LoginChallenge).where(LoginChallenge.token_hash == token_hash(token)))


def poll(session: Session, challenge_id: int, *, kiosk):
    """What the kiosk's poll needs of challenge ``challenge_id`` (``id``, ``state``,
    ``version``, ``expires_at``) if it belongs to ``kiosk``, else None: one primary-key SELECT
    of four columns, no ORM object, no write (every waiting kiosk asks twice a second)."""
    return session.execute(
        sa.select(LoginChallenge.id, LoginChallenge.state, LoginChallenge.version, LoginChallenge.expires_at)
        .where(LoginChallenge.id == challenge_id, LoginChallenge.kiosk_id == kiosk.id)).first()


def _of_kiosk(session: Session, challenge_id: int, kiosk) -> LoginChallenge | None:
    challenge = session.get(LoginChallenge, challenge_id)
    return challenge if challenge is not None and challenge.kiosk_id == kiosk.id else None


def scan(session: Session, token: str, *, resident: Resident, actor: Actor, ip: str | None = None,
         now=utcnow) -> LoginChallenge:
    """``resident`` opened the challenge of ``token`` on their phone: pending → scanned,
    bound to them. Opening it again (a reload) by the same resident changes nothing.
    Flushes; audited ``identity.challenge.scan``.

    Raises NotFound for an unknown token, ChallengeGone (410) when it expired (marking it so),
    was denied or used, Forbidden when another resident scanned it first.
    """
    challenge = by_token(session, token)
    if challenge is None:
        raise _unknown()
    moment = now()
    moved = CHALLENGE.advance(session, LoginChallenge, challenge.id, S.SCANNED,
                              where=[LoginChallenge.expires_at > moment],
                              resident_id=resident.id, scanned_at=moment, scan_ip=ip,
                              version=LoginChallenge.version + 1)
    session.refresh(challenge)
    if moved:
        _audit(session, challenge, "scan", actor=actor, now=now, details={"resident_id": resident.id})
        return challenge
    if challenge.state in (S.SCANNED, S.CONFIRMED) and challenge.resident_id != resident.id:
        raise _not_yours()
    _refuse_if_gone(session, challenge, actor=actor, now=now)
    return challenge  # scanned (or confirmed) by this resident already: shown again


def confirm(session: Session, token: str, *, resident: Resident, actor: Actor, ip: str | None = None,
            now=utcnow) -> LoginChallenge:
    """The resident who scanned the challenge confirms it: scanned → confirmed. First
    decision wins. Flushes; audited ``identity.challenge.confirm``.

    Raises NotFound, ChallengeGone (expired, denied or used), Forbidden (scanned by another
    resident), IllegalTransition (not scanned yet, or already confirmed).
    """
    return _decide(session, token, S.CONFIRMED, resident=resident, actor=actor, ip=ip, now=now)


def deny(session: Session, token: str, *, resident: Resident, actor: Actor, ip: str | None = None,
         now=utcnow) -> LoginChallenge:
    """"不是我 / 我不在这台机器前": scanned → denied, and flagged for administrators. First
    decision wins. Flushes; audited ``identity.challenge.deny``. Raises like :func:`confirm`."""
    return _decide(session, token, S.DENIED, resident=resident, actor=actor, ip=ip, now=now)


def _decide(session: Session, token: str, target: ChallengeState, *, resident: Resident, actor: Actor,
            ip: str | None, now) -> LoginChallenge:
    challenge = by_token(session, token)
    if challenge is None:
        raise _unknown()
    moment = now()
    values = {"decided_at": moment, "decision_ip": ip, "version": LoginChallenge.version + 1}
    if target == S.DENIED:
        values["flagged"] = True
    moved = CHALLENGE.advance(session, LoginChallenge, challenge.id, target,
                              where=[LoginChallenge.expires_at > moment, LoginChallenge.resident_id == resident.id],
                              **values)
    session.refresh(challenge)
    if moved:
        _audit(session, challenge, "confirm" if target == S.CONFIRMED else "deny", actor=actor, now=now,
               details={"resident_id": resident.id})
        return challenge
    if challenge.resident_id is not None and challenge.resident_id != resident.id:
        raise _not_yours()
    _refuse_if_gone(session, challenge, actor=actor, now=now)
    CHALLENGE.check(challenge.state, target)  # pending: not scanned yet
    raise IllegalTransition("This login code has already been decided.", "此登录请求已处理。",
                            errors={"state": [challenge.state]})  # confirmed: a second decision


def consume(session: Session, challenge_id: int, *, kiosk, actor: Actor, ip: str | None = None,
            now=utcnow) -> tuple[ResidentSession, str]:
    """The kiosk takes its confirmed challenge: confirmed → consumed, and a kiosk session
    starts for the resident (:func:`sessions.start` with identity.kiosk's ``session_limits``:
    the idle time the kiosk's screen counts, KIOSK_KIOSK_SESSION_MAX_MINUTES). Returns the session and its token, once.
    Flushes; audited ``identity.challenge.consume`` (and ``identity.session.start``).

    Raises NotFound (no such challenge on this kiosk), ChallengeGone (expired, denied or
    used: a replay), IllegalTransition (not confirmed yet).
    """
    challenge = _of_kiosk(session, challenge_id, kiosk)
    if challenge is None:
        raise _unknown()
    moment = now()
    moved = CHALLENGE.advance(session, LoginChallenge, challenge.id, S.CONSUMED,
                              where=[LoginChallenge.expires_at > moment, LoginChallenge.kiosk_id == kiosk.id],
                              consumed_at=moment, version=LoginChallenge.version + 1)
    session.refresh(challenge)
    if not moved:
        _refuse_if_gone(session, challenge, actor=actor, now=now)
        CHALLENGE.check(challenge.state, S.CONSUMED)
        raise IllegalTransition("This login code is not confirmed.", "此登录请求尚未确认。")  # pragma: no cover
    from .kiosk import session_limits  # the kiosk session's own rules (its module imports the web layer)

    idle, absolute = session_limits(kiosk)
    record, token = sessions.start(session, channel="kiosk", idle_seconds=idle, absolute_seconds=absolute,
                                   actor=actor, resident=challenge.resident, kiosk_id=kiosk.id, ip=ip, now=now)
    challenge.session_id = record.id
    if challenge.resident is not None:
        challenge.resident.last_login_at = moment
    session.flush()
    _audit(session, challenge, "consume", actor=actor, now=now,
           details={"resident_id": challenge.resident_id, "session_id": record.id})
    return record, token


def expire_due(session: Session, *, actor: Actor, now=utcnow, limit: int = 500) -> int:
    """Mark live challenges past their deadline expired (audited); returns how many. The
    services already treat them as expired; this keeps the table and the console honest."""
    moment = now()
    due = session.scalars(sa.select(LoginChallenge.id).where(
        LoginChallenge.state.in_([str(s) for s in LIVE]), LoginChallenge.expires_at <= moment)
        .order_by(LoginChallenge.id).limit(limit)).all()
    return sum(_expire(session, challenge_id, actor=actor, now=now, reason="timeout") for challenge_id in due)


def _expire(session: Session, challenge_id: int, *, actor: Actor, now, reason: str) -> bool:
    moved = CHALLENGE.advance(session, LoginChallenge, challenge_id, S.EXPIRED,
                              version=LoginChallenge.version + 1)
    if moved:
        audit.record(session, actor=actor, action="identity.challenge.expire", target=f"challenge:{challenge_id}",
                     details={"reason": reason}, now=now)
        session.flush()
    return moved


def _refuse_if_gone(session: Session, challenge: LoginChallenge, *, actor: Actor, now) -> None:
    """Raise ChallengeGone if ``challenge`` is expired (writing so, if it was still live),
    denied or consumed; return for a challenge still live."""
    state = effective_state(challenge, now())
    if state == S.EXPIRED and challenge.state in LIVE:
        _expire(session, challenge.id, actor=actor, now=now, reason="timeout")
        session.refresh(challenge)
        state = challenge.state if challenge.state not in LIVE else S.EXPIRED.value
    if state in (S.EXPIRED, S.DENIED, S.CONSUMED):
        raise ChallengeGone(state)


def _audit(session: Session, challenge: LoginChallenge, move: str, *, actor: Actor, now, details=None) -> None:
    audit.record(session, actor=actor, action=f"identity.challenge.{move}", target=f"challenge:{challenge.id}",
                 details=details, now=now)
    session.flush()
