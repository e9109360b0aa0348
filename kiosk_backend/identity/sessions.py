"""Sessions of people using the service: a resident on a kiosk (after a QR login), on the
phone pages or in the mini-app, or a staff member logged in at a kiosk.

Server-side and revocable (SECURITY.md, "Sessions on a shared screen"): the client holds a
random 256-bit token, the table (identity_resident_session) holds its hash, and every request
asks :func:`lookup`, which ends a session that has gone idle or reached its absolute limit
on the server's own clock, whatever the browser does. A kiosk has at most one live session:
starting one ends the one before (``replaced``). Every start and end is audited once, with
its reason: ending is one conditional UPDATE, so of two racing ends (a logout and the
idle sweep) exactly one is recorded.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import actors, audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.tokens import new_token, token_hash
from .models import Resident, ResidentSession, StaffUser
from .residents import mask_name

CHANNELS = ("kiosk", "mobile", "api")


class EndReason(StrEnum):
    LOGOUT = "logout"      # the person pressed 退出 (or the mini-app logged out)
    IDLE = "idle"          # nobody touched it for its idle time
    EXPIRED = "expired"    # it reached its absolute limit
    REVOKED = "revoked"    # an admin or the system ended it
    REPLACED = "replaced"  # a new login on the same kiosk


def start(session: Session, *, channel: str, idle_seconds: int, absolute_seconds: int, actor: Actor,
          resident: Resident | None = None, staff: StaffUser | None = None, kiosk_id: int | None = None,
          ip: str | None = None, now=utcnow) -> tuple[ResidentSession, str]:
    """Start a session for exactly one of ``resident`` or ``staff`` and return it with its
    token, which is never stored and never shown again. On a kiosk (``kiosk_id``) the kiosk's
    live session, if any, ends first (``replaced``). Flushes; audited
    ``identity.session.start``.

    Raises ValueError for an unknown channel, for both or neither of resident and staff,
    for a kiosk session without a kiosk, or for limits that are not positive.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if (resident is None) == (staff is None):
        raise ValueError("a session belongs to a resident or to a staff member, exactly one")
    if channel == "kiosk" and kiosk_id is None:
        raise ValueError("a kiosk session needs its kiosk")
    if idle_seconds <= 0 or absolute_seconds <= 0:
        raise ValueError("session limits must be positive")
    moment = now()
    if kiosk_id is not None:
        for earlier in session.scalars(sa.select(ResidentSession).where(
                ResidentSession.kiosk_id == kiosk_id, ResidentSession.ended_at.is_(None))):
            end(session, earlier, reason=EndReason.REPLACED, actor=actor, now=now)
    token = new_token()
    record = ResidentSession(
        token_hash=token_hash(token), channel=channel, resident=resident, staff=staff, kiosk_id=kiosk_id,
        created_at=moment, last_seen_at=moment, idle_seconds=idle_seconds,
        expires_at=moment + timedelta(seconds=absolute_seconds), ip=ip,
    )
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="identity.session.start", target=_target(record),
                 details={"channel": channel, "kiosk_id": kiosk_id, "idle_seconds": idle_seconds,
                          "absolute_seconds": absolute_seconds}, now=now)
    session.flush()
    return record, token


def lookup(session: Session, token: str | None, *, channel: str, kiosk_id: int | None = None,
           touch: bool = True, actor: Actor | None = None, now=utcnow) -> ResidentSession | None:
    """The live session for ``token`` on ``channel`` (and on that kiosk, for a kiosk
    session), or None. A session found past its idle time or absolute limit is ended here
    (``idle`` / ``expired``, audited as ``actor`` or the session's own principal) and None
    is returned. With ``touch`` the idle time starts again from now (a request is activity).
    A token presented on another channel or by another kiosk is simply not found."""
    if not token:
        return None
    record = session.scalar(sa.select(ResidentSession).where(ResidentSession.token_hash == token_hash(token)))
    if record is None or record.ended_at is not None or record.channel != channel:
        return None
    if channel == "kiosk" and record.kiosk_id != kiosk_id:
        return None
    moment = now()
    reason = overdue(record, moment)
    if reason is not None:
        end(session, record, reason=reason, actor=actor or principal(record), now=now)
        return None
    if record.staff is not None and not record.staff.active:
        end(session, record, reason=EndReason.REVOKED, actor=actor or principal(record), now=now)
        return None
    if touch:
        record.last_seen_at = moment
    return record


def overdue(record: ResidentSession, moment: datetime) -> EndReason | None:
    """Why ``record`` is over at ``moment`` (absolute limit first), or None while it lives."""
    if moment >= record.expires_at:
        return EndReason.EXPIRED
    if moment >= idle_deadline(record):
        return EndReason.IDLE
    return None


def idle_deadline(record: ResidentSession) -> datetime:
    return record.last_seen_at + timedelta(seconds=record.idle_seconds)


def end(session: Session, record: ResidentSession, *, reason: EndReason | str, actor: Actor, now=utcnow) -> bool:
    """End ``record`` now with ``reason``; True if this call ended it, False if it had
    already ended (one conditional UPDATE: racing ends record one end). Flushes; audited
    ``identity.session.end``. Raises ValueError for an unknown reason."""
    reason = EndReason(reason)
    moment = now()
    ended = session.execute(
        sa.update(ResidentSession)
        .where(ResidentSession.id == record.id, ResidentSession.ended_at.is_(None))
        .values(ended_at=moment, end_reason=reason.value)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if ended:
        record.ended_at, record.end_reason = moment, reason.value
        audit.record(session, actor=actor, action="identity.session.end", target=_target(record),
                     details={"channel": record.channel, "kiosk_id": record.kiosk_id, "reason": reason.value}, now=now)
        session.flush()
    return ended


def end_overdue(session: Session, *, actor: Actor, now=utcnow, limit: int = 500) -> int:
    """End sessions past their idle time or absolute limit that nobody looked up since (a
    kiosk switched off mid-session); returns how many this call ended. For the periodic job."""
    moment = now()
    live = session.scalars(sa.select(ResidentSession).where(ResidentSession.ended_at.is_(None))
                           .order_by(ResidentSession.last_seen_at).limit(limit))
    ended = 0
    for record in live:
        reason = overdue(record, moment)
        if reason is not None and end(session, record, reason=reason, actor=actor, now=now):
            ended += 1
    return ended


def principal(record: ResidentSession) -> Actor:
    """The actor a session acts as: its resident (by masked name: an actor's name may be
    shown or logged), or its staff member."""
    if record.resident_id is not None:
        name = mask_name(record.resident.name) if record.resident else str(record.resident_id)
        return actors.Actor(actors.ActorKind.RESIDENT, str(record.resident_id), name, record.ip)
    return actors.staff(record.staff.username, name=record.staff.display_name, ip=record.ip)


def _target(record: ResidentSession) -> str:
    return f"session:{record.id}"
