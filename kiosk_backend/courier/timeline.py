"""The courier legs on an application's timeline (applications.progress), in plain words.

Each step a leg's parcel took (the tracking events that moved it: 已揽收, 派送中, 已签收 …)
becomes one entry, worded by leg: "申请材料已揽收，寄往办理机关", "办理结果正在派送". The carrier's
own trace (``【九江市浔阳路营业厅】已收寄``) is the entry's note. Registered with
applications.progress on import (app.py imports the courier route modules, which import this).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import object_session

from ..applications import progress
from ..applications.models import Application
from .models import Booking, TrackingEvent
from .states import Purpose

LEGS = (Purpose.MATERIALS_TO_AUTHORITY, Purpose.RESULT_TO_APPLICANT)


def entries(application: Application) -> list[dict[str, Any]]:
    session = object_session(application)
    if session is None or application.id is None:
        return []
    rows = session.execute(
        sa.select(Booking.purpose, Booking.order_no, Booking.waybill_no, Booking.carrier, TrackingEvent)
        .join(TrackingEvent, TrackingEvent.booking_id == Booking.id)
        .where(Booking.application_id == application.id, Booking.purpose.in_([str(p) for p in LEGS]),
               TrackingEvent.applied.is_(True))
        .order_by(TrackingEvent.occurred_at)).all()
    return [{
        "kind": "courier",
        "seq": None,
        "action": "courier",
        "action_key": f"courier.timeline.{purpose}.{event.status}",
        "state": event.status,
        "state_key": f"courier.status.{event.status}",
        "actor_name": event.location or "",
        "note": event.raw_text if event.source != "ours" else None,
        "reason": None,
        "missing": [],
        "outcome": None,
        "delivery": None,
        "occurred_at": event.occurred_at,
        "order_no": order_no,
        "waybill_no": waybill_no,
    } for purpose, order_no, waybill_no, _carrier, event in rows]


progress.register_timeline_source(entries)
