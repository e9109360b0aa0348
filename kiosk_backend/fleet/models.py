"""Fleet tables: kiosks, enrolment codes, heartbeats, commands, alerts, usage (sites are their own domain)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import TimestampMixin
from ..extensions import db
from ..sites.models import Site
from .states import CommandState, KioskState

KIOSK_STATES = tuple(KioskState)
COMMAND_KINDS = ("reload", "maintenance_on", "maintenance_off", "show_message", "apply_settings")
COMMAND_STATES = tuple(CommandState)
ALERT_KINDS = ("offline", "paper_out", "peripheral_error")
USAGE_KINDS = ("session", "search", "print")


class Kiosk(TimestampMixin, db.Model):
    __tablename__ = "fleet_kiosk"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)  # shown on screen, e.g. JZ01-03
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_site.id"), index=True)
    site: Mapped[Site] = relationship(lazy="joined")
    profile: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default=KioskState.PENDING.value)
    credential_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    credential_issued_at: Mapped[datetime | None]
    rotate_requested: Mapped[bool] = mapped_column(default=False)
    app_version: Mapped[str | None] = mapped_column(sa.String(32))
    last_seen_at: Mapped[datetime | None]
    history_at: Mapped[datetime | None]  # when the last heartbeat history row was written
    last_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    peripherals: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    session_active: Mapped[bool] = mapped_column(default=False)
    maintenance: Mapped[bool] = mapped_column(default=False)
    # Set when a command is queued, cleared by the heartbeat that finds none open: most
    # beats then skip the command query altogether.
    commands_pending: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    authorized_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Kiosk {self.number} ({self.state})>"


class EnrolmentCode(db.Model):
    """A site-scoped, expiring, single-use code a new kiosk types in. Only its hash is kept."""

    __tablename__ = "fleet_enrolment_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_site.id"), index=True)
    site: Mapped[Site] = relationship(lazy="joined")
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hint: Mapped[str] = mapped_column(sa.String(8))  # last characters, so admins can tell codes apart
    profile: Mapped[str | None] = mapped_column(sa.String(64))
    pre_authorized: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    kiosk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fleet_kiosk.id"))

    def __repr__(self) -> str:
        return f"<EnrolmentCode {self.id} …{self.hint} site {self.site_id}>"


class Heartbeat(db.Model):
    __tablename__ = "fleet_heartbeat"
    __table_args__ = (sa.Index("ix_fleet_heartbeat_kiosk_at", "kiosk_id", "received_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"))
    received_at: Mapped[datetime]
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    app_version: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # online | degraded at the time of the beat
    peripherals: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    session_active: Mapped[bool] = mapped_column(default=False)


class KioskCommand(db.Model):
    __tablename__ = "fleet_command"
    __table_args__ = (sa.Index("ix_fleet_command_kiosk_state", "kiosk_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    force: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(sa.String(16), default=CommandState.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<KioskCommand {self.id} {self.kind} {self.state}>"


class Alert(db.Model):
    __tablename__ = "fleet_alert"
    __table_args__ = (sa.Index("ix_fleet_alert_open", "kiosk_id", "kind", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"))
    kiosk: Mapped[Kiosk] = relationship(lazy="joined")
    kind: Mapped[str] = mapped_column(sa.String(24))
    detail: Mapped[str | None] = mapped_column(sa.String(200))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(64))
    resolved_at: Mapped[datetime | None]


class UsageEvent(db.Model):
    __tablename__ = "fleet_usage_event"
    __table_args__ = (sa.Index("ix_fleet_usage_site_at", "site_id", "at"),
                      sa.Index("ix_fleet_usage_kiosk_at", "kiosk_id", "at"))

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_site.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
