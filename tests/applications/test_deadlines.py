"""Promised deadlines across weekends, holidays, 调休 days and clock stops (applications/deadlines.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kiosk_backend.applications import deadlines
from kiosk_backend.core.workdays import Calendar, CalendarYearMissing, Pause


@pytest.fixture(scope="module")
def calendar():
    return Calendar.shipped()


def test_the_china_day_of_a_late_utc_evening_is_the_next_day():
    assert deadlines.china_day(datetime(2026, 3, 1, 17, 30, tzinfo=UTC)) == date(2026, 3, 2)
    assert deadlines.china_day(datetime(2026, 3, 1, 15, 59, tzinfo=UTC)) == date(2026, 3, 1)


def test_working_days_skip_the_weekend(calendar):
    # Accepted Friday 6 March 2026: Monday 9th is the first working day counted.
    assert deadlines.deadline(calendar, date(2026, 3, 6), 1, "工作日") == date(2026, 3, 9)
    assert deadlines.deadline(calendar, date(2026, 3, 6), 5, "工作日") == date(2026, 3, 13)


def test_working_days_skip_the_national_day_holiday_and_count_the_make_up_saturday(calendar):
    # 2025: 1–8 October off; Sunday 28 September and Saturday 11 October are working days.
    assert deadlines.deadline(calendar, date(2025, 9, 26), 1, "工作日") == date(2025, 9, 28)
    assert deadlines.deadline(calendar, date(2025, 9, 30), 1, "工作日") == date(2025, 10, 9)
    assert deadlines.deadline(calendar, date(2025, 10, 10), 1, "工作日") == date(2025, 10, 11)


def test_instant_items_are_due_on_the_day_of_acceptance(calendar):
    assert deadlines.deadline(calendar, date(2026, 3, 6), 0, "工作日") == date(2026, 3, 6)
    assert deadlines.deadline(calendar, date(2026, 3, 6), 0, "自然日") == date(2026, 3, 6)


def test_calendar_days_ignore_holidays(calendar):
    assert deadlines.deadline(calendar, date(2025, 9, 30), 10, "自然日") == date(2025, 10, 10)


def test_a_pause_moves_a_working_day_deadline_by_the_working_days_inside_it(calendar):
    # Stopped Monday 9 March 2026, running again Monday 16: five working days more.
    plain = deadlines.deadline(calendar, date(2026, 3, 2), 10, "工作日")
    paused = deadlines.deadline(calendar, date(2026, 3, 2), 10, "工作日", [Pause(date(2026, 3, 9), date(2026, 3, 16))])
    assert plain == date(2026, 3, 16)
    assert paused == date(2026, 3, 23)


def test_a_pause_adds_its_days_to_a_calendar_day_deadline(calendar):
    # Stopped on the 5th, running again on the 8th: the 5th, 6th and 7th are not counted.
    due = deadlines.deadline(calendar, date(2026, 3, 2), 10, "自然日", [Pause(date(2026, 3, 5), date(2026, 3, 8))])
    assert due == date(2026, 3, 15)


@pytest.mark.parametrize("unit", ["工作日", "自然日"])
def test_a_pause_that_ends_on_the_day_it_starts_costs_nothing(calendar, unit):
    plain = deadlines.deadline(calendar, date(2026, 3, 2), 10, unit)
    for day in (date(2026, 3, 4), date(2026, 3, 7), plain):
        assert deadlines.deadline(calendar, date(2026, 3, 2), 10, unit, [Pause(day, day)]) == plain
    stored = [deadlines.pause_record(date(2026, 3, 4), date(2026, 3, 4), "special_procedure")] * 3
    assert deadlines.deadline(calendar, date(2026, 3, 2), 10, unit, deadlines.pauses_from(stored)) == plain


def test_calendar_days_in_overlapping_pauses_count_once(calendar):
    # 特别程序 ends on the 7th and a 补正 asked the same day runs to the 9th: 5–8 March stopped.
    back_to_back = [Pause(date(2026, 3, 5), date(2026, 3, 7)), Pause(date(2026, 3, 7), date(2026, 3, 9))]
    assert deadlines.deadline(calendar, date(2026, 3, 2), 10, "自然日", back_to_back) == date(2026, 3, 16)
    overlapping = [Pause(date(2026, 3, 5), date(2026, 3, 9)), Pause(date(2026, 3, 6), date(2026, 3, 8))]
    assert deadlines.deadline(calendar, date(2026, 3, 2), 10, "自然日", overlapping) == date(2026, 3, 16)


def test_a_pause_after_a_calendar_day_deadline_changes_nothing(calendar):
    due = deadlines.deadline(calendar, date(2026, 3, 2), 3, "自然日", [Pause(date(2026, 3, 20), date(2026, 3, 21))])
    assert due == date(2026, 3, 5)


def test_a_count_into_a_year_without_data_is_reported(calendar):
    with pytest.raises(CalendarYearMissing) as caught:
        deadlines.deadline(calendar, date(2026, 12, 20), 20, "工作日")
    assert caught.value.year == 2027


def test_stored_pauses_round_trip():
    stored = [deadlines.pause_record(date(2026, 3, 9), date(2026, 3, 13), "special_procedure")]
    assert deadlines.pauses_from(stored) == [Pause(date(2026, 3, 9), date(2026, 3, 13))]
