"""SMS notices of a parcel's moves (揽收, 派送中, 签收): one row per booking and status.

The row is marked ``sending`` (committed) before the provider is called, so a worker killed
mid-call leaves a trace: the retry finds ``sending`` and marks it ``uncertain`` instead of
sending a second text (courier/jobs.py, the same rule as applications' notices)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class CourierNotice(db.Model):
    __tablename__ = "courier_notice"
    __table_args__ = (sa.UniqueConstraint("booking_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("courier_booking.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(24))  # states.Status the text is about (one text per status)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courier_tracking_event.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(sa.String(8), default="sms")
    template: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(12), index=True)  # pending|sending|sent|failed|rejected|uncertain|skipped
    attempts: Mapped[int] = mapped_column(default=0)
    provider_id: Mapped[str | None] = mapped_column(sa.String(128))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<CourierNotice {self.id} booking {self.booking_id} {self.status} {self.state}>"
