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
    # Monday 9 to Friday 13 March 2026 paused: five working days more.
    plain = deadlines.deadline(calendar, date(2026, 3, 2), 10, "工作日")
    paused = deadlines.deadline(calendar, date(2026, 3, 2), 10, "工作日", [Pause(date(2026, 3, 9), date(2026, 3, 13))])
    assert plain == date(2026, 3, 16)
    assert paused == date(2026, 3, 23)


def test_a_pause_adds_its_days_to_a_calendar_day_deadline(calendar):
    due = deadlines.deadline(calendar, date(2026, 3, 2), 10, "自然日", [Pause(date(2026, 3, 5), date(2026, 3, 7))])
    assert due == date(2026, 3, 15)


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
