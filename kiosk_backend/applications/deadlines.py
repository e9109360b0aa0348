"""Promised deadlines (承诺办结时限) of applications, on the working-day calendar.

The clock starts the day after 受理 (core/workdays.py's convention) and stops while the
application waits in 特别程序 or for the applicant's 补正 (states.PAUSED). A deadline is
stored with the pauses that have ended; while a pause runs the deadline is not known yet (it
moves every working day), and residents read "计时暂停" instead of a count.

Pure: no Flask, no database.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core.workdays import Calendar, Pause, Remaining

CHINA = timezone(timedelta(hours=8), "CST")  # no daylight saving time since 1991
WORKING_DAYS = "工作日"
CALENDAR_DAYS = "自然日"
UNITS = (WORKING_DAYS, CALENDAR_DAYS)


def china_day(moment: datetime) -> date:
    """The date in China Standard Time of an aware datetime."""
    return moment.astimezone(CHINA).date()


def pauses_from(stored: Iterable[Mapping[str, Any]]) -> list[Pause]:
    """The closed pauses kept on an application (``[{"start": "2026-03-02", "end": ...}]``):
    ``start`` the day the clock stopped, ``end`` the day it ran again."""
    return [Pause(date.fromisoformat(p["start"]), date.fromisoformat(p["end"])) for p in stored]


def pause_record(start: date, end: date, kind: str) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat(), "kind": kind}


def deadline(calendar: Calendar, accepted_on: date, days: int, unit: str, pauses: Iterable[Pause] = ()) -> date:
    """The promised deadline of an application accepted on ``accepted_on``.

    ``unit`` 工作日 counts working days on ``calendar`` (pauses skip the working days inside
    them); 自然日 counts calendar days and pauses skip their days. Either way a day inside
    several pauses is skipped once, and pauses are half-open (core.workdays.Pause: the day the
    clock stops is skipped, the day it runs again counts). ``days == 0`` (即办件) is due on the
    day of 受理. Raises CalendarYearMissing (working days only) when the count reaches a year
    the calendar has no data for.
    """
    pauses = list(pauses)
    if unit == CALENDAR_DAYS:
        day, counted = accepted_on, 0
        while counted < days:
            day += timedelta(days=1)
            if not any(day in pause for pause in pauses):
                counted += 1
        return day
    return calendar.deadline(accepted_on, days, pauses)


def remaining(calendar: Calendar, due: date, today: date) -> Remaining:
    """剩余 N 个工作日 / 今天到期 / 已超期 N 天 (core.workdays.Calendar.remaining)."""
    return calendar.remaining(due, today)
