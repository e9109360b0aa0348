"""The working-day calendar the service counts on: the shipped years plus admins' edits.

``core.workdays`` is the pure calendar and ships the State Council's arrangements as data
(``data/holidays/<year>.json``). Admins add the next year when its notice is published
(each October–November) and correct a shipped year if ever needed; their years are stored
here, one row per year in the shipped file's JSON shape, and replace the shipped year of the
same number. Nothing here ever invents a year: a year with neither a shipped file nor a row
raises :class:`~kiosk_backend.core.workdays.CalendarYearMissing` wherever a deadline reaches it,
and :func:`years_overview` tells the console about the current and the next year.

- :func:`calendar` — the calendar to count on, shipped + stored, cached per process; every call
  checks the database (one small query), so an edit made on another app server is seen at once.
- :func:`save_year` — validate and store an admin's year (audited, ``calendar.save_year``).
- :func:`revert_year` — drop an admin's year: the shipped data applies again; an *added* year
  (one with no shipped data) is only deleted when the caller says so (``delete_added=True``),
  since that leaves the year without a calendar.
- :func:`years_overview`, :func:`year_status` — what the console shows.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from . import audit
from .actors import Actor
from .clock import utcnow
from .errors import Conflict, Invalid, NotFound
from .payloads import find_unsafe_text
from .workdays import Calendar, CalendarDataError, YearArrangement, dump_year, parse_year

log = logging.getLogger(__name__)

# From this month on, a next year without data is a warning on the console (the notice is
# usually published in late October or November); before it, a hint. KIOSK_CALENDAR_WARN_MONTH.
DEFAULT_WARN_MONTH = 11

# Limits on what an admin may type (the shipped notices are far below them).
MAX_TITLE = 200
MAX_NUMBER = 100
MAX_URL = 500
MAX_NAME = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CalendarYear(db.Model):
    """An admin's arrangement of one year, replacing the shipped one of the same year if any."""

    __tablename__ = "core_calendar_year"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the shipped file's shape (workdays.dump_year)
    # A new random value at every save. Caches compare the (year, revision) pairs: unlike
    # timestamps, no clock skew between app servers and no delete-then-add can repeat them.
    revision: Mapped[str] = mapped_column(sa.String(32))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"<CalendarYear {self.year} by {self.updated_by} at {self.updated_at:%Y-%m-%d %H:%M}>"


class YearOrigin(StrEnum):
    SHIPPED = "shipped"  # the shipped file, unchanged
    EDITED = "edited"    # an admin's year replaces the shipped one
    ADDED = "added"      # an admin's year, nothing shipped
    BROKEN = "broken"    # a stored year that no longer passes the checks: the year counts as missing
    MISSING = "missing"  # no data at all


@dataclass(frozen=True)
class YearStatus:
    """One year as the console shows it: where its data comes from and what is in effect."""

    year: int
    origin: YearOrigin
    arrangement: YearArrangement | None  # in effect; None when missing or broken
    shipped: YearArrangement | None
    updated_at: datetime | None = None
    updated_by: str | None = None
    problem: CalendarDataError | None = None  # why a stored year is broken


@dataclass(frozen=True)
class Notice:
    """Something the console says about the calendar: ``key`` in the message catalogue, with ``year``."""

    level: str  # "error", "warning" or "info"
    key: str
    year: int


@dataclass(frozen=True)
class CalendarOverview:
    years: list[YearStatus]
    notices: list[Notice]


# ---- the calendar to count on ------------------------------------------------------------------

@cache
def shipped_calendar() -> Calendar:
    """The years shipped in the package, read and checked once per process."""
    return Calendar.shipped()


_ORIGIN = "core_calendar_year"
# (probe, calendar): the probe is the sorted (year, revision) pairs the calendar was built from.
_cached: tuple[tuple[tuple[int, str], ...], Calendar] | None = None


def calendar(session: Session) -> Calendar:
    """The working-day calendar: the shipped years, with admins' years added or replacing them.

    Cached per process; every call reads the stored years' (year, revision) pairs, so an edit
    committed anywhere (another app server) is used from the next call on. A stored year
    that no longer passes the checks is left out (logged; the console's overview names it):
    that year then counts as missing rather than silently falling back to the shipped data
    an admin meant to replace. Raises nothing itself; the calendar raises
    ``CalendarYearMissing`` for a date in a year without data.
    """
    global _cached
    probe = tuple((year, revision) for year, revision in session.execute(
        sa.select(CalendarYear.year, CalendarYear.revision).order_by(CalendarYear.year)))
    cached = _cached
    if cached is not None and cached[0] == probe:
        return cached[1]
    rows = session.execute(sa.select(CalendarYear.year, CalendarYear.revision, CalendarYear.data)
                           .order_by(CalendarYear.year)).all()
    arrangements = dict(shipped_calendar().arrangements)
    for year, _revision, data in rows:
        try:
            arrangements[year] = parse_year(data, origin=f"{_ORIGIN} {year}", expected_year=year)
        except CalendarDataError as exc:
            log.error("stored calendar year %s is invalid, the year counts as missing: %s", year, exc)
            arrangements.pop(year, None)
    built = Calendar(arrangements)
    # Keyed by what was read with the data, not by the first probe: a change in between is
    # then simply seen as a change at the next call.
    _cached = (tuple((year, revision) for year, revision, _data in rows), built)
    return built


# ---- checking an admin's year ------------------------------------------------------------------

def _invalid(field: str, en: str, zh: str, *, year: Any = None) -> Invalid:
    known = isinstance(year, int) and not isinstance(year, bool)
    return Invalid(f"The {f'{year} ' if known else ''}holiday arrangement is not valid: {field}: {en}",
                   f"{f'{year} 年' if known else ''}放假安排有误：{field}：{zh}",
                   errors={field: [f"{en} / {zh}"]})


def check_year(data: Any, *, origin: str = "admin") -> YearArrangement:
    """``data`` (the shipped file's JSON shape) checked as an admin's entry: everything
    ``workdays.parse_year`` checks, plus text the database can store and a page can show
    (no control characters, bounded lengths, an http(s) URL).

    Raises :class:`Invalid` whose ``errors`` has one entry, keyed by the field's path in the
    JSON shape (``year``, ``source.title``, ``days_off[3].date``, ``(top level)``), its message
    ``"English / 中文"``.
    """
    year = data.get("year") if isinstance(data, Mapping) else None
    where = find_unsafe_text(data)
    if where is not None:  # "days_off.0.name" → "days_off[0].name", as parse_year names fields
        where = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", where)
        raise _invalid(where, "contains a character that cannot be stored (NUL or an unpaired surrogate)",
                       "含有无法保存的字符（NUL 空字符或不成对的代理字符）", year=year)
    try:
        arrangement = parse_year(data, origin=origin)
    except CalendarDataError as exc:
        raise _invalid(exc.field, exc.message, exc.message_zh, year=year) from None
    source = arrangement.source
    for field, value, limit in (("source.title", source.title, MAX_TITLE), ("source.number", source.number, MAX_NUMBER),
                                ("source.url", source.url or "", MAX_URL)):
        if len(value) > limit:
            raise _invalid(field, f"longer than {limit} characters", f"超过 {limit} 个字符", year=year)
        if _CONTROL.search(value):
            raise _invalid(field, "contains a control character (a line break, a tab)", "含有换行符等控制字符", year=year)
    if source.url is not None and not re.match(r"https?://[^\s/]+", source.url):
        raise _invalid("source.url", "must be an http:// or https:// address", "应为 http:// 或 https:// 开头的网址",
                       year=year)
    if source.published.year > arrangement.year:
        raise _invalid("source.published", f"published after the year it arranges ({source.published})",
                       f"发布日期晚于所安排的年份（{source.published}）", year=year)
    for key, days in (("days_off", arrangement.days_off), ("workdays", arrangement.workdays)):
        for index, name in enumerate(days.values()):
            if len(name) > MAX_NAME or _CONTROL.search(name):
                raise _invalid(f"{key}[{index}].name", f"a holiday's name is one line of at most {MAX_NAME} characters",
                               f"节日名称应为一行，最多 {MAX_NAME} 个字符", year=year)
    return arrangement


# ---- changing the stored years -------------------------------------------------------------------

def differences(before: YearArrangement | None, after: YearArrangement | None) -> dict[str, list[str]]:
    """The dates added to and removed from each list (``days_off_added``, ``workdays_removed``, …,
    ISO dates; a list without changes is left out): for the audit entry and the console."""
    out: dict[str, list[str]] = {}
    for key in ("days_off", "workdays"):
        old = set(getattr(before, key, {}) or {})
        new = set(getattr(after, key, {}) or {})
        if new - old:
            out[f"{key}_added"] = [d.isoformat() for d in sorted(new - old)]
        if old - new:
            out[f"{key}_removed"] = [d.isoformat() for d in sorted(old - new)]
    return out


def _stored_arrangement(row: CalendarYear | None) -> YearArrangement | None:
    if row is None:
        return None
    try:
        return parse_year(row.data, origin=f"{_ORIGIN} {row.year}", expected_year=row.year)
    except CalendarDataError:
        return None


def save_year(session: Session, data: Any, *, actor: Actor | str, create: bool = False,
              now=utcnow) -> YearArrangement:
    """Store an admin's arrangement of ``data["year"]`` (the shipped file's JSON shape).

    It replaces the shipped year of the same number, or adds a year. Saving exactly the
    shipped data drops the stored year instead (the year is "shipped" again); saving what is
    already in effect changes nothing and records nothing. ``create=True`` (the console's
    "add a year") refuses a year that already has data, so a typo in the year cannot
    overwrite another year. Audited as ``calendar.save_year`` with the dates added and removed.

    Raises :class:`Invalid` (see :func:`check_year`) and :class:`Conflict` (``create`` and the
    year has data).
    """
    arrangement = check_year(data)
    year = arrangement.year
    shipped = shipped_calendar().arrangements.get(year)
    row = session.get(CalendarYear, year)
    before = _stored_arrangement(row) if row is not None else shipped
    if create and (row is not None or shipped is not None):
        raise Conflict(f"{year} already has a holiday arrangement; edit it instead.",
                       f"{year} 年已有放假安排，请直接修改。", errors={"year": [
                           f"{year} already has an arrangement / {year} 年已有放假安排"]})
    if before == arrangement:
        return arrangement
    was = _status(year, row, shipped).origin
    if shipped == arrangement:
        session.delete(row)  # the published data again: nothing of ours to keep
    else:
        if row is None:
            row = CalendarYear(year=year)
            session.add(row)
        row.data = dump_year(arrangement)
        row.revision = secrets.token_hex(16)
        row.updated_at = now()
        row.updated_by = (actor.label if isinstance(actor, Actor) else actor)[:100]
    audit.record(session, actor=actor, action="calendar.save_year", target=f"calendar:{year}", now=now,
                 details={"year": year, "was": str(was), "source_number": arrangement.source.number,
                          "matches_shipped": shipped == arrangement, **differences(before, arrangement)})
    session.flush()
    return arrangement


def revert_year(session: Session, year: int, *, actor: Actor | str, delete_added: bool = False,
                now=utcnow) -> YearArrangement | None:
    """Drop the admins' arrangement of ``year``; returns the arrangement now in effect.

    A year with shipped data gets it back (audited ``calendar.revert_year``); reverting a
    year that has no stored arrangement is a no-op that returns the shipped one (a second
    click changes nothing). A year the admins *added* (nothing shipped) is deleted only with
    ``delete_added=True`` (audited ``calendar.delete_year``) and then returns None: the year has
    no calendar any more, and deadlines reaching it raise ``CalendarYearMissing``.

    Raises :class:`NotFound` (no data of ``year`` at all) and :class:`Invalid` (an added year
    without ``delete_added``, naming the field ``confirm``).
    """
    shipped = shipped_calendar().arrangements.get(year)
    row = session.get(CalendarYear, year)
    if row is None:
        if shipped is None:
            raise NotFound(f"There is no holiday arrangement of {year}.", f"没有 {year} 年的放假安排。")
        return shipped
    if shipped is None and not delete_added:
        raise Invalid(f"{year} has no published data shipped with the service: deleting it leaves the year without "
                      f"a working-day calendar. Confirm to delete it.",
                      f"{year} 年没有随系统发布的数据：删除后该年没有工作日历，请确认删除。",
                      errors={"confirm": [f"Confirm deleting {year} / 请确认删除 {year} 年"]})
    before = _stored_arrangement(row)
    session.delete(row)
    audit.record(session, actor=actor, action="calendar.revert_year" if shipped is not None else "calendar.delete_year",
                 target=f"calendar:{year}", now=now, details={"year": year, **differences(before, shipped)})
    session.flush()
    return shipped


# ---- what the console shows --------------------------------------------------------------------

def _status(year: int, row: CalendarYear | None, shipped: YearArrangement | None) -> YearStatus:
    if row is None:
        origin = YearOrigin.SHIPPED if shipped is not None else YearOrigin.MISSING
        return YearStatus(year, origin, shipped, shipped)
    try:
        stored = parse_year(row.data, origin=f"{_ORIGIN} {year}", expected_year=year)
    except CalendarDataError as exc:
        return YearStatus(year, YearOrigin.BROKEN, None, shipped, row.updated_at, row.updated_by, exc)
    origin = YearOrigin.EDITED if shipped is not None else YearOrigin.ADDED
    return YearStatus(year, origin, stored, shipped, row.updated_at, row.updated_by)


def year_status(session: Session, year: int) -> YearStatus:
    """Where ``year``'s data comes from and what is in effect (origin ``missing`` if none)."""
    return _status(year, session.get(CalendarYear, year), shipped_calendar().arrangements.get(year))


def year_data(session: Session, year: int) -> dict[str, Any]:
    """The arrangement of ``year`` in effect, in the shipped file's JSON shape (the export).

    Raises :class:`NotFound` when the year has no data (or only a broken stored one).
    """
    arrangement = year_status(session, year).arrangement
    if arrangement is None:
        raise NotFound(f"There is no holiday arrangement of {year}.", f"没有 {year} 年的放假安排。")
    return dump_year(arrangement)


def years_overview(session: Session, *, today: date, warn_from_month: int = DEFAULT_WARN_MONTH) -> CalendarOverview:
    """Every year with data, and the current and next year even without, oldest first; and
    the notices: an error when the current year (``today.year``) has no data or a stored year
    is broken, a warning when the next year has none from ``warn_from_month`` on (the State
    Council publishes in October–November), a hint before that month.
    """
    rows = {row.year: row for row in session.scalars(sa.select(CalendarYear))}
    shipped = shipped_calendar().arrangements
    current, following = today.year, today.year + 1
    years = sorted(set(rows) | set(shipped) | {current, following})
    statuses = [_status(year, rows.get(year), shipped.get(year)) for year in years]
    notices = []
    by_year = {status.year: status for status in statuses}
    for status in statuses:
        if status.origin is YearOrigin.BROKEN:
            notices.append(Notice("error", "calendar.notice.broken", status.year))
    if by_year[current].arrangement is None:
        notices.append(Notice("error", "calendar.notice.current_missing", current))
    if by_year[following].arrangement is None:
        if today.month >= warn_from_month:
            notices.append(Notice("warning", "calendar.notice.next_missing", following))
        else:
            notices.append(Notice("info", "calendar.notice.next_not_yet", following))
    return CalendarOverview(statuses, notices)
