"""core.calendar_store: the shipped years plus admins' years, the cache every app server
checks against the database, saving, reverting and the console's overview."""
from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core import audit, calendar_store
from kiosk_backend.core.calendar_store import CalendarYear, YearOrigin
from kiosk_backend.core.errors import Conflict, Invalid, NotFound
from kiosk_backend.core.workdays import DATA_DIR, CalendarYearMissing, dump_year, load_year_file
from kiosk_backend.extensions import db as _db

D = date


def year_2027(**changes) -> dict:
    """A made-up 2027 for the tests (not the published arrangement): 元旦 and 春节 off, one make-up Saturday."""
    data = {
        "year": 2027,
        "source": {"title": "测试用 2027 年放假安排", "number": "测试〔2026〕1号", "published": "2026-11-10"},
        "days_off": [{"date": f"2027-01-0{d}", "name": "元旦"} for d in (1, 2, 3)]
        + [{"date": (D(2027, 2, 6) + timedelta(days=i)).isoformat(), "name": "春节"} for i in range(9)],
        "workdays": [{"date": "2027-02-20", "name": "春节"}],
    }
    data.update(changes)
    return data


def shipped_2026(**changes) -> dict:
    data = json.loads((DATA_DIR / "2026.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


def rows(db) -> list[CalendarYear]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CalendarYear).order_by(CalendarYear.year)))


def actions(db) -> list[str]:
    return [entry.action for entry in reversed(audit.search(db.session, action="calendar."))]


# ---- serialising ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(DATA_DIR.glob("*.json")), ids=lambda p: p.name)
def test_a_shipped_year_dumps_back_to_its_file(path):
    assert dump_year(load_year_file(path)) == json.loads(path.read_text(encoding="utf-8"))


# ---- the calendar to count on --------------------------------------------------------------

def test_without_stored_years_the_calendar_is_the_shipped_one(app, db):
    cal = calendar_store.calendar(db.session)
    assert cal.years() == [2025, 2026]
    with pytest.raises(CalendarYearMissing):
        cal.is_workday(D(2027, 1, 4))


def test_a_stored_year_replaces_the_shipped_one(app, db, clock):
    assert calendar_store.calendar(db.session).is_workday(D(2026, 10, 8))
    days_off = [*shipped_2026()["days_off"], {"date": "2026-10-08", "name": "国庆节"}]
    calendar_store.save_year(db.session, shipped_2026(days_off=days_off), actor="admin", now=clock)
    db.session.commit()
    cal = calendar_store.calendar(db.session)
    assert not cal.is_workday(D(2026, 10, 8)) and cal.holiday_name(D(2026, 10, 8)) == "国庆节"
    assert cal.add_workdays(D(2026, 9, 30), 1) == D(2026, 10, 9)
    [row] = rows(db)
    assert (row.year, row.updated_by, row.updated_at) == (2026, "admin", clock())
    assert row.data["days_off"][-1] == {"date": "2026-10-08", "name": "国庆节"}  # stored in date order
    assert repr(row).startswith("<CalendarYear 2026 by admin")
    [entry] = audit.search(db.session, action="calendar.save_year")
    assert entry.target == "calendar:2026" and entry.details["was"] == "shipped"
    assert entry.details["days_off_added"] == ["2026-10-08"] and "days_off_removed" not in entry.details


def test_an_added_year_makes_a_missing_date_count(app, db):
    with pytest.raises(CalendarYearMissing):
        calendar_store.calendar(db.session).add_workdays(D(2026, 12, 30), 2)
    saved = calendar_store.save_year(db.session, year_2027(), actor="admin")
    assert saved.year == 2027
    cal = calendar_store.calendar(db.session)
    assert cal.years() == [2025, 2026, 2027]
    assert cal.add_workdays(D(2026, 12, 30), 2) == D(2027, 1, 4)  # Thu 31 Dec, then 1–3 Jan off
    assert cal.is_workday(D(2027, 2, 20)) and not cal.is_workday(D(2027, 2, 8))
    assert audit.search(db.session, action="calendar.save_year")[0].details["was"] == "missing"


@pytest.mark.parametrize(("data", "field", "words"), [
    (year_2027(year="2027"), "year", "must be int"),
    (year_2027(year=1900), "year", "implausible"),
    (year_2027(source={"title": "t", "published": "2026-11-10"}), "source.number", "missing"),
    (year_2027(days_off=[{"date": "2027-01-01"}]), "days_off[0].name", "not named"),
    (year_2027(days_off=[{"date": "2028-01-01", "name": "元旦"}]), "days_off[0].date", "not in 2027"),
    (year_2027(workdays=[{"date": "2027-01-04", "name": "元旦"}]), "workdays[0].date", "weekday"),
    (year_2027(workdays=[{"date": "2027-01-02", "name": "元旦"}]), "workdays[0].date", "also a day off"),
    (year_2027(source={"title": "t\nx", "number": "n", "published": "2026-11-10"}), "source.title", "control"),
    (year_2027(source={"title": "t", "number": "n", "published": "2026-11-10", "url": "javascript:alert(1)"}),
     "source.url", "http"),
    (year_2027(source={"title": "t", "number": "n", "published": "2028-01-02"}), "source.published", "after"),
    (year_2027(source={"title": "t" * 201, "number": "n", "published": "2026-11-10"}), "source.title", "200"),
    (year_2027(days_off=[{"date": "2027-01-01", "name": "元" * 51}]), "days_off[0].name", "50"),
    (year_2027(days_off=[{"date": "2027-01-01", "name": "元\x00旦"}]), "days_off[0].name", "NUL"),
    ([1, 2], "(top level)", "object"),
])
def test_invalid_data_is_refused_naming_the_field_and_nothing_is_written(app, db, data, field, words):
    with pytest.raises(Invalid) as raised:
        calendar_store.save_year(db.session, data, actor="admin")
    error = raised.value
    assert list(error.errors) == [field], error.errors
    message = error.errors[field][0]
    assert words in message and " / " in message and field in error.message and field in error.message_zh
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message.split(" / ", 1)[1])  # the Chinese half is Chinese
    db.session.commit()
    assert rows(db) == [] and actions(db) == []


def test_adding_a_year_that_has_data_is_refused(app, db):
    with pytest.raises(Conflict) as raised:
        calendar_store.save_year(db.session, shipped_2026(), actor="admin", create=True)
    assert list(raised.value.errors) == ["year"]
    calendar_store.save_year(db.session, year_2027(), actor="admin", create=True)
    with pytest.raises(Conflict):
        calendar_store.save_year(db.session, year_2027(workdays=[]), actor="admin", create=True)
    assert [row.year for row in rows(db)] == [2027] and rows(db)[0].data["workdays"]


def test_saving_what_is_in_effect_changes_and_records_nothing(app, db):
    calendar_store.save_year(db.session, shipped_2026(), actor="admin")
    assert rows(db) == [] and actions(db) == []
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    revision = rows(db)[0].revision
    calendar_store.save_year(db.session, year_2027(), actor="someone else")
    assert [(row.revision, row.updated_by) for row in rows(db)] == [(revision, "admin")]
    assert actions(db) == ["calendar.save_year"]


def test_saving_the_shipped_data_again_drops_the_edit(app, db):
    calendar_store.save_year(db.session, shipped_2026(workdays=[]), actor="admin")
    assert calendar_store.year_status(db.session, 2026).origin is YearOrigin.EDITED
    calendar_store.save_year(db.session, shipped_2026(), actor="admin")
    assert rows(db) == [] and calendar_store.year_status(db.session, 2026).origin is YearOrigin.SHIPPED
    last = audit.search(db.session, action="calendar.save_year")[0]
    assert last.details["matches_shipped"] is True and last.details["workdays_added"][0] == "2026-01-04"


# ---- the cache -----------------------------------------------------------------------------

def test_the_calendar_is_cached_and_checked_with_one_small_query(app, db):
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    db.session.commit()
    first = calendar_store.calendar(db.session)
    seen = []

    def count(_conn, _cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        again = calendar_store.calendar(db.session)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert again is first
    [probe] = seen
    assert "revision" in probe and "data" not in probe.split("FROM")[0]  # the years' data is not read again


def test_an_edit_made_by_another_app_server_is_seen_at_the_next_call(app, db, make_app, clock):
    """The other server writes with plain statements on its own engine: nothing in this
    process is told, so only a cache that asks the database sees the changes. Its second
    change keeps the count of rows and the time stamp, and its third deletes and re-adds the
    year with the same time stamp: a (count, max(updated_at)) probe would miss both."""
    other = make_app(create_schema=False, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    table = CalendarYear.__table__
    with other.app_context():
        other_engine = _db.engine

    def elsewhere(statement):
        with other_engine.begin() as conn:
            conn.execute(statement)

    def row(data, revision):
        return {"data": data, "revision": revision, "updated_at": clock(), "updated_by": "admin"}

    assert 2027 not in calendar_store.calendar(db.session).years()
    db.session.remove()  # this server's request ends

    elsewhere(table.insert().values(year=2027, **row(year_2027(), "a" * 32)))
    assert calendar_store.calendar(db.session).is_workday(D(2027, 2, 20))
    db.session.remove()

    elsewhere(table.update().where(table.c.year == 2027).values(**row(year_2027(workdays=[]), "b" * 32)))
    assert not calendar_store.calendar(db.session).is_workday(D(2027, 2, 20))
    db.session.remove()

    elsewhere(table.delete().where(table.c.year == 2027))
    elsewhere(table.insert().values(year=2027, **row(year_2027(), "c" * 32)))
    assert calendar_store.calendar(db.session).is_workday(D(2027, 2, 20))
    db.session.remove()

    elsewhere(table.delete())
    with pytest.raises(CalendarYearMissing):
        calendar_store.calendar(db.session).is_workday(D(2027, 2, 20))


def test_two_apps_on_one_database_see_each_others_saves(app, db, make_app):
    other = make_app(create_schema=False, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    assert 2027 not in calendar_store.calendar(db.session).years()
    db.session.remove()
    with other.app_context():
        calendar_store.save_year(_db.session, year_2027(), actor="admin")
        _db.session.commit()
        _db.session.remove()
    assert 2027 in calendar_store.calendar(db.session).years()
    calendar_store.revert_year(db.session, 2027, actor="admin", delete_added=True)
    db.session.commit()
    with other.app_context():
        assert 2027 not in calendar_store.calendar(_db.session).years()
        _db.session.remove()


def test_a_change_rolled_back_is_not_kept_by_the_cache(app, db):
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    assert 2027 in calendar_store.calendar(db.session).years()  # seen inside its own transaction
    db.session.rollback()
    assert 2027 not in calendar_store.calendar(db.session).years()


def test_a_stored_year_that_no_longer_passes_the_checks_counts_as_missing(app, db, caplog):
    broken = shipped_2026(workdays=[{"date": "2026-10-08", "name": "国庆节"}])  # a Thursday
    db.session.add(CalendarYear(year=2026, data=broken, revision="x" * 32, updated_at=calendar_store.utcnow(),
                                updated_by="someone with SQL"))
    db.session.commit()
    with caplog.at_level(logging.ERROR, logger="kiosk_backend.core.calendar_store"):
        cal = calendar_store.calendar(db.session)
    assert "2026" in caplog.text
    with pytest.raises(CalendarYearMissing):  # not the shipped 2026 the admins meant to replace
        cal.is_workday(D(2026, 3, 2))
    assert cal.is_workday(D(2025, 3, 3))
    status = calendar_store.year_status(db.session, 2026)
    assert status.origin is YearOrigin.BROKEN and status.problem.field == "workdays[0].date"
    overview = calendar_store.years_overview(db.session, today=D(2026, 3, 2))
    assert ("error", "calendar.notice.broken", 2026) in [(n.level, n.key, n.year) for n in overview.notices]
    assert calendar_store.revert_year(db.session, 2026, actor="admin") is not None
    assert calendar_store.calendar(db.session).is_workday(D(2026, 3, 2))


# ---- reverting -----------------------------------------------------------------------------

def test_reverting_an_edited_year_brings_the_shipped_data_back(app, db):
    calendar_store.save_year(db.session, shipped_2026(workdays=[]), actor="admin")
    assert not calendar_store.calendar(db.session).is_workday(D(2026, 1, 4))
    kept = calendar_store.revert_year(db.session, 2026, actor="admin")
    assert kept.source.number == "国办发明电〔2025〕7号" and rows(db) == []
    assert calendar_store.calendar(db.session).is_workday(D(2026, 1, 4))
    assert actions(db) == ["calendar.save_year", "calendar.revert_year"]
    assert audit.search(db.session, action="calendar.revert_year")[0].details["workdays_added"][0] == "2026-01-04"
    # Again: nothing stored, nothing to do.
    assert calendar_store.revert_year(db.session, 2026, actor="admin") == kept
    assert actions(db) == ["calendar.save_year", "calendar.revert_year"]


def test_an_added_year_is_deleted_only_when_asked_to(app, db):
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    with pytest.raises(Invalid) as raised:
        calendar_store.revert_year(db.session, 2027, actor="admin")
    assert list(raised.value.errors) == ["confirm"] and [row.year for row in rows(db)] == [2027]
    assert calendar_store.revert_year(db.session, 2027, actor="admin", delete_added=True) is None
    assert rows(db) == [] and actions(db) == ["calendar.save_year", "calendar.delete_year"]
    with pytest.raises(CalendarYearMissing):
        calendar_store.calendar(db.session).is_workday(D(2027, 1, 4))
    with pytest.raises(NotFound):
        calendar_store.revert_year(db.session, 2027, actor="admin", delete_added=True)


# ---- the overview --------------------------------------------------------------------------

def _notices(overview):
    return [(n.level, n.key, n.year) for n in overview.notices]


def test_the_next_year_missing_is_a_hint_until_the_warning_month_then_a_warning(app, db):
    october = calendar_store.years_overview(db.session, today=D(2026, 10, 31))
    assert _notices(october) == [("info", "calendar.notice.next_not_yet", 2027)]
    november = calendar_store.years_overview(db.session, today=D(2026, 11, 1))
    assert _notices(november) == [("warning", "calendar.notice.next_missing", 2027)]
    earlier = calendar_store.years_overview(db.session, today=D(2026, 9, 1), warn_from_month=9)
    assert _notices(earlier) == [("warning", "calendar.notice.next_missing", 2027)]
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    assert _notices(calendar_store.years_overview(db.session, today=D(2026, 11, 1))) == []


def test_the_current_year_missing_is_an_error(app, db):
    overview = calendar_store.years_overview(db.session, today=D(2027, 3, 1))
    assert _notices(overview) == [("error", "calendar.notice.current_missing", 2027),
                                  ("info", "calendar.notice.next_not_yet", 2028)]
    assert [(s.year, s.origin) for s in overview.years] == [
        (2025, YearOrigin.SHIPPED), (2026, YearOrigin.SHIPPED), (2027, YearOrigin.MISSING), (2028, YearOrigin.MISSING)]


def test_the_overview_says_where_each_year_comes_from(app, db, clock):
    calendar_store.save_year(db.session, shipped_2026(workdays=[]), actor="admin", now=clock)
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    overview = calendar_store.years_overview(db.session, today=D(2026, 12, 1))
    by_year = {s.year: s for s in overview.years}
    assert [s.year for s in overview.years] == [2025, 2026, 2027]
    assert by_year[2025].origin is YearOrigin.SHIPPED and by_year[2025].updated_by is None
    edited = by_year[2026]
    assert edited.origin is YearOrigin.EDITED and edited.updated_at == clock() and edited.updated_by == "admin"
    assert edited.arrangement.workdays == {} and len(edited.shipped.workdays) == 6
    assert by_year[2027].origin is YearOrigin.ADDED and by_year[2027].shipped is None
    assert by_year[2027].arrangement.source.title == "测试用 2027 年放假安排"


def test_year_data_is_the_year_in_effect_in_the_file_shape(app, db):
    assert calendar_store.year_data(db.session, 2026) == shipped_2026()
    calendar_store.save_year(db.session, year_2027(), actor="admin")
    assert calendar_store.year_data(db.session, 2027)["workdays"] == [{"date": "2027-02-20", "name": "春节"}]
    with pytest.raises(NotFound):
        calendar_store.year_data(db.session, 2031)
