"""The one view of an application every surface shows (applications/progress.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kiosk_backend.applications import progress
from kiosk_backend.core.workdays import Calendar
from tests.conftest import APPLICANT_ID, APPLICANT_PHONE

CALENDAR = Calendar.shipped()


def test_the_view_holds_masked_personal_data_only(make_application):
    view = progress.view(make_application("in_progress"), calendar=CALENDAR, today=date(2026, 3, 10))
    text = repr(view)
    assert APPLICANT_ID not in text and APPLICANT_PHONE not in text and "张三" not in text
    assert view["applicant_name"] == "张*"
    assert view["applicant_id"] == "1101**********002X"
    assert view["applicant_phone"] == "138****8000"


@pytest.mark.parametrize(("state", "today", "key", "count"), [
    ("received", date(2026, 3, 10), "deadline.not_started", 0),
    ("in_progress", date(2026, 3, 10), "deadline.remaining", 15),  # due 31 March
    ("in_progress", date(2026, 3, 31), "deadline.due_today", 0),
    ("in_progress", date(2026, 4, 2), "deadline.overdue", 2),
    ("special_procedure", date(2026, 4, 2), "deadline.paused", 0),
    ("concluded", date(2026, 4, 2), "deadline.finished", 0),
])
def test_the_deadline_is_said_in_words(make_application, state, today, key, count):
    deadline = progress.view(make_application(state), calendar=CALENDAR, today=today)["deadline"]
    assert (deadline["key"], deadline["count"]) == (key, count)
    assert deadline["overdue"] == (key == "deadline.overdue")


def test_an_unknown_deadline_names_the_missing_year(make_application):
    application = make_application("accepted", received_at=datetime(2026, 11, 20, 1, tzinfo=UTC), promise_days=30)
    deadline = progress.view(application, calendar=CALENDAR, today=date(2026, 11, 25))["deadline"]
    assert (deadline["key"], deadline["count"]) == ("deadline.unknown", 2027)


def test_the_next_step_follows_the_state_and_outcome(make_application):
    assert progress.view(make_application("supplement_requested"), calendar=CALENDAR,
                         today=date(2026, 3, 10))["next_step_key"] == "application.next.supplement"
    assert progress.view(make_application("concluded"), calendar=CALENDAR,
                         today=date(2026, 3, 10))["next_step_key"] == "application.next.collect"


def test_missing_documents_are_listed_only_while_they_are_missing(make_application):
    asked = progress.view(make_application("supplement_requested"), calendar=CALENDAR, today=date(2026, 3, 10))
    handed_in = progress.view(make_application("supplemented"), calendar=CALENDAR, today=date(2026, 3, 10))
    assert asked["missing"] == ["户口簿原件"] and handed_in["missing"] == []


def test_the_timeline_is_oldest_first_with_words_for_each_event(make_application):
    view = progress.view(make_application("delivered"), calendar=CALENDAR, today=date(2026, 3, 10))
    assert [e["action"] for e in view["timeline"]] == ["receive", "accept", "start", "conclude", "deliver"]
    assert view["timeline"][3]["outcome"] == "approved"
    assert view["timeline"][-1]["state_key"] == "application.state.delivered"


def test_cross_province_applications_are_marked(make_application):
    local = progress.view(make_application(), calendar=CALENDAR, today=date(2026, 3, 10))
    far = progress.view(make_application(handling_region="440300", mode="proxy"), calendar=CALENDAR,
                        today=date(2026, 3, 10))
    assert not local["cross_province"] and far["cross_province"]


def test_every_key_the_view_uses_is_in_the_catalogue(make_application):
    from kiosk_backend.core.i18n import catalogue
    from tests.conftest import APPLICATION_PATHS

    keys = set()
    for state in APPLICATION_PATHS:
        view = progress.view(make_application(state), calendar=CALENDAR, today=date(2026, 3, 10))
        keys |= {view["state_key"], view["mode_key"], view["next_step_key"], view["deadline"]["key"]}
        keys |= {k for k in (view["outcome_key"], view["delivery_key"]) if k}
        keys |= {e["action_key"] for e in view["timeline"]} | {e["state_key"] for e in view["timeline"]}
    for mode in ("local", "online", "proxy", "joint"):
        keys.add(f"application.mode.{mode}")
    assert keys - set(catalogue()) == set()


def test_days_overdue_are_counted_even_in_a_year_without_calendar_data(make_application):
    application = make_application("in_progress")  # due 31 March 2026
    deadline = progress.view(application, calendar=CALENDAR, today=date(2027, 1, 5))["deadline"]
    assert (deadline["key"], deadline["count"], deadline["overdue"]) == ("deadline.overdue", 280, True)
