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


class Resident(TimestampMixin, db.Model):
    """A resident (群众) as an identity provider vouched for them (``provider``, ``subject``).

    The ID number is sensitive personal information: only a keyed hash (for lookup, see
    identity/residents.py) and the masked form (``1101**********002X``) are kept. The mobile
    number is kept encrypted (the SMS notices of later features need it), with a keyed hash
    for lookup and its masked form (``138****8000``) for display."""

    __tablename__ = "identity_resident"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))  # "oidc" | "demo"
    subject: Mapped[str] = mapped_column(sa.String(255))  # the provider's stable id for the person
    name: Mapped[str] = mapped_column(sa.String(100))
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(sa.String(32))
    phone_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    phone_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(sa.String(16))
    last_login_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Resident {self.id} {self.provider}:{self.subject}>"


class ResidentSession(db.Model):
    """A server-side session of a person using the service: a resident on a kiosk (after a
    QR login), on the phone pages or in the mini-app, or a staff member (helper, site
    manager) logged in at a kiosk. Revocable, idle- and age-limited, checked by the server
    on every request; the client holds only a random token whose hash is stored here."""

    __tablename__ = "identity_resident_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(8))  # "kiosk" | "mobile" | "api"
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity_resident.id", ondelete="CASCADE"),
                                                    index=True)
    resident: Mapped[Resident | None] = relationship(lazy="joined")
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity_staff.id", ondelete="CASCADE"), index=True)
    staff: Mapped[StaffUser | None] = relationship(lazy="joined")
    kiosk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    idle_seconds: Mapped[int]  # the session ends this long after last_seen_at
    expires_at: Mapped[datetime]  # the absolute limit
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(sa.String(16))  # logout | idle | expired | revoked | replaced
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        who = f"resident {self.resident_id}" if self.resident_id else f"staff {self.staff_id}"
        return f"<ResidentSession {self.id} {self.channel} {who}>"


class LoginChallenge(db.Model):
    """A QR login challenge shown by a kiosk: pending → scanned → confirmed | denied →
    consumed, or expired (identity/qr_login.py). The QR carries a random token whose
    hash is stored here; the kiosk polls by ``id`` with its own credential."""

    __tablename__ = "identity_login_challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kiosk_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"), index=True)
    match_code: Mapped[str] = mapped_column(sa.String(8))
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    version: Mapped[int] = mapped_column(default=1)  # bumped by every transition: the kiosk's ETag
    created_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime]
    scanned_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    consumed_at: Mapped[datetime | None]
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity_resident.id", ondelete="SET NULL"),
                                                    index=True)
    resident: Mapped[Resident | None] = relationship(lazy="joined")
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity_resident_session.id", ondelete="SET NULL"))
    flagged: Mapped[bool] = mapped_column(default=False, index=True)  # denied: "not me / not at this kiosk"
    scan_ip: Mapped[str | None] = mapped_column(sa.String(64))
    decision_ip: Mapped[str | None] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<LoginChallenge {self.id} kiosk {self.kiosk_id} {self.state}>"
