"""Staff accounts and their API tokens."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound, Unauthorized
from ..core.tokens import new_token, token_hash
from .models import ROLES, ApiToken, StaffUser

MIN_PASSWORD = 10


def create_staff(session: Session, *, username: str, password: str, role: str = "admin",
                 display_name: str | None = None) -> StaffUser:
    """Create a staff account. Raises Conflict (username taken), Invalid (weak password, role)."""
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}.", f"未知角色 {role!r}。")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"The password needs at least {MIN_PASSWORD} characters.", f"密码至少需要 {MIN_PASSWORD} 位。")
    if session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)):
        raise Conflict(f"The username {username} is taken.", f"用户名 {username} 已被使用。")
    user = StaffUser(username=username, password_hash=generate_password_hash(password, method="scrypt"),
                     role=role, display_name=display_name)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, *, username: str, name: str, days: int | None = 90, now=utcnow) -> str:
    """Create an API token for ``username``; the plain token is returned once and never stored."""
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise NotFound(f"No staff account {username}.", f"没有账号 {username}。")
    token = new_token()
    session.add(ApiToken(staff_id=user.id, name=name, token_hash=token_hash(token),
                         expires_at=now() + timedelta(days=days) if days else None))
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


def revoke_token(session: Session, token_id: int, *, now=utcnow) -> None:
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound("No such token.", "没有该令牌。")
    record.revoked_at = record.revoked_at or now()
    session.flush()
