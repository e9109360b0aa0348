"""The one clock. Everything stores and compares aware UTC datetimes.

Services take ``now=utcnow`` as a keyword default so tests can pass a fixed time.
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Times are stored in UTC and shown, counted in days and compared with opening hours in
# China Standard Time: the one local zone of the service.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)
