"""Bookings of courier pickups, their tracking events, pickup slots, residents' addresses,
the handling authorities' addresses, carrier accounts and reconciliation findings."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.models import TimestampMixin
from ..extensions import db


class PickupSlot(db.Model):
    """A pickup window at a site on one date, with its capacity. A place is taken by one
    conditional UPDATE (``taken = taken + 1 WHERE taken < capacity``), never read-then-write;
    the CHECK constraint holds the line even against a wrong UPDATE."""

    __tablename__ = "courier_pickup_slot"
    __table_args__ = (
        sa.UniqueConstraint("site_id", "day", "starts"),
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_site.id", ondelete="CASCADE"), index=True)
    day: Mapped[date]
    starts: Mapped[str] = mapped_column(sa.String(5))  # "09:00", China Standard Time
    ends: Mapped[str] = mapped_column(sa.String(5))
    capacity: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<PickupSlot {self.site_id} {self.day} {self.starts}-{self.ends} {self.taken}/{self.capacity}>"


class HandlingAuthority(TimestampMixin, db.Model):
    """Where the materials of an application go: the handling org's postal address, registered
    once per org (name + region) by admins, so that nobody retypes it at a kiosk."""

    __tablename__ = "courier_handling_authority"
    __table_args__ = (sa.UniqueConstraint("org_name", "region_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_name: Mapped[str] = mapped_column(sa.String(200))  # as on applications.handling_org
    region_code: Mapped[str] = mapped_column(sa.String(6))  # applications.handling_region
    recipient_name: Mapped[str] = mapped_column(sa.String(100))  # e.g. 收件窗口 / a clerk's role
    phone: Mapped[str] = mapped_column(sa.String(20))  # an office line or mobile
    province_code: Mapped[str] = mapped_column(sa.String(2))
    city_code: Mapped[str] = mapped_column(sa.String(4))
    county_code: Mapped[str] = mapped_column(sa.String(6))
    address: Mapped[str] = mapped_column(sa.String(300))
    postcode: Mapped[str | None] = mapped_column(sa.String(6))

    def __repr__(self) -> str:
        return f"<HandlingAuthority {self.org_name} {self.region_code}>"


class SavedAddress(TimestampMixin, db.Model):
    """A resident's address book entry (the return leg and standalone bookings prefill from
    it). Name and mobile as typed are personal data: mobile sealed and masked."""

    __tablename__ = "courier_saved_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("identity_resident.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(sa.String(20))  # 家 / 单位
    name: Mapped[str] = mapped_column(sa.String(100))
    mobile_encrypted: Mapped[str] = mapped_column(sa.String(255))
    mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    city_code: Mapped[str] = mapped_column(sa.String(4))
    county_code: Mapped[str] = mapped_column(sa.String(6))
    address: Mapped[str] = mapped_column(sa.String(300))
    postcode: Mapped[str | None] = mapped_column(sa.String(6))
    is_default: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<SavedAddress {self.id} of resident {self.resident_id}{' default' if self.is_default else ''}>"


class CarrierAccount(TimestampMixin, db.Model):
    """Credentials for one carrier or aggregator (快递100: key, customer, secret), sealed at
    rest (identity.residents.seal) and rotatable; ``settings`` holds the non-secret ones
    (callback URL, partner ids, the default express company)."""

    __tablename__ = "courier_carrier_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier: Mapped[str] = mapped_column(sa.String(32), unique=True)  # kuaidi100 | demo
    credentials_encrypted: Mapped[str] = mapped_column(sa.Text)  # sealed JSON object
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    rotated_at: Mapped[datetime | None]
    updated_by: Mapped[str | None] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"<CarrierAccount {self.carrier}{'' if self.active else ' inactive'}>"


# A booking of an application leg that still counts (see uq_courier_booking_live_leg): not
# refused by the carrier, not cancelled for good (a cancel the carrier has not confirmed yet
# keeps the leg, since the carrier may refuse it), not returned to the sender.
LIVE_LEG = ("application_id IS NOT NULL AND purpose IN ('materials_to_authority', 'result_to_applicant') "
            "AND order_state <> 'failed' AND (status NOT IN ('cancelled', 'returned') OR order_state = 'cancelling')")


class Booking(TimestampMixin, db.Model):
    """One courier booking. Saved before any carrier call; ``order_no`` is our id for it and
    is sent to the carrier as its order id, so that placing the order twice (a retry after a
    crash) is recognised by the carrier as the same order."""

    __tablename__ = "courier_booking"
    __table_args__ = (
        sa.Index("ix_courier_booking_resident_created", "resident_id", "created_at", "id"),
        sa.Index("ix_courier_booking_status_updated", "status", "status_at"),
        # the worker's poll of quiet parcels and the console's refused-orders count
        sa.Index("ix_courier_booking_order_state_tracked", "order_state", "last_tracked_at"),
        sa.UniqueConstraint("carrier", "waybill_no"),
        # One live booking per application leg: a second booking of the same leg, even by
        # requests racing each other, breaks this index (services.book answers 409 LegBooked).
        sa.Index("uq_courier_booking_live_leg", "application_id", "purpose", unique=True,
                 sqlite_where=sa.text(LIVE_LEG), postgresql_where=sa.text(LIVE_LEG)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(sa.String(32), unique=True)  # KB… : the carrier's order id
    purpose: Mapped[str] = mapped_column(sa.String(24))  # states.Purpose
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("applications_application.id", ondelete="SET NULL"), index=True)
    resident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("identity_resident.id", ondelete="SET NULL"))  # who booked it (owner)
    channel: Mapped[str] = mapped_column(sa.String(8))  # kiosk | mobile | api | helper
    kiosk_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fleet_kiosk.id", ondelete="SET NULL"))
    helper_id: Mapped[int | None] = mapped_column(sa.ForeignKey("identity_staff.id", ondelete="SET NULL"))

    sender_name: Mapped[str] = mapped_column(sa.String(100))
    sender_mobile_encrypted: Mapped[str] = mapped_column(sa.String(255))
    sender_mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    sender_province: Mapped[str] = mapped_column(sa.String(2))
    sender_city: Mapped[str] = mapped_column(sa.String(4))
    sender_county: Mapped[str] = mapped_column(sa.String(6))
    sender_address: Mapped[str] = mapped_column(sa.String(300))
    sender_postcode: Mapped[str | None] = mapped_column(sa.String(6))

    recipient_name: Mapped[str] = mapped_column(sa.String(100))
    recipient_mobile_encrypted: Mapped[str] = mapped_column(sa.String(255))
    recipient_mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    recipient_province: Mapped[str] = mapped_column(sa.String(2))
    recipient_city: Mapped[str] = mapped_column(sa.String(4))
    recipient_county: Mapped[str] = mapped_column(sa.String(6))
    recipient_address: Mapped[str] = mapped_column(sa.String(300))
    recipient_postcode: Mapped[str | None] = mapped_column(sa.String(6))

    item_type: Mapped[str] = mapped_column(sa.String(12))  # states.ItemType
    pieces: Mapped[int] = mapped_column(default=1)
    weight_grams: Mapped[int]
    insured_value_fen: Mapped[int] = mapped_column(default=0)  # 保价, in fen
    payer: Mapped[str] = mapped_column(sa.String(12))  # states.Payer
    pickup_mode: Mapped[str] = mapped_column(sa.String(8))  # states.PickupMode
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("fleet_site.id"), index=True)
    slot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courier_pickup_slot.id", ondelete="SET NULL"),
                                                index=True)
    slot: Mapped[PickupSlot | None] = relationship(lazy="joined")
    quote_fen: Mapped[int | None]  # the carrier's price quote, in fen

    carrier: Mapped[str] = mapped_column(sa.String(32))  # kuaidi100 | demo
    carrier_company: Mapped[str | None] = mapped_column(sa.String(32))  # the express company code (ems, youzhengguonei)
    waybill_no: Mapped[str | None] = mapped_column(sa.String(40))  # opaque (EMS: 13 characters)
    carrier_task_id: Mapped[str | None] = mapped_column(sa.String(64))  # the carrier's id for the order
    label_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # the carrier's 100×150 mm label, if any
    order_state: Mapped[str] = mapped_column(sa.String(12), default="pending")  # states.OrderState
    last_error: Mapped[str | None] = mapped_column(sa.String(500))

    status: Mapped[str] = mapped_column(sa.String(24))  # states.Status
    status_at: Mapped[datetime]  # when the newest applied tracking event happened (carrier's clock)
    last_tracked_at: Mapped[datetime | None]  # when we last heard anything (push or poll)
    cancelled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[TrackingEvent]] = relationship(
        back_populates="booking", order_by="TrackingEvent.occurred_at", lazy="selectin",
        cascade="all, delete-orphan", passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Booking {self.order_no} {self.purpose} {self.status}>"


class TrackingEvent(db.Model):
    """One tracking event as the carrier reported it, with our normalised status. Unique per
    (booking, dedupe key): the carrier's event id where it has one, else a digest of
    (time, code, text), so a push and a poll of the same event are one row."""

    __tablename__ = "courier_tracking_event"
    __table_args__ = (sa.UniqueConstraint("booking_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("courier_booking.id", ondelete="CASCADE"))
    booking: Mapped[Booking] = relationship(back_populates="events")
    dedupe_key: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(24))  # states.Status (normalised)
    raw_code: Mapped[str | None] = mapped_column(sa.String(32))
    raw_text: Mapped[str] = mapped_column(sa.String(500))  # 【九江市浔阳路营业厅】已收寄
    location: Mapped[str | None] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(sa.String(8))  # push | poll | ours (booking made, cancelled)
    applied: Mapped[bool] = mapped_column(default=False)  # whether it moved the booking's status

    def __repr__(self) -> str:
        return f"<TrackingEvent {self.booking_id} {self.status} {self.occurred_at:%Y-%m-%d %H:%M}>"


class ReconciliationFinding(db.Model):
    """A difference between our bookings and the carrier's orders found by the daily job."""

    __tablename__ = "courier_reconciliation_finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_on: Mapped[date] = mapped_column(index=True)
    carrier: Mapped[str] = mapped_column(sa.String(32))
    booking_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courier_booking.id", ondelete="CASCADE"))
    order_no: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32))  # missing_at_carrier | unknown_to_us | status_differs | waybill_differs
    ours: Mapped[str | None] = mapped_column(sa.String(200))
    theirs: Mapped[str | None] = mapped_column(sa.String(200))
    found_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<ReconciliationFinding {self.run_on} {self.kind} {self.order_no}>"
