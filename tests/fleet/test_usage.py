"""Usage statistics (fleet/usage.py): events counted per local (China Standard Time) day."""
from __future__ import annotations

from datetime import datetime

from kiosk_backend.core.clock import LOCAL_TZ
from kiosk_backend.fleet import usage
from tests.conftest import MONDAY_10, UTC


def local(*args) -> datetime:
    """A wall-clock time in China Standard Time, as UTC."""
    return datetime(*args, tzinfo=LOCAL_TZ).astimezone(UTC)


def test_usage_is_counted_per_local_day_oldest_first(db, make_kiosk, site, site2):
    kiosk, _ = make_kiosk(site=site)
    other, _ = make_kiosk(site=site2)
    today = local(2026, 3, 4, 12, 0)
    for moment, kind, who in [
        (local(2026, 3, 4, 0, 30), "session", kiosk),   # 16:30 UTC on the 3rd: counts on the 4th
        (local(2026, 3, 3, 23, 59), "session", kiosk),
        (local(2026, 3, 3, 9, 0), "search", kiosk),
        (local(2026, 3, 3, 9, 5), "search", kiosk),
        (local(2026, 3, 2, 9, 0), "print", other),
        (local(2026, 2, 1, 9, 0), "session", kiosk),    # outside the window
    ]:
        usage.record_usage(db.session, who, kind, now=lambda m=moment: m)
    db.session.commit()
    series = usage.usage_series(db.session, days=3, now=lambda: today)
    assert series == {"dates": ["2026-03-02", "2026-03-03", "2026-03-04"],
                      "session": [0, 1, 1], "search": [0, 2, 0], "print": [1, 0, 0]}
    assert usage.usage_series(db.session, days=3, site_id=site2.id, now=lambda: today)["print"] == [1, 0, 0]
    assert usage.usage_series(db.session, days=3, kiosk_id=kiosk.id, now=lambda: today)["print"] == [0, 0, 0]
    scoped = usage.usage_series(db.session, days=3, site_ids={site.id}, now=lambda: today)
    assert scoped["print"] == [0, 0, 0] and scoped["search"] == [0, 2, 0]


def test_usage_series_has_one_entry_per_day_even_without_events(db):
    series = usage.usage_series(db.session, days=14, now=lambda: MONDAY_10)
    assert len(series["dates"]) == 14 and series["dates"][-1] == "2026-03-02"
    assert series["session"] == series["search"] == series["print"] == [0] * 14
