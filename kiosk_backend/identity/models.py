from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.models import TimestampMixin
from ..extensions import db

ROLES = ("admin", "site_manager", "helper")


class StaffUser(TimestampMixin, db.Model):
    __tablename__ = "identity_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<StaffUser {self.username} ({self.role})>"


class LoginThrottle(db.Model):
    """Console login attempts counted per (username, client address), and per address across
    usernames (the row whose username is ``throttle.ANY_USERNAME``). Unknown usernames get
    rows like real ones, so a lock says nothing about whether an account exists. See
    identity/throttle.py."""

    __tablename__ = "identity_login_throttle"

    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # case-folded
    ip: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # an IPv6 address as its /64
    failures: Mapped[int] = mapped_column(default=0)  # attempts claimed and not refunded by a success
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<LoginThrottle {self.username!r}@{self.ip} {self.failures}>"


class ApiToken(TimestampMixin, db.Model):
    """A bearer token for a staff member's scripts and integrations; only its hash is kept."""

    __tablename__ = "identity_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), index=True)
    staff: Mapped[StaffUser] = relationship(lazy="joined")
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.name} of staff {self.staff_id}>"


staff_site = sa.Table(
    "identity_staff_site",
    db.metadata,
    sa.Column("staff_id", sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("site_id", sa.ForeignKey("fleet_site.id", ondelete="CASCADE"), primary_key=True),
)


class AdminSession(db.Model):
    """A server-side console session: revocable, idle- and age-limited; the cookie holds
    only a random token whose hash is stored here."""

    __tablename__ = "identity_admin_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), index=True)
    staff: Mapped[StaffUser] = relationship(lazy="joined")
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(sa.String(64))
