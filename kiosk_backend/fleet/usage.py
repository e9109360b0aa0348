"""Usage statistics: sessions, searches and prints per kiosk and site, by local day."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core.clock import LOCAL_TZ, utcnow
from ..core.database import scoped
from .models import Kiosk, UsageEvent


def record_usage(session: Session, kiosk: Kiosk, kind: str, *, now=utcnow) -> None:
    session.add(UsageEvent(kiosk_id=kiosk.id, site_id=kiosk.site_id, kind=kind, at=now()))


def usage_series(session: Session, *, site_ids: set[int] | None = None, site_id: int | None = None,
                 kiosk_id: int | None = None, days: int = 14, now=utcnow) -> dict:
    """Daily counts of sessions, searches and prints (local dates), oldest first."""
    end = now().astimezone(LOCAL_TZ).date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, datetime.min.time(), LOCAL_TZ)
    query = scoped(sa.select(UsageEvent.kind, UsageEvent.at).where(UsageEvent.at >= since), site_ids, UsageEvent.site_id)
    if site_id:
        query = query.where(UsageEvent.site_id == site_id)
    if kiosk_id:
        query = query.where(UsageEvent.kiosk_id == kiosk_id)
    counts: dict[tuple[str, date], int] = defaultdict(int)
    for kind, at in session.execute(query):
        counts[(kind, at.astimezone(LOCAL_TZ).date())] += 1
    dates = [start + timedelta(days=i) for i in range(days)]
    return {"dates": [d.isoformat() for d in dates],
            **{kind: [counts[(kind, d)] for d in dates] for kind in ("session", "search", "print")}}
