"""The working-day calendar (工作日历): deadlines counted in working days.

A day is a working day when it is a Monday–Friday that the year's arrangement does not give
off (放假), or a Saturday/Sunday the arrangement makes a working day (调休上班). The
arrangements ship as data in ``data/holidays/<year>.json``, one file per year, taken from the
notice the General Office of the State Council publishes each autumn for the next year
(国务院办公厅关于YYYY年部分节假日安排的通知); admins add and edit years in the same shape
(:meth:`Calendar.with_years`, :func:`dump_year`), stored by ``core.calendar_store``.

A date in a year without an arrangement raises :class:`CalendarYearMissing`: it is never
treated as "weekends only", since that would quietly move deadlines across an unknown
Spring Festival.

Conventions (the ones the 政务服务 promise counts with):

- :meth:`Calendar.add_workdays` — the deadline ``n`` working days after ``start``: the start day
  (the day the application is accepted, 受理日) does not count, whatever it is; the first day
  counted is the first working day after it, and the deadline is the ``n``-th.
- :meth:`Calendar.workdays_between` — working days in ``(a, b]``: after ``a`` up to and including
  ``b``, so ``workdays_between(s, add_workdays(s, n)) == n``.
- :meth:`Calendar.deadline` with pauses — 特别程序 (expert review, on-site inspection, …) stops
  the clock: a working day inside a pause is not counted, so the deadline moves by the working
  days paused before it is reached. A pause is half-open: the day the clock stops is not
  counted, the day it runs again is (:class:`Pause`), so a pause that starts and ends on the
  same day costs nothing and a pause of N days costs at most N.

Pure: no Flask, no database. Dates are ``datetime.date`` in China Standard Time.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data" / "holidays"

SATURDAY = 5  # date.weekday(): Monday is 0
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CalendarError(Exception):
    """Base of the working-day calendar's errors."""


class CalendarYearMissing(CalendarError):
    """A date falls in a year the calendar has no arrangement for."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no working-day calendar for {year} (工作日历缺少 {year} 年的放假安排)")
        self.year = year


class CalendarDataError(CalendarError):
    """A year's data is malformed; ``origin`` names the file (or the admin's entry) and ``field`` the field.

    ``message`` is English and ``message_zh`` Chinese (the console shows an admin's mistakes in
    both); ``str()`` is ``origin: field: message``.
    """

    def __init__(self, origin: str, field: str, message: str, message_zh: str | None = None) -> None:
        super().__init__(f"{origin}: {field}: {message}")
        self.origin = origin
        self.field = field
        self.message = message
        self.message_zh = message_zh or message


@dataclass(frozen=True)
class HolidaySource:
    """The published notice a year's arrangement comes from."""

    title: str
    number: str  # 文号, e.g. 国办发明电〔2024〕12号
    published: date
    url: str | None = None


@dataclass(frozen=True)
class YearArrangement:
    """One year's arrangement: days off (date → holiday name) and make-up workdays (date → holiday)."""

    year: int
    source: HolidaySource
    days_off: Mapping[date, str]
    workdays: Mapping[date, str]

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` (which must be in this year) is a working day."""
        if day in self.days_off:
            return False
        if day in self.workdays:
            return True
        return day.weekday() < SATURDAY


@dataclass(frozen=True)
class Pause:
    """A clock stop (特别程序, 补正) from ``start``, the day the clock stops, to ``end``, the day it
    runs again: the days ``start <= day < end`` are paused and ``end`` counts again. A pause that
    ends on the day it starts pauses nothing.

    A pause still running has no end yet: pass the day after the last day to leave out (usually
    tomorrow) as ``end``.
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"pause ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


@dataclass(frozen=True)
class Remaining:
    """Where a deadline stands on a day: still to come, due that day, or overdue.

    ``workdays_left`` — working days after today up to and including the deadline (0 when due
    today or overdue); ``days_overdue`` — calendar days past the deadline and ``workdays_overdue``
    the working days among them (0 unless overdue). ``key``/``count`` name the message the UI
    shows (剩余 N 个工作日 / 今天到期 / 已超期 N 天) through the message catalogue.
    """

    deadline: date
    today: date
    workdays_left: int
    days_overdue: int
    workdays_overdue: int

    @property
    def overdue(self) -> bool:
        return self.days_overdue > 0

    @property
    def key(self) -> str:
        if self.overdue:
            return "deadline.overdue"
        return "deadline.remaining" if self.workdays_left else "deadline.due_today"

    @property
    def count(self) -> int:
        return self.days_overdue if self.overdue else self.workdays_left


# ---- loading and validation -------------------------------------------------------------------

_KIND_ZH = {int: "整数", str: "文本", list: "列表", Mapping: "对象"}


def _require(data: Mapping[str, Any], key: str, kind: type, origin: str, field: str) -> Any:
    if key not in data:
        raise CalendarDataError(origin, field, "missing", "缺少此项")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CalendarDataError(origin, field, f"must be {kind.__name__}, not {type(value).__name__}",
                                f"类型应为 {_KIND_ZH.get(kind, kind.__name__)}，不是 {type(value).__name__}")
    if kind is str and not value.strip():
        raise CalendarDataError(origin, field, "empty", "不能为空")
    return value


def _parse_date(value: Any, origin: str, field: str) -> date:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise CalendarDataError(origin, field, f"not a YYYY-MM-DD date: {value!r}", f"不是 YYYY-MM-DD 格式的日期：{value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CalendarDataError(origin, field, f"no such date: {value!r}", f"没有这一天：{value!r}") from None


def _parse_days(data: Mapping[str, Any], key: str, year: int, origin: str, *,
                name_required: bool) -> dict[date, str]:
    entries = _require(data, key, list, origin, key)
    days: dict[date, str] = {}
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        if not isinstance(entry, Mapping):
            raise CalendarDataError(origin, where, "must be an object with date and name", "应为含 date 和 name 的对象")
        day = _parse_date(entry.get("date"), origin, f"{where}.date")
        if day.year != year:
            raise CalendarDataError(origin, f"{where}.date", f"{day} is not in {year}", f"{day} 不在 {year} 年内")
        if day in days:
            raise CalendarDataError(origin, f"{where}.date", f"{day} listed twice", f"{day} 重复列出")
        name = entry.get("name")
        if name is None and not name_required:
            name = ""
        elif not isinstance(name, str) or not name.strip():
            raise CalendarDataError(origin, f"{where}.name", f"the holiday of {day} is not named", f"{day} 未写节日名称")
        days[day] = name.strip()
    return days


def parse_year(data: Any, *, origin: str, expected_year: int | None = None) -> YearArrangement:
    """Validate one year's data (the JSON shape of ``data/holidays/<year>.json``).

    Raises :class:`CalendarDataError` naming ``origin`` and the field when: a field is missing or
    of the wrong type, a date is malformed or outside the year, a day is listed twice or both
    off and working, a make-up workday is not a Saturday or Sunday, or a day off has no name.
    """
    if not isinstance(data, Mapping):
        raise CalendarDataError(origin, "(top level)", "must be an object", "应为 JSON 对象")
    year = _require(data, "year", int, origin, "year")
    if expected_year is not None and year != expected_year:
        raise CalendarDataError(origin, "year", f"{year} does not match the file's year {expected_year}",
                                f"{year} 与文件的年份 {expected_year} 不符")
    if not 1949 < year < 2200:
        raise CalendarDataError(origin, "year", f"implausible year {year}", f"年份 {year} 不合理")
    source_data = _require(data, "source", Mapping, origin, "source")
    url = source_data.get("url")
    if url is not None and not isinstance(url, str):
        raise CalendarDataError(origin, "source.url", "must be a string", "应为文本")
    source = HolidaySource(
        title=_require(source_data, "title", str, origin, "source.title").strip(),
        number=_require(source_data, "number", str, origin, "source.number").strip(),
        published=_parse_date(source_data.get("published"), origin, "source.published"),
        url=url,
    )
    days_off = _parse_days(data, "days_off", year, origin, name_required=True)
    workdays = _parse_days(data, "workdays", year, origin, name_required=False)
    for index, (day, _name) in enumerate(workdays.items()):
        if day in days_off:
            raise CalendarDataError(origin, f"workdays[{index}].date", f"{day} is also a day off", f"{day} 同时被列为放假日")
        if day.weekday() < SATURDAY:
            raise CalendarDataError(origin, f"workdays[{index}].date",
                                    f"{day} is a weekday: make-up workdays (调休上班) fall on a Saturday or Sunday",
                                    f"{day} 是工作日（周一至周五）：调休上班日应为周六或周日")
    return YearArrangement(year=year, source=source, days_off=days_off, workdays=workdays)


def dump_year(arrangement: YearArrangement) -> dict[str, Any]:
    """``arrangement`` in the JSON shape of ``data/holidays/<year>.json``, days in date order:
    ``parse_year(dump_year(a), origin=…) == a``. For storing admins' years and exporting any year."""
    source = arrangement.source
    return {
        "year": arrangement.year,
        "source": {"title": source.title, "number": source.number, "published": source.published.isoformat(),
                   **({"url": source.url} if source.url is not None else {})},
        "days_off": [{"date": day.isoformat(), "name": name} for day, name in sorted(arrangement.days_off.items())],
        # A make-up workday's name is optional; an empty one is left out (the parser refuses "").
        "workdays": [{"date": day.isoformat(), **({"name": name} if name else {})}
                     for day, name in sorted(arrangement.workdays.items())],
    }


def load_year_file(path: Path) -> YearArrangement:
    """Read and validate ``<year>.json``; the file name must be the year it holds."""
    origin = str(path)
    if not path.stem.isdigit():
        raise CalendarDataError(origin, "(file name)", "must be <year>.json", "文件名应为 <年份>.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalendarDataError(origin, "(file)", f"not JSON: {exc}", f"不是有效的 JSON：{exc}") from None
    return parse_year(data, origin=origin, expected_year=int(path.stem))


def load_directory(directory: Path) -> list[YearArrangement]:
    """Every ``<year>.json`` in ``directory``, validated, oldest first."""
    return [load_year_file(path) for path in sorted(directory.glob("*.json"))]


# ---- the calendar ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Calendar:
    """Working days over the years it has arrangements for; see the module docstring for conventions."""

    arrangements: Mapping[int, YearArrangement] = field(default_factory=dict)

    @classmethod
    def of(cls, arrangements: Iterable[YearArrangement]) -> Calendar:
        """A calendar of these years; a later arrangement for the same year replaces an earlier one."""
        return cls({arrangement.year: arrangement for arrangement in arrangements})

    @classmethod
    def shipped(cls, directory: Path = DATA_DIR) -> Calendar:
        """The arrangements shipped in the package (``data/holidays``)."""
        return cls.of(load_directory(directory))

    def with_years(self, extra: Iterable[Mapping[str, Any] | YearArrangement], *,
                   origin: str = "extra") -> Calendar:
        """This calendar plus ``extra`` years (e.g. edited by admins), which replace the same years.

        Mappings are validated with :func:`parse_year`; ``origin[i]`` names a bad one.
        """
        added = [item if isinstance(item, YearArrangement) else parse_year(item, origin=f"{origin}[{index}]")
                 for index, item in enumerate(extra)]
        return Calendar.of([*self.arrangements.values(), *added])

    def years(self) -> list[int]:
        """The years covered, ascending."""
        return sorted(self.arrangements)

    def arrangement(self, year: int) -> YearArrangement:
        """The arrangement of ``year``; raises :class:`CalendarYearMissing`."""
        try:
            return self.arrangements[year]
        except KeyError:
            raise CalendarYearMissing(year) from None

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day; raises :class:`CalendarYearMissing`."""
        return self.arrangement(day.year).is_workday(day)

    def holiday_name(self, day: date) -> str | None:
        """The holiday ``day`` is off for, or ``None``; raises :class:`CalendarYearMissing`."""
        return self.arrangement(day.year).days_off.get(day)

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts; ``n == 0`` gives ``start``).

        Raises ``ValueError`` for a negative ``n`` and :class:`CalendarYearMissing` when the count
        reaches a year without data.
        """
        return self.deadline(start, n)

    def deadline(self, start: date, n: int, pauses: Iterable[Pause] = ()) -> date:
        """The ``n``-th working day after ``start`` that is not inside a pause (特别程序 stops the clock).

        Pauses may overlap or begin before ``start``; a pause beginning after the deadline has
        been reached does not move it. Raises like :meth:`add_workdays`.
        """
        if n < 0:
            raise ValueError(f"a deadline is a non-negative number of working days, not {n}")
        stops = sorted(pauses, key=lambda pause: pause.start)
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_workday(day) and not any(day in pause for pause in stops):
                counted += 1
        return day

    def workdays_between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b``; negative when ``b`` is before ``a``.

        Raises :class:`CalendarYearMissing` when a day counted has no data.
        """
        if b < a:
            return -self.workdays_between(b, a)
        return sum(1 for offset in range(1, (b - a).days + 1) if self.is_workday(a + timedelta(days=offset)))

    def remaining(self, deadline: date, today: date) -> Remaining:
        """Where ``deadline`` stands on ``today`` (剩余 N 个工作日 / 今天到期 / 已超期 N 天).

        Raises :class:`CalendarYearMissing` when the days between have no data.
        """
        if today <= deadline:
            return Remaining(deadline, today, self.workdays_between(today, deadline), 0, 0)
        return Remaining(deadline, today, 0, (today - deadline).days, self.workdays_between(deadline, today))
