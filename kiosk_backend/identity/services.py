"""Staff accounts and their API tokens."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..core import actors, audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound, Unauthorized
from ..core.i18n import translate
from ..core.tokens import new_token, token_hash
from . import throttle
from .models import ROLES, AdminSession, ApiToken, StaffUser, staff_site

MIN_PASSWORD = 10


def create_staff(session: Session, *, username: str, password: str, actor: Actor, role: str = "admin",
                 display_name: str | None = None) -> StaffUser:
    """Create a staff account, audited as "staff.create" by ``actor``.

    Raises Conflict (username taken), Invalid (weak password, role).
    """
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}.", f"未知角色 {role!r}。")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"The password needs at least {MIN_PASSWORD} characters.", f"密码至少需要 {MIN_PASSWORD} 位。")
    if session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)):
        raise Conflict(f"The username {username} is taken.", f"用户名 {username} 已被使用。")
    user = StaffUser(username=username, password_hash=generate_password_hash(password, method="scrypt"),
                     role=role, display_name=display_name)
    session.add(user)
    audit.record(session, actor=actor, action="staff.create", target=f"staff:{username}", details={"role": role})
    session.flush()
    return user


def issue_token(session: Session, *, username: str, name: str, actor: Actor, days: int | None = 90,
                now=utcnow) -> str:
    """Create an API token for ``username``, audited as "token.create" by ``actor``.

    The plain token is returned once and never stored nor logged (the audit entry names
    the token's id and purpose). Raises NotFound (no such account).
    """
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise NotFound(f"No staff account {username}.", f"没有账号 {username}。")
    token = new_token()
    record = ApiToken(staff_id=user.id, name=name, token_hash=token_hash(token),
                      expires_at=now() + timedelta(days=days) if days else None)
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="token.create", target=f"staff:{username}",
                 details={"token_id": record.id, "name": name, "days": days}, now=now)
    session.flush()
    return token


def authenticate_token(session: Session, token: str, *, now=utcnow) -> StaffUser:
    """The active staff member owning ``token``. Raises Unauthorized for anything else."""
    record = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    moment = now()
    if (record is None or record.revoked_at is not None or not record.staff.active
            or (record.expires_at is not None and record.expires_at <= moment)):
        raise Unauthorized("The access token is missing, expired or revoked.", "访问令牌缺失、已过期或已被吊销。")
    return record.staff


def revoke_token(session: Session, token_id: int, *, actor: Actor, now=utcnow) -> None:
    """Revoke an API token at once, audited as "token.revoke" by ``actor``; revoking a
    revoked token changes (and records) nothing. Raises NotFound."""
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound("No such token.", "没有该令牌。")
    if record.revoked_at is None:
        record.revoked_at = now()
        audit.record(session, actor=actor, action="token.revoke", target=f"staff:{record.staff.username}",
                     details={"token_id": record.id, "name": record.name}, now=now)
    session.flush()


# ===================================================================== console sessions

SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX_AGE = timedelta(hours=10)
REFUSED = "admin.login.refused"  # one message for a wrong password, an unknown name and a lock


class LoginRefused(Unauthorized):
    def __init__(self) -> None:
        super().__init__(translate(REFUSED, "en"), translate(REFUSED, "zh-CN"))


def login(session: Session, *, username: str, password: str, ip: str | None = None,
          side: Callable[[], AbstractContextManager[Session]] | None = None,
          now=utcnow) -> tuple[str, AdminSession]:
    """Check a password (:func:`check_password`) and open a console session; returns
    (cookie token, session). Audited "login". Raises LoginRefused."""
    user = check_password(session, username=username, password=password, ip=ip, side=side, now=now)
    moment = now()
    token = new_token()
    record = AdminSession(token_hash=token_hash(token), staff_id=user.id, csrf_token=new_token(24), created_at=moment,
                          last_seen_at=moment, expires_at=moment + SESSION_MAX_AGE, ip=ip)
    session.add(record)
    audit.record(session, actor=actors.staff(username, ip=ip), action="login", now=now)
    session.flush()
    return token, record


def check_password(session: Session, *, username: str, password: str, ip: str | None = None,
                   side: Callable[[], AbstractContextManager[Session]] | None = None, now=utcnow) -> StaffUser:
    """The active staff member whose password this is (the console's login, and a helper's
    login at a kiosk, identity/kiosk.py), throttled.

    Attempts are throttled per (username, client address) and per address across usernames
    (identity/throttle.py, with backoff): a lock for one address never stops the same
    account from another. Each attempt is claimed in one conditional statement *before* its
    password is checked, so parallel guesses check no more passwords than the limits allow;
    a success clears its (username, address) count. Unknown usernames are throttled, hashed
    (a dummy scrypt hash) and answered exactly like wrong passwords, and a locked attempt
    gets that same answer: nothing tells whether an account exists.

    ``side`` opens a short transaction of its own (core.requests.independent_session): the
    claims are committed before the password is checked, and a refusal's records (audit
    "login.failed", "login.lockout", "login.locked") survive the refused request's rollback.
    Without it everything goes to ``session`` (flushed). Raises LoginRefused.
    """
    side = side or (lambda: nullcontext(session))
    moment = now()
    user_key, address = throttle.username_key(username), throttle.address_key(ip)
    actor = actors.staff(username, ip=ip) if user_key else actors.SYSTEM.at(ip)
    # Looked up first, on the request's session: on SQLite a read outside a write takes no lock.
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == username)) if user_key else None
    with side() as claims:
        claimed = _claim(claims, user_key, address, moment)
        if claimed is None:
            audit.record(claims, actor=actor, action="login.locked", now=now)
            claims.flush()
    if claimed is None:
        raise LoginRefused()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)  # the same work whether or not the account exists
        ok = False
    else:
        ok = check_password_hash(user.password_hash, password)
    if not ok:
        with side() as records:
            for scope, claim in claimed.items():
                if claim.locked_until is not None:  # this attempt started a lock
                    audit.record(records, actor=actor, action="login.lockout", now=now,
                                 details={"scope": scope, "until": claim.locked_until.isoformat(timespec="seconds")})
            audit.record(records, actor=actor, action="login.failed", now=now)
            records.flush()
        raise LoginRefused()
    # In the claims' order (address, then username): no deadlock with a parallel claim.
    throttle.refund(session, username=throttle.ANY_USERNAME, address=address, claim=claimed["address"])
    throttle.clear(session, username=user_key, address=address)
    return user


def _claim(session: Session, user_key: str | None, address: str, moment) -> dict[str, throttle.Claim] | None:
    """Claim the attempt on the address row, then on the (username, address) row: the claims
    by scope, or None when either row is locked (the address claim is then given back)."""
    by_address = throttle.claim(session, username=throttle.ANY_USERNAME, address=address,
                                free=throttle.FREE_PER_ADDRESS, now=moment)
    if by_address is None:
        return None
    if user_key is None:  # a name no account can have: the address counts it
        return {"address": by_address}
    by_user = throttle.claim(session, username=user_key, address=address, free=throttle.FREE_PER_USERNAME, now=moment)
    if by_user is None:
        throttle.refund(session, username=throttle.ANY_USERNAME, address=address, claim=by_address)
        return None
    return {"address": by_address, "username": by_user}


_DUMMY_HASH = generate_password_hash("timing equaliser", method="scrypt")  # as create_staff hashes


def current_session(session: Session, token: str | None, *, touch: bool = True, now=utcnow) -> AdminSession | None:
    """The live console session for a cookie token (sliding idle timeout), or None.

    With ``touch`` (the default) the idle timeout slides: ``last_seen_at`` moves to now if
    it is more than a minute old, a change the caller's commit saves. ``touch=False`` only
    reads, for pages that must not write (the login page).
    """
    if not token:
        return None
    moment = now()
    record = session.scalar(sa.select(AdminSession).where(AdminSession.token_hash == token_hash(token)))
    if (record is None or record.revoked_at is not None or record.expires_at <= moment
            or moment - record.last_seen_at > SESSION_IDLE or not record.staff.active):
        return None
    if touch and moment - record.last_seen_at > timedelta(minutes=1):  # fewer writes: touch at most once a minute
        record.last_seen_at = moment
    return record


def logout(session: Session, record: AdminSession, *, actor: Actor | None = None, now=utcnow) -> None:
    """End a console session at once (server-side). ``actor``: who asked, with their address."""
    record.revoked_at = record.revoked_at or now()
    audit.record(session, actor=actor or actors.staff(record.staff.username, ip=record.ip), action="logout")
    session.flush()


def site_scope(session: Session, staff: StaffUser) -> set[int] | None:
    """Sites a staff member may see: None (all) for admins, their own for site managers."""
    if staff.role == "admin":
        return None
    return set(session.scalars(sa.select(staff_site.c.site_id).where(staff_site.c.staff_id == staff.id)))


def assign_sites(session: Session, staff: StaffUser, site_ids: list[int], *, actor: Actor) -> None:
    """Set the sites a staff member looks after (replacing the old set), audited as "staff.sites"."""
    session.execute(sa.delete(staff_site).where(staff_site.c.staff_id == staff.id))
    if site_ids:
        session.execute(sa.insert(staff_site), [{"staff_id": staff.id, "site_id": s} for s in site_ids])
    audit.record(session, actor=actor, action="staff.sites", target=f"staff:{staff.username}", details={"sites": site_ids})
    session.flush()
