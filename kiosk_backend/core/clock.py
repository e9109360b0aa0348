"""The one clock. Everything stores and compares aware UTC datetimes.

Services take ``now=utcnow`` as a keyword default so tests can pass a fixed time.
"""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)
