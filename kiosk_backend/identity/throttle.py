"""Console login throttling: attempts counted per (username, client address) and per address.

A row of ``identity_login_throttle`` counts the attempts of one case-folded username from one
address; the row whose username is :data:`ANY_USERNAME` counts the address's attempts across
usernames. Unknown usernames get rows exactly like real ones, so neither the answer nor a lock
says whether an account exists, and a lock for (admin, an attacker's address) never stops
admin from anywhere else.

- An attempt is *claimed* before its password is checked, with one conditional upsert
  (:func:`claim`): when the row is not locked its count goes up and, from the ``free``-th
  attempt on, the same statement locks it (backoff: 1 minute, doubling up to 15). A locked
  row returns nothing. Parallel guesses therefore check at most ``free`` passwords before
  the lock, and one more each time a lock runs out.
- A successful login deletes its (username, address) row (:func:`clear`) and gives its claim
  on the address row back (:func:`refund`, which also lifts a lock that very claim started):
  people who type their password right are not counted against their office's address.
- A row untouched for :data:`FORGET_AFTER` starts again from zero; :func:`forget` deletes
  such rows (a periodic job).

IPv6 addresses count by their /64, which one host usually holds whole.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core.clock import utcnow
from ..core.models import UTCDateTime
from .models import LoginThrottle

ANY_USERNAME = ""  # the address row (a typed username is never empty: see username_key)
FREE_PER_USERNAME = 5  # attempts for one (username, address) before the first lock
FREE_PER_ADDRESS = 20  # attempts from one address, across usernames, before its first lock
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(minutes=15)
FORGET_AFTER = timedelta(days=1)
KEY_LENGTH = 64  # the columns' length


@dataclass(frozen=True, slots=True)
class Claim:
    """An attempt that may go ahead: the row's count with it, and the lock it started (if any)."""

    failures: int
    locked_until: datetime | None


# ---------------------------------------------------------------- keys and backoff (pure)

def username_key(username: str) -> str | None:
    """The throttle key of a typed username (stripped, case-folded), or None for a name no
    account can have (empty, over-long, control characters): such attempts count on the
    address row only."""
    key = username.strip().casefold()
    if not key or len(key) > KEY_LENGTH or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        return None
    return key


def address_key(ip: str | None) -> str:
    """The throttle key of a client address: IPv4 as is, IPv6 as its /64 (an IPv4-mapped
    address as the IPv4 one), anything else as given."""
    text = (ip or "").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return (ip or "unknown")[:KEY_LENGTH]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def lock_after(failures: int, free: int) -> timedelta | None:
    """How long a row is locked when its count reaches ``failures``: nothing below ``free``,
    then 1 minute, doubling with every further attempt, never more than 15."""
    if failures < free:
        return None
    return min(FIRST_LOCK * 2 ** min(failures - free, 16), MAX_LOCK)


# ---------------------------------------------------------------- statements

def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two databases the project runs on
        raise RuntimeError(f"no conditional upsert for {dialect}")
    return insert(LoginThrottle)


def _key(username: str, address: str):
    return sa.and_(LoginThrottle.username == username, LoginThrottle.ip == address)


def claim(session: Session, *, username: str, address: str, free: int, now: datetime) -> Claim | None:
    """Claim one attempt on the (username, address) row in one statement; None when the row
    is locked (nothing is changed then).

    ``INSERT … ON CONFLICT DO UPDATE … WHERE not locked RETURNING``: the count goes up and the
    lock it reaches is set in the same statement, so of N parallel claims at most ``free``
    get through before the lock, on SQLite and on PostgreSQL alike.
    """
    def at(moment: datetime):
        return sa.literal(moment, type_=UTCDateTime())

    row = LoginThrottle.__table__.c
    stale = row.last_failure_at < now - FORGET_AFTER
    count = sa.case((stale, 1), else_=row.failures + 1)
    steps, n = [], max(free, 1)
    while (duration := lock_after(n, free)) < MAX_LOCK:
        steps.append((count == n, at(now + duration)))
        n += 1
    steps.append((count >= n, at(now + MAX_LOCK)))
    first_lock = lock_after(1, free)
    statement = _insert(session).values(
        username=username, ip=address, failures=1, last_failure_at=now,
        locked_until=now + first_lock if first_lock else None)
    statement = statement.on_conflict_do_update(
        index_elements=[row.username, row.ip],
        set_={"failures": count, "locked_until": sa.case(*steps, else_=sa.null()), "last_failure_at": now},
        where=sa.or_(row.locked_until.is_(None), row.locked_until <= now),
    ).returning(row.failures, row.locked_until)
    result = session.execute(statement).first()
    if result is None:
        return None
    return Claim(failures=result.failures, locked_until=result.locked_until)


def refund(session: Session, *, username: str, address: str, claim: Claim) -> None:
    """Give a claimed attempt back (a success, or an attempt refused by the other row's lock
    and so never checked): the count goes down and a lock this claim started is lifted."""
    row = LoginThrottle.__table__.c
    lifted = (sa.case((row.locked_until == claim.locked_until, sa.null()), else_=row.locked_until)
              if claim.locked_until is not None else row.locked_until)
    session.execute(sa.update(LoginThrottle).where(_key(username, address), LoginThrottle.failures > 0)
                    .values(failures=LoginThrottle.failures - 1, locked_until=lifted))


def clear(session: Session, *, username: str, address: str) -> None:
    """Forget a (username, address) row: its password was just typed right."""
    session.execute(sa.delete(LoginThrottle).where(_key(username, address)))


def forget(session: Session, *, now=utcnow) -> int:
    """Delete rows untouched for :data:`FORGET_AFTER` whose lock has run out; returns how many."""
    moment = now()
    result = session.execute(sa.delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < moment - FORGET_AFTER,
        sa.or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= moment)))
    return result.rowcount
