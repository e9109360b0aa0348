"""Staff accounts and their API tokens."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..core import actors, audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound, Unauthorized
from ..core.tokens import new_token, token_hash
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

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX_AGE = timedelta(hours=10)


class LoginRefused(Unauthorized):
    pass


def login(session: Session, *, username: str, password: str, ip: str | None = None,
          failures: Session | None = None, now=utcnow) -> tuple[str, AdminSession]:
    """Check a password and open a console session; returns (cookie token, session).

    Five wrong passwords lock the account for 15 minutes; unknown users and wrong
    passwords get the same answer. Failed attempts, lockouts and their audit entries are
    written to ``failures`` (default: ``session``): the console passes a session of their
    own, because the refused request is rolled back. The failure count goes up in one
    statement, so parallel guesses cannot slip past the lock. Raises LoginRefused.
    """
    failures = failures or session
    moment = now()
    actor = actors.staff(username, ip=ip) if username else actors.SYSTEM.at(ip)
    if len(username) > 64 or any(ord(ch) < 32 or ord(ch) == 127 for ch in username):
        # No such account can exist; such a name would not fit the audit log (or PostgreSQL) either.
        check_password_hash(_DUMMY_HASH, password)
        raise LoginRefused("Wrong username or password.", "用户名或密码不正确。")
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
    if user is not None and user.locked_until is not None and user.locked_until > moment:
        audit.record(failures, actor=actor, action="login.locked")
        raise LoginRefused("Too many failed attempts; the account is locked for a while.",
                           "密码错误次数过多，账号已暂时锁定，请 15 分钟后再试。")
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        if user is None:
            check_password_hash(_DUMMY_HASH, password)  # same work whether or not the user exists
        else:
            count = failures.execute(sa.update(StaffUser).where(StaffUser.id == user.id)
                                     .values(failed_logins=StaffUser.failed_logins + 1)
                                     .returning(StaffUser.failed_logins)).scalar_one()
            if count >= MAX_FAILED_LOGINS:
                failures.execute(sa.update(StaffUser).where(StaffUser.id == user.id)
                                 .values(locked_until=moment + LOCKOUT, failed_logins=0))
                audit.record(failures, actor=actor, action="login.lockout")
        audit.record(failures, actor=actor, action="login.failed")
        failures.flush()
        if failures is session and user is not None:
            session.refresh(user)
        raise LoginRefused("Wrong username or password.", "用户名或密码不正确。")
    user.failed_logins, user.locked_until = 0, None
    token = new_token()
    record = AdminSession(token_hash=token_hash(token), staff_id=user.id, csrf_token=new_token(24), created_at=moment,
                          last_seen_at=moment, expires_at=moment + SESSION_MAX_AGE, ip=ip)
    session.add(record)
    audit.record(session, actor=actor, action="login")
    session.flush()
    return token, record


_DUMMY_HASH = generate_password_hash("timing equaliser", method="scrypt")


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
