"""Applications (办件), their timeline, the department systems that push them, and the events
we refused."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.models import TimestampMixin
from ..extensions import db


class DepartmentClient(TimestampMixin, db.Model):
    """A department's system allowed to create applications and push their events, with
    HMAC-signed requests (core/signing.py). ``key_id`` is public; the secret is kept
    encrypted (it is needed in clear to check signatures) and shown once when issued. After a
    rotation the previous secret keeps working until ``previous_valid_until``, so that the
    department can switch without a gap."""

    __tablename__ = "applications_department_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))  # the department as residents read it: 九江市公安局
    region_code: Mapped[str | None] = mapped_column(sa.String(6))
    secret_encrypted: Mapped[str] = mapped_column(sa.String(255))
    previous_secret_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    previous_valid_until: Mapped[datetime | None]
    rotated_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"<DepartmentClient {self.key_id} {self.name}{'' if self.active else ' disabled'}>"


class Application(TimestampMixin, db.Model):
    """One application (办件). The applicant's personal data is kept as the identity domain
    keeps a resident's: the ID number only as a keyed hash (to find "my applications") and
    masked; the mobile number encrypted (for SMS notices) and masked; the name masked. The
    second factor of a lookup without login (last 4 characters of the ID number or the
    phone) is kept as keyed digests bound to the application number."""

    __tablename__ = "applications_application"
    __table_args__ = (
        sa.Index("ix_applications_application_state_deadline", "state", "deadline"),
        # "my applications", newest first, read in index order
        sa.Index("ix_applications_application_applicant_received", "applicant_id_hash", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)  # 办件编号, opaque, upper-cased
    item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_item.id", ondelete="SET NULL"), index=True)
    task_code: Mapped[str] = mapped_column(sa.String(64))  # 实施编码 as sent, kept if the item goes
    item_name: Mapped[str] = mapped_column(sa.String(200))  # 事项名称 when applied for
    mode: Mapped[str] = mapped_column(sa.String(8))  # states.Mode

    applicant_name_masked: Mapped[str] = mapped_column(sa.String(100))
    applicant_id_hash: Mapped[str | None] = mapped_column(sa.String(64))
    applicant_id_masked: Mapped[str | None] = mapped_column(sa.String(32))
    applicant_phone_encrypted: Mapped[str | None] = mapped_column(sa.String(255))
    applicant_phone_masked: Mapped[str | None] = mapped_column(sa.String(16))
    id_tail_digest: Mapped[str | None] = mapped_column(sa.String(64))
    phone_tail_digest: Mapped[str | None] = mapped_column(sa.String(64))

    receiving_org: Mapped[str] = mapped_column(sa.String(200))  # 收件地
    receiving_region: Mapped[str] = mapped_column(sa.String(6))
    handling_org: Mapped[str] = mapped_column(sa.String(200))  # 业务属地
    handling_region: Mapped[str] = mapped_column(sa.String(6))

    state: Mapped[str] = mapped_column(sa.String(24), index=True)  # states.State
    outcome: Mapped[str | None] = mapped_column(sa.String(8))  # states.Outcome, once concluded
    delivery: Mapped[str | None] = mapped_column(sa.String(8))  # states.Delivery, once delivered
    missing: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # 待补正: what is missing

    promise_days: Mapped[int] = mapped_column(default=0)  # 承诺办结时限
    promise_unit: Mapped[str] = mapped_column(sa.String(8), default="工作日")  # 工作日 | 自然日
    received_at: Mapped[datetime]
    accepted_on: Mapped[date | None]  # 受理日 (China Standard Time): the clock starts the day after
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)  # closed clock stops
    paused_since: Mapped[date | None]  # a clock stop still running
    deadline: Mapped[date | None]  # with the closed pauses; None before 受理 or without calendar data
    deadline_missing_year: Mapped[int | None]  # the calendar year that stopped the computation
    finished_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime]  # when the newest event happened (department's clock)
    version: Mapped[int] = mapped_column(default=1)  # bumped by every event

    client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications_department_client.id", ondelete="SET NULL"), index=True)
    client: Mapped[DepartmentClient | None] = relationship(lazy="joined")
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.seq", lazy="selectin",
        cascade="all, delete-orphan", passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Application {self.number} {self.state}>"


class ApplicationEvent(db.Model):
    """One entry of an application's timeline: who did what when, with a note. Events a
    department pushed carry its event id; the pair (client, event id) is unique, which
    makes a repeated push harmless."""

    __tablename__ = "applications_event"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "seq"),
        sa.UniqueConstraint("client_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the unique (application_id, seq), which also returns a timeline in order.
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications_application.id", ondelete="CASCADE"))
    application: Mapped[Application] = relationship(back_populates="events")
    seq: Mapped[int]  # 1, 2, 3 … per application
    action: Mapped[str] = mapped_column(sa.String(24))  # states.Action
    from_state: Mapped[str | None] = mapped_column(sa.String(24))
    to_state: Mapped[str] = mapped_column(sa.String(24))
    actor: Mapped[str] = mapped_column(sa.String(120))  # department:<key id> | staff:<username> | system
    actor_name: Mapped[str] = mapped_column(sa.String(200))  # as residents read it: 九江市公安局
    note: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications_department_client.id", ondelete="SET NULL"))
    event_id: Mapped[str | None] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<ApplicationEvent {self.application_id}#{self.seq} {self.action} → {self.to_state}>"


class RefusedEvent(db.Model):
    """An event a department pushed that we refused (unknown application, illegal or
    out-of-order move, missing detail), kept with the reason for the integrator and the
    console. Written in a transaction of its own: the refused request rolls back."""

    __tablename__ = "applications_refused_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications_department_client.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str | None] = mapped_column(sa.String(64))
    number: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    action: Mapped[str | None] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.String(32))  # unknown_application | illegal_transition | out_of_order | ...
    message: Mapped[str] = mapped_column(sa.String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<RefusedEvent {self.id} {self.number} {self.action}: {self.reason}>"


class Notification(db.Model):
    """An SMS notice about one timeline event, and how its sending went. The row is marked
    ``sending`` (committed) before the provider is called, so a worker killed mid-call
    leaves a trace: the retry finds ``sending`` and marks it ``uncertain`` instead of sending
    a second text (nothing is sent twice; the console lists the uncertain ones)."""

    __tablename__ = "applications_notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("applications_event.id", ondelete="CASCADE"), unique=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications_application.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(8), default="sms")
    template: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(12), index=True)  # pending|sending|sent|failed|rejected|uncertain|skipped
    attempts: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(sa.String(128))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Notification {self.id} event {self.event_id} {self.state}>"
