"""Bookings as rows, for the carrier tests (demo carrier ledger, gateway_for, callbacks): written
straight to courier_booking, so these tests do not depend on the booking service's own rules."""
from __future__ import annotations

import itertools
from datetime import datetime

from kiosk_backend.courier.models import Booking
from kiosk_backend.identity.residents import encrypt_phone

_numbers = itertools.count(1)


def booking_row(session, site, *, created_at: datetime, carrier: str = "demo", status: str = "pending_pickup",
                **overrides) -> Booking:
    """A booking from 九江市浔阳区 to 北京市朝阳区, saved (flushed) with ``created_at``."""
    number = next(_numbers)
    values = dict(
        order_no=f"KB{created_at:%Y%m%d}{number:06d}", purpose="result_to_applicant", channel="kiosk",
        sender_name="九江市浔阳区政务服务中心", sender_mobile_encrypted=encrypt_phone("13800138000"),
        sender_mobile_masked="138****8000", sender_province="36", sender_city="3604", sender_county="360403",
        sender_address="浔阳路 118 号", recipient_name="张三", recipient_mobile_encrypted=encrypt_phone("13900139000"),
        recipient_mobile_masked="139****9000", recipient_province="11", recipient_city="1101",
        recipient_county="110105", recipient_address="朝阳路 1 号", item_type="licence", pieces=1, weight_grams=300,
        payer="government", pickup_mode="counter", site_id=site.id, carrier=carrier, status=status,
        status_at=created_at, created_at=created_at, updated_at=created_at)
    values.update(overrides)
    booking = Booking(**values)
    session.add(booking)
    session.flush()
    return booking
