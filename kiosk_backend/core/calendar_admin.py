"""Admin console pages /admin/calendar: the working-day calendar's years (core.calendar_store).

Site managers and admins see the years, their source notice and whether they are shipped,
edited or added, a year as twelve month grids, and export a year as JSON; only admins add,
edit and revert years. A year is entered either in a form (the notice's title, 文号, date
and address, and one line per day off and per make-up workday, "2027-01-01 元旦"; a run of
days as "2027-02-06~2027-02-14 春节") or as JSON in the shipped file's shape, pasted or
uploaded. Mistakes come back next to their field, in the console's language, with the line
they are on; nothing is saved until the whole year is right.
"""
from __future__ import annotations

import calendar as monthly
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from ..extensions import db
from . import calendar_store
from .clock import LOCAL_TZ, utcnow
from .errors import DomainError, Invalid
from .i18n import english_part, translate_validation_message
from .payloads import DECODER, MAX_JSON_DEPTH, depth_of, json_problem
from .requests import require_role
from .workdays import SATURDAY, YearArrangement

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

YEAR = "int(min=1950, max=2199)"  # the years workdays.parse_year accepts; others are no page (404)
MAX_JSON_BYTES = 256 * 1024  # a year is about 5 KB
RANGE = "~"
# "2027-01-01", "2027/1/1", "2027.1.1", "2027年1月1日"
_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
# A date or a run of dates, then the holiday's name (a space before it is optional: "2027-1-1元旦").
_LINE = re.compile(rf"^{_DATE}(?:\s*(?:~|～|至|到|—|–|--)\s*{_DATE})?(?:\s*(\D.*?))?\s*$")
MAX_RUN = 31  # days in one "from~to" line
MAX_DAYS = 366  # days in one text area: a year's


def _today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


# ---- pages ---------------------------------------------------------------------------------------

@bp.get("/")
def overview():
    """The years with their source and status; the current or next year missing is said first."""
    overview = calendar_store.years_overview(db.session, today=_today(),
                                             warn_from_month=current_app.config["KIOSK_CALENDAR_WARN_MONTH"])
    return render_template("admin/calendar.html", overview=overview)


@bp.get(f"/<{YEAR}:year>")
def year(year):
    """One year as twelve month grids, its holidays and, when edited, how it differs from the shipped data."""
    status = calendar_store.year_status(db.session, year)
    return render_template("admin/calendar_year.html", status=status, months=month_grids(status.arrangement),
                           holidays=holiday_summary(status.arrangement), saved=request.args.get("saved") == "1",
                           differences=_differences(status))


@bp.get(f"/<{YEAR}:year>.json")
def export(year):
    """The year in effect in the shipped file's shape, as a download (``<year>.json``)."""
    text = json.dumps(calendar_store.year_data(db.session, year), ensure_ascii=False, indent=1) + "\n"
    return current_app.response_class(text, mimetype="application/json",
                                      headers={"Content-Disposition": f'attachment; filename="{year}.json"'})


@bp.route(f"/<{YEAR}:year>/edit", methods=["GET", "POST"])
def edit(year):
    """Edit a year, or enter a missing one (the overview links here for it)."""
    require_role("admin")
    status = calendar_store.year_status(db.session, year)
    if request.method == "POST":
        return _save(lambda: calendar_store.save_year(db.session, form_data(request.form, year=year), actor=g.actor),
                     "admin/calendar_form.html", status=status, year=year)
    return render_template("admin/calendar_form.html", status=status, year=year, errors={},
                           values=form_values(status.arrangement))


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Add a year typed in the form; a year that has data already is refused (edit it instead)."""
    require_role("admin")
    if request.method == "POST":
        return _save(lambda: calendar_store.save_year(db.session, form_data(request.form), actor=g.actor, create=True),
                     "admin/calendar_form.html", status=None, year=None)
    return render_template("admin/calendar_form.html", status=None, year=None, errors={}, values={})


@bp.route("/import", methods=["GET", "POST"])
def import_json():
    """Paste or upload a year as JSON in the shipped file's shape (e.g. one exported here)."""
    require_role("admin")
    if request.method == "POST":
        return _save(lambda: calendar_store.save_year(db.session, json_data(request.files.get("file"),
                                                                             request.form.get("json", "")),
                                                      actor=g.actor),
                     "admin/calendar_import.html", json_errors=True)
    return render_template("admin/calendar_import.html", errors={}, values={})


@bp.post(f"/<{YEAR}:year>/revert")
def revert(year):
    """Back to the shipped data; an added year is deleted only when the form's confirm box is ticked."""
    require_role("admin")
    kept = calendar_store.revert_year(db.session, year, actor=g.actor, delete_added=request.form.get("confirm") == "1")
    return redirect(url_for(".year", year=year) if kept else url_for(".overview"), 303)


def _save(save, template: str, *, json_errors: bool = False, **context):
    """Run ``save`` (parse and store); post/redirect/get to the year on success, else the same
    form again with the person's values and each mistake at its field (the request's
    transaction is rolled back by core.requests, since the answer is ≥ 400)."""
    try:
        arrangement = save()
    except DomainError as exc:
        errors = _in_language(_json_errors(exc) if json_errors else _form_errors(exc))
        return render_template(template, errors=errors, values=request.form, **context), exc.status_code
    return redirect(url_for(".year", year=arrangement.year, saved=1), 303)


def _form_errors(error: DomainError) -> dict[str, list[str]]:
    """Errors by form field; one the form has no field for is shown for the whole form."""
    if not error.errors:
        return {"_": [f"{error.message} / {error.message_zh}"]}
    errors: dict[str, list[str]] = {}
    for field, messages in error.errors.items():
        field = _FORM_FIELDS.get(field, field)
        errors.setdefault(field if field in _FORM_FIELD_NAMES else "_", []).extend(messages)
    return errors


def _json_errors(error: DomainError) -> dict[str, list[str]]:
    """Every mistake of a JSON entry is shown at the one text area, with its path in the JSON."""
    if not error.errors:
        return {"json": [f"{error.message} / {error.message_zh}"]}
    return {"json": [message if field == "json" else f"{field}: {english_part(message)} / {field}："
                     f"{translate_validation_message(message)}"
                     for field, messages in error.errors.items() for message in messages]}


def _in_language(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Messages are "English / 中文"; the console shows the part in its language."""
    lang = getattr(g, "lang", "zh-CN")
    pick = english_part if lang == "en" else translate_validation_message
    return {field: [pick(message) for message in messages] for field, messages in errors.items()}


# ---- the form ------------------------------------------------------------------------------------

# The JSON shape's fields (core.calendar_store.check_year) → the form's fields.
_FORM_FIELDS = {"source.title": "title", "source.number": "number", "source.published": "published",
                "source.url": "url", "(top level)": "_"}
_FORM_FIELD_NAMES = {"year", "title", "number", "published", "url", "days_off", "workdays", "_"}


def _date(groups: tuple[str, str, str]) -> date | None:
    try:
        return date(*map(int, groups))
    except ValueError:
        return None


def _lines(text: str, field: str) -> tuple[list[dict[str, str]], list[int], list[str]]:
    """The entries of a text area ("date name" or "from~to name" per line), the line each entry
    comes from, and the mistakes ("English / 中文", naming the line)."""
    entries, origins, problems = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        start = _date(match.group(1, 2, 3)) if match else None
        end = _date(match.group(4, 5, 6)) if match and match.group(4) else start
        if match is None:
            problems.append(f"line {number}: begin with a date, e.g. 2027-01-01 / 第 {number} 行：请以日期开头，如 2027-01-01")
            continue
        if start is None or end is None:
            problems.append(f"line {number}: no such date / 第 {number} 行：没有这一天")
            continue
        if not start <= end < start + timedelta(days=MAX_RUN):
            problems.append(f"line {number}: {start}~{end} is not a run of at most {MAX_RUN} days / "
                            f"第 {number} 行：{start}~{end} 不是 {MAX_RUN} 天以内的连续日期")
            continue
        if len(entries) + (end - start).days + 1 > MAX_DAYS:
            problems.append(f"line {number}: more than {MAX_DAYS} days in all / 第 {number} 行：总天数超过 {MAX_DAYS} 天")
            break
        name = (match.group(7) or "").strip()
        for offset in range((end - start).days + 1):
            entry = {"date": (start + timedelta(days=offset)).isoformat()}
            if name or field == "days_off":  # a day off must be named; parse_year says so at its line
                entry["name"] = name
            entries.append(entry)
            origins.append(number)
    return entries, origins, problems


_ENTRY = re.compile(r"^(days_off|workdays)\[(\d+)\]")


def form_data(form: Mapping[str, str], *, year: int | None = None) -> dict[str, Any]:
    """The console's form as a year in the shipped file's shape, checked like any admin's
    year (calendar_store.check_year). ``year`` is the page's year; the "add a year" form
    types it in its ``year`` field.

    Raises :class:`Invalid` whose ``errors`` are keyed by the form's fields (``year``,
    ``title``, ``number``, ``published``, ``url``, ``days_off``, ``workdays``); a mistake in
    a text area names its line. Every line's format is checked before the year as a whole.
    """
    problems: dict[str, list[str]] = {}
    for field in ("title", "number", "published"):
        if not (form.get(field) or "").strip():
            problems[field] = ["Required / 必填"]
    if year is None:
        typed = (form.get("year") or "").strip()
        year = int(typed) if re.fullmatch(r"\d{4}", typed) else None
        if year is None:
            problems["year"] = ["A year of four digits, e.g. 2027 / 请填写四位数的年份，如 2027"]
    published = (form.get("published") or "").strip()
    if published and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", published):
        day = _date(m.groups()) if (m := re.fullmatch(_DATE, published)) else None
        published = day.isoformat() if day else published  # an unreadable one is named by the check below
    data: dict[str, Any] = {"year": year, "source": {"title": (form.get("title") or "").strip(),
                                                     "number": (form.get("number") or "").strip(),
                                                     "published": published}}
    if (url := (form.get("url") or "").strip()):
        data["source"]["url"] = url
    origins = {}
    for field in ("days_off", "workdays"):
        data[field], origins[field], bad = _lines(form.get(field) or "", field)
        if bad:
            problems[field] = bad
    if problems:
        raise Invalid("Some fields of the form are not valid.", "表单中有些内容有误。", errors=problems)
    try:
        calendar_store.check_year(data)
    except Invalid as exc:
        [(field, messages)] = exc.errors.items()
        if (entry := _ENTRY.match(field)) is not None:
            line = origins[entry.group(1)][int(entry.group(2))]
            messages = [f"line {line}: {english_part(m)} / 第 {line} 行：{translate_validation_message(m)}"
                        for m in messages]
            field = entry.group(1)
        raise Invalid(exc.message, exc.message_zh, errors={_FORM_FIELDS.get(field, field): messages}) from None
    return data


def day_lines(days: Mapping[date, str]) -> str:
    """Days as the form's lines, a run of consecutive days with the same name on one line
    ("2026-02-15~2026-02-23 春节"): what :func:`form_data` reads back to the same days."""
    lines = []
    ordered = sorted(days.items())
    runs: list[list[tuple[date, str]]] = []
    for day, name in ordered:
        if runs and runs[-1][-1][1] == name and runs[-1][-1][0] + timedelta(days=1) == day and len(runs[-1]) < MAX_RUN:
            runs[-1].append((day, name))
        else:
            runs.append([(day, name)])
    for run in runs:
        first, last, name = run[0][0], run[-1][0], run[0][1]
        when = first.isoformat() if first == last else f"{first.isoformat()}{RANGE}{last.isoformat()}"
        lines.append(f"{when} {name}".rstrip())
    return "\n".join(lines)


def form_values(arrangement: YearArrangement | None) -> dict[str, str]:
    """The form's fields filled with ``arrangement`` (empty for a year without data)."""
    if arrangement is None:
        return {}
    source = arrangement.source
    return {"title": source.title, "number": source.number, "published": source.published.isoformat(),
            "url": source.url or "", "days_off": day_lines(arrangement.days_off),
            "workdays": day_lines(arrangement.workdays)}


# ---- JSON ----------------------------------------------------------------------------------------

def json_data(upload, pasted: str) -> Any:
    """A year as JSON from an uploaded file (if one was chosen) or the pasted text.

    Raises :class:`Invalid` naming the field ``json``: nothing given, too large, not UTF-8,
    not JSON, nested too deep. What the JSON holds is checked by the service.
    """
    if upload is not None and upload.filename:
        raw = upload.stream.read(MAX_JSON_BYTES + 1)
    else:
        raw = pasted.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_JSON_BYTES:
        raise _json_invalid(f"Larger than {MAX_JSON_BYTES // 1024} KB", f"超过 {MAX_JSON_BYTES // 1024} KB")
    if not raw.strip():
        raise _json_invalid("Paste the JSON or choose a file", "请粘贴 JSON 或选择文件")
    try:
        value = DECODER.decode(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _json_invalid("The file is not UTF-8 text", "文件不是 UTF-8 文本") from None
    except json.JSONDecodeError as exc:
        raise _json_invalid(f"Not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
                            f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列") from None
    except (ValueError, RecursionError) as exc:
        raise _json_invalid(*json_problem(exc)) from None
    if depth_of(value) > MAX_JSON_DEPTH:
        raise _json_invalid(*json_problem(RecursionError()))
    return value


def _json_invalid(en: str, zh: str) -> Invalid:
    return Invalid(f"{en}.", f"{zh}。", errors={"json": [f"{en} / {zh}"]})


# ---- the month grids -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    day: date
    kind: str  # "off" (放假), "work" (调休上班), "weekend", "workday"
    name: str = ""  # the holiday

    @property
    def mark(self) -> str | None:
        """The catalogue key of the day's mark (休 / 班), if it has one."""
        return {"off": "calendar.mark.off", "work": "calendar.mark.work"}.get(self.kind)


@dataclass(frozen=True)
class Month:
    month: int
    weeks: list[list[Day | None]]  # Monday first; None outside the month


def month_grids(arrangement: YearArrangement | None) -> list[Month]:
    """The year's twelve months as weeks of days, each day with its kind; none without data."""
    if arrangement is None:
        return []
    months = []
    weeks_of = monthly.Calendar(firstweekday=0).monthdatescalendar
    for month in range(1, 13):
        weeks = [[_day(arrangement, day) if day.month == month else None for day in week]
                 for week in weeks_of(arrangement.year, month)]
        months.append(Month(month, weeks))
    return months


def _day(arrangement: YearArrangement, day: date) -> Day:
    if day in arrangement.days_off:
        return Day(day, "off", arrangement.days_off[day])
    if day in arrangement.workdays:
        return Day(day, "work", arrangement.workdays[day])
    return Day(day, "weekend" if day.weekday() >= SATURDAY else "workday")


@dataclass(frozen=True)
class Holiday:
    name: str
    runs: list[tuple[date, date]]  # the days off, as runs of consecutive days
    days: int
    workdays: list[date]  # the make-up workdays named for it


def holiday_summary(arrangement: YearArrangement | None) -> list[Holiday]:
    """Each holiday of the year with its days off and make-up workdays, in the order of the
    year: the notice's own summary, to check the entry against it."""
    if arrangement is None:
        return []
    out = []
    days = sorted(arrangement.days_off.items())
    names = list(dict.fromkeys(name for _day, name in days))
    for name in names:
        own = [day for day, named in days if named == name]
        runs = []
        for _key, group in groupby(enumerate(own), key=lambda pair: pair[1] - timedelta(days=pair[0])):
            run = [day for _i, day in group]
            runs.append((run[0], run[-1]))
        out.append(Holiday(name, runs, len(own), sorted(d for d, n in arrangement.workdays.items() if n == name)))
    # Make-up workdays named otherwise (or not at all) get a row of their own.
    others = sorted((n, d) for d, n in arrangement.workdays.items() if n not in names)
    for name, group in groupby(others, key=lambda pair: pair[0]):
        out.append(Holiday(name, [], 0, [d for _n, d in group]))
    return out


def _differences(status: calendar_store.YearStatus) -> dict[str, list[str]]:
    """How an edited year differs from the shipped one (dates added and removed per list)."""
    if status.origin is not calendar_store.YearOrigin.EDITED:
        return {}
    return calendar_store.differences(status.shipped, status.arrangement)
