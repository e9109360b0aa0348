"""core.workdays: the working-day calendar, its shipped data and its checks."""
from __future__ import annotations

import ast
import json
from datetime import date
from pathlib import Path

import pytest

from kiosk_backend.core import workdays
from kiosk_backend.core.workdays import (
    Calendar,
    CalendarDataError,
    CalendarYearMissing,
    Pause,
    load_year_file,
)

CAL = Calendar.shipped()
D = date


def year_data(**changes):
    data = {
        "year": 2030,
        "source": {"title": "国务院办公厅关于2030年部分节假日安排的通知", "number": "国办发明电〔2029〕1号",
                   "published": "2029-11-01"},
        "days_off": [{"date": "2030-01-01", "name": "元旦"}],
        "workdays": [{"date": "2030-01-05", "name": "元旦"}],  # a Saturday
    }
    data.update(changes)
    return data


# ---- shipped data --------------------------------------------------------------------------

def test_the_shipped_years_and_their_sources():
    assert CAL.years() == [2025, 2026]
    s25, s26 = CAL.arrangement(2025).source, CAL.arrangement(2026).source
    assert (s25.title, s25.number, s25.published) == ("国务院办公厅关于2025年部分节假日安排的通知", "国办发明电〔2024〕12号", D(2024, 11, 12))
    assert (s26.title, s26.number, s26.published) == ("国务院办公厅关于2026年部分节假日安排的通知", "国办发明电〔2025〕7号", D(2025, 11, 4))


def test_the_2025_arrangement_as_published():
    a = CAL.arrangement(2025)
    assert len(a.days_off) == 28 and sorted(a.workdays) == [D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27),
                                                             D(2025, 9, 28), D(2025, 10, 11)]
    assert {a.days_off[D(2025, 1, 28)], a.days_off[D(2025, 2, 4)]} == {"春节"}
    assert a.days_off[D(2025, 10, 8)] == "国庆节、中秋节" and D(2025, 10, 9) not in a.days_off


def test_the_2026_arrangement_as_published():
    a = CAL.arrangement(2026)
    assert len(a.days_off) == 33
    assert sorted(a.workdays) == [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)]
    assert CAL.holiday_name(D(2026, 2, 15)) == CAL.holiday_name(D(2026, 2, 23)) == "春节"
    assert CAL.holiday_name(D(2026, 9, 25)) == "中秋节" and CAL.holiday_name(D(2026, 10, 7)) == "国庆节"
    assert CAL.holiday_name(D(2026, 10, 8)) is None and CAL.is_workday(D(2026, 10, 8))


# ---- is_workday ----------------------------------------------------------------------------

def test_plain_weekdays_and_weekends():
    assert CAL.is_workday(D(2025, 3, 14))  # Friday
    assert not CAL.is_workday(D(2025, 3, 15)) and not CAL.is_workday(D(2025, 3, 16))


def test_spring_festival_2025_and_its_make_up_sunday_and_saturday():
    assert CAL.is_workday(D(2025, 1, 26))  # Sunday, 调休上班
    assert CAL.is_workday(D(2025, 1, 27))
    assert not any(CAL.is_workday(D(2025, 1, 28) + (D(2025, 1, 2) - D(2025, 1, 1)) * i) for i in range(8))  # 28 Jan–4 Feb
    assert CAL.is_workday(D(2025, 2, 5))
    assert CAL.is_workday(D(2025, 2, 8)) and not CAL.is_workday(D(2025, 2, 9))  # Saturday works, Sunday not


def test_national_day_2025():
    assert CAL.is_workday(D(2025, 9, 28))  # Sunday
    assert not CAL.is_workday(D(2025, 10, 6)) and not CAL.is_workday(D(2025, 10, 8))
    assert CAL.is_workday(D(2025, 10, 9)) and CAL.is_workday(D(2025, 10, 11))  # Saturday works
    assert not CAL.is_workday(D(2025, 10, 12))


def test_a_year_without_data_is_reported_not_guessed():
    with pytest.raises(CalendarYearMissing) as raised:
        CAL.is_workday(D(2027, 1, 4))  # a Monday: a weekends-only guess would say "working"
    assert raised.value.year == 2027 and "2027" in str(raised.value)
    with pytest.raises(CalendarYearMissing):
        CAL.is_workday(D(2024, 12, 31))


# ---- arithmetic ----------------------------------------------------------------------------

def test_add_workdays_skips_weekends_and_not_the_start_day():
    friday = D(2025, 3, 14)
    assert CAL.add_workdays(friday, 0) == friday
    assert CAL.add_workdays(friday, 1) == D(2025, 3, 17)
    assert CAL.add_workdays(friday, 5) == D(2025, 3, 21)
    assert CAL.add_workdays(D(2025, 3, 15), 1) == D(2025, 3, 17)  # accepted on a Saturday
    with pytest.raises(ValueError):
        CAL.add_workdays(friday, -1)


def test_add_workdays_across_the_2025_spring_festival():
    # Accepted Fri 24 Jan: Sun 26 Jan and Mon 27 Jan work, then 28 Jan–4 Feb off.
    assert CAL.add_workdays(D(2025, 1, 24), 1) == D(2025, 1, 26)
    assert CAL.add_workdays(D(2025, 1, 24), 2) == D(2025, 1, 27)
    assert CAL.add_workdays(D(2025, 1, 24), 3) == D(2025, 2, 5)
    assert CAL.add_workdays(D(2025, 1, 24), 6) == D(2025, 2, 8)  # Wed, Thu, Fri, then the Saturday
    assert CAL.add_workdays(D(2025, 1, 24), 7) == D(2025, 2, 10)


def test_add_workdays_across_national_day_2025():
    assert CAL.add_workdays(D(2025, 9, 26), 1) == D(2025, 9, 28)  # Friday → the make-up Sunday
    assert CAL.add_workdays(D(2025, 9, 26), 3) == D(2025, 9, 30)
    assert CAL.add_workdays(D(2025, 9, 26), 4) == D(2025, 10, 9)
    assert CAL.add_workdays(D(2025, 9, 26), 6) == D(2025, 10, 11)


def test_add_workdays_across_the_year_boundary():
    # Wed 31 Dec 2025 → Fri 2 Jan 2026 is off (元旦 1–3 Jan), Sun 4 Jan 2026 works.
    assert CAL.add_workdays(D(2025, 12, 30), 1) == D(2025, 12, 31)
    assert CAL.add_workdays(D(2025, 12, 30), 2) == D(2026, 1, 4)
    assert CAL.add_workdays(D(2025, 12, 30), 3) == D(2026, 1, 5)
    assert CAL.workdays_between(D(2025, 12, 30), D(2026, 1, 5)) == 3


def test_counting_into_a_year_without_data_raises():
    assert CAL.add_workdays(D(2026, 12, 30), 1) == D(2026, 12, 31)
    with pytest.raises(CalendarYearMissing) as raised:
        CAL.add_workdays(D(2026, 12, 30), 2)  # the second working day would be in 2027
    assert raised.value.year == 2027
    with pytest.raises(CalendarYearMissing):
        CAL.workdays_between(D(2026, 12, 1), D(2027, 1, 10))


def test_workdays_between_is_the_inverse_of_add_workdays():
    for start in (D(2025, 1, 20), D(2025, 9, 25), D(2026, 2, 10), D(2026, 9, 18)):
        for n in (0, 1, 4, 9, 20):
            assert CAL.workdays_between(start, CAL.add_workdays(start, n)) == n
    assert CAL.workdays_between(D(2025, 3, 21), D(2025, 3, 14)) == -5
    assert CAL.workdays_between(D(2025, 3, 14), D(2025, 3, 14)) == 0


def test_2026_spring_festival_with_two_make_up_saturdays():
    assert CAL.workdays_between(D(2026, 2, 13), D(2026, 2, 28)) == 6  # Sat 14, Tue 24 – Fri 27, Sat 28 Feb
    assert CAL.add_workdays(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert CAL.add_workdays(D(2026, 2, 13), 2) == D(2026, 2, 24)


# ---- clock stops (特别程序) ---------------------------------------------------------------

def test_a_pause_moves_the_deadline_by_the_working_days_paused():
    start = D(2025, 3, 3)  # Monday
    assert CAL.deadline(start, 10) == D(2025, 3, 17)
    # Stopped Thu 6 Mar, running again Tue 11 Mar: Thu, Fri and Mon are 3 working days; Tuesday counts.
    assert CAL.deadline(start, 10, [Pause(D(2025, 3, 6), D(2025, 3, 11))]) == CAL.add_workdays(D(2025, 3, 17), 3)
    assert CAL.deadline(start, 10, [Pause(D(2025, 3, 6), D(2025, 3, 11))]) == D(2025, 3, 20)


def test_a_pause_that_ends_on_the_day_it_starts_costs_nothing():
    start = D(2025, 3, 3)
    for day in (D(2025, 3, 6), D(2025, 3, 8), D(2025, 3, 17)):  # a working day, a Saturday, the deadline itself
        assert D(2025, 3, 6) not in Pause(day, day)
        assert CAL.deadline(start, 10, [Pause(day, day)]) == D(2025, 3, 17)
    # Running again the next working day costs the one day stopped.
    assert CAL.deadline(start, 10, [Pause(D(2025, 3, 6), D(2025, 3, 7))]) == D(2025, 3, 18)


def test_a_pause_over_a_holiday_only_counts_its_working_days():
    start = D(2025, 9, 22)  # Monday; 5 working days → Sun 28 Sep (调休)
    assert CAL.deadline(start, 5) == D(2025, 9, 28)
    # Stopped Sat 27 Sep, running again Sun 5 Oct: 4 working days counted (23–26 Sep) before it;
    # the clock runs again inside the holiday, so the fifth is Thu 9 Oct, not 28 Sep.
    assert CAL.deadline(start, 5, [Pause(D(2025, 9, 27), D(2025, 10, 5))]) == D(2025, 10, 9)
    # Stopped only on the make-up Sunday: the deadline moves past the whole holiday.
    assert CAL.deadline(start, 5, [Pause(D(2025, 9, 28), D(2025, 9, 29))]) == D(2025, 9, 29)


def test_overlapping_pauses_count_a_day_once_and_late_pauses_do_not_move_it():
    start = D(2025, 3, 3)
    one = [Pause(D(2025, 3, 6), D(2025, 3, 11))]
    overlapping = [Pause(D(2025, 3, 6), D(2025, 3, 10)), Pause(D(2025, 3, 10), D(2025, 3, 11))]
    assert CAL.deadline(start, 10, overlapping) == CAL.deadline(start, 10, one)
    assert CAL.deadline(start, 10, [*one, Pause(D(2025, 3, 7), D(2025, 3, 11))]) == CAL.deadline(start, 10, one)
    assert CAL.deadline(start, 10, [Pause(D(2025, 3, 18), D(2025, 3, 28))]) == D(2025, 3, 17)
    assert CAL.deadline(start, 10, [Pause(D(2025, 2, 1), D(2025, 3, 3))]) == D(2025, 3, 17)  # before counting began


def test_a_pause_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        Pause(D(2025, 3, 11), D(2025, 3, 10))


# ---- remaining / overdue -------------------------------------------------------------------

def test_remaining_before_on_and_after_the_deadline():
    deadline = D(2025, 2, 5)  # first working day after the Spring Festival
    before = CAL.remaining(deadline, D(2025, 1, 27))
    assert (before.workdays_left, before.overdue, before.key, before.count) == (1, False, "deadline.remaining", 1)
    on = CAL.remaining(deadline, deadline)
    assert (on.workdays_left, on.overdue, on.key, on.count) == (0, False, "deadline.due_today", 0)
    after = CAL.remaining(deadline, D(2025, 2, 10))
    assert (after.overdue, after.days_overdue, after.workdays_overdue) == (True, 5, 4)  # 6, 7, 8 (Sat), 10 Feb
    assert (after.key, after.count) == ("deadline.overdue", 5)


def test_remaining_across_the_year_boundary_and_into_a_missing_year():
    assert CAL.remaining(D(2026, 1, 5), D(2025, 12, 29)).workdays_left == 4  # 30, 31 Dec, 4, 5 Jan
    with pytest.raises(CalendarYearMissing):
        CAL.remaining(D(2026, 12, 31), D(2027, 1, 6))


# ---- extra years (admin edits) and data checks ----------------------------------------------

def test_extra_years_are_added_and_replace_shipped_ones():
    cal = CAL.with_years([year_data()])
    assert cal.years() == [2025, 2026, 2030] and CAL.years() == [2025, 2026]
    assert not cal.is_workday(D(2030, 1, 1)) and cal.is_workday(D(2030, 1, 5))
    edited = year_data(year=2026, days_off=[{"date": "2026-01-01", "name": "元旦"}], workdays=[])
    assert CAL.with_years([edited]).is_workday(D(2026, 2, 16))  # the admin's 2026 replaced the shipped one


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"days_off": [{"date": "2031-01-01", "name": "元旦"}]}, "days_off[0].date", "not in 2030"),
    ({"workdays": [{"date": "2029-12-29"}]}, "workdays[0].date", "not in 2030"),
    ({"days_off": [{"date": "2030-01-05", "name": "元旦"}]}, "workdays[0].date", "also a day off"),
    ({"workdays": [{"date": "2030-01-07", "name": "元旦"}]}, "workdays[0].date", "weekday"),
    ({"days_off": [{"date": "2030-01-01"}]}, "days_off[0].name", "not named"),
    ({"days_off": [{"date": "2030-01-01", "name": " "}]}, "days_off[0].name", "not named"),
    ({"days_off": [{"date": "2030-01-01", "name": "元旦"}, {"date": "2030-01-01", "name": "元旦"}]},
     "days_off[1].date", "twice"),
    ({"days_off": [{"date": "2030-02-30", "name": "x"}]}, "days_off[0].date", "no such date"),
    ({"days_off": [{"date": "1/1/2030", "name": "x"}]}, "days_off[0].date", "YYYY-MM-DD"),
    ({"days_off": "2030-01-01"}, "days_off", "must be list"),
    ({"year": "2030"}, "year", "must be int"),
    ({"source": {"title": "t", "published": "2029-11-01"}}, "source.number", "missing"),
    ({"source": {"title": "t", "number": "n", "published": "soon"}}, "source.published", "YYYY-MM-DD"),
])
def test_a_bad_file_names_the_file_and_the_field(tmp_path, changes, field, words):
    path = tmp_path / "2030.json"
    path.write_text(json.dumps(year_data(**changes), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CalendarDataError) as raised:
        load_year_file(path)
    error = raised.value
    assert (error.origin, error.field) == (str(path), field)
    assert words in error.message and str(path) in str(error) and field in str(error)


def test_a_file_must_hold_the_year_it_is_named_for_and_be_json(tmp_path):
    (tmp_path / "2031.json").write_text(json.dumps(year_data()), encoding="utf-8")
    with pytest.raises(CalendarDataError) as raised:
        Calendar.shipped(tmp_path)
    assert raised.value.field == "year" and "2031.json" in raised.value.origin
    (tmp_path / "2031.json").unlink()
    (tmp_path / "2030.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CalendarDataError, match="2030.json"):
        Calendar.shipped(tmp_path)


def test_a_good_directory_loads(tmp_path):
    (tmp_path / "2030.json").write_text(json.dumps(year_data()), encoding="utf-8")
    assert Calendar.shipped(tmp_path).years() == [2030]


def test_a_bad_extra_year_names_its_position():
    with pytest.raises(CalendarDataError) as raised:
        CAL.with_years([year_data(), year_data(year=2031)], origin="admin")
    assert raised.value.origin == "admin[1]" and raised.value.field == "days_off[0].date"


def test_the_module_stays_pure():
    tree = ast.parse(Path(workdays.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"flask", "sqlalchemy", "flask_sqlalchemy", "kiosk_backend"}
