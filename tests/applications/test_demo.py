"""The demo's applications (applications/demo.py) and how `kiosk demo` offers them."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import demo, progress, services, states
from kiosk_backend.applications.deadlines import china_day
from kiosk_backend.applications.models import Application
from kiosk_backend.catalog import services as catalog
from kiosk_backend.core.workdays import Calendar
from kiosk_backend.fleet.cli import DEMO_SITES
from kiosk_backend.identity import residents
from kiosk_backend.identity.providers import demo_residents

CALENDAR = Calendar.shipped()
# Wednesday 2 December 2026, 10:00 in Shanghai: when the demo was written.
WEDNESDAY = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
ELSEWHERE = {"440300", "330100", "110105"}


def load(db, moment: datetime = WEDNESDAY) -> int:
    created = demo.load_demo_applications(db.session, now=lambda: moment, calendar=CALENDAR)
    db.session.commit()
    return created


def applications(db) -> list[Application]:
    return list(db.session.scalars(sa.select(Application).order_by(Application.id)))


def deadline_keys(found: list[Application], moment: datetime) -> list[str]:
    return [progress.deadline_view(a, calendar=CALENDAR, today=china_day(moment))["key"] for a in found]


def test_the_demo_residents_have_applications_in_every_state_and_mode_across_many_items(db, demo_catalog):
    assert load(db) >= 60
    found = applications(db)
    assert len(found) >= 60
    assert {a.state for a in found} == {s.value for s in states.State}
    assert {a.mode for a in found} == {m.value for m in states.Mode}
    hashes = {residents.keyed_hash("id", person.id_number) for person in demo_residents()}
    assert {a.applicant_id_hash for a in found} == hashes  # every demo resident, nobody else
    assert all(a.item_id is not None for a in found)  # real items of the loaded catalog
    assert len({a.task_code for a in found}) >= 40
    for application in found:
        assert catalog.get_item(db.session, application.task_code).task_name == application.item_name


def test_cross_province_ones_are_received_here_and_handled_in_another_province(db, demo_catalog):
    load(db)
    here = {site["county_code"] for site in DEMO_SITES} | {DEMO_SITES[0]["city_code"] + "00"}
    cross = [a for a in applications(db) if a.handling_region[:2] != a.receiving_region[:2]]
    assert {a.handling_region for a in cross} == ELSEWHERE
    assert all(a.receiving_region in here for a in cross)
    assert {a.mode for a in cross} == {"proxy", "joint"}
    assert {a.state for a in cross} >= {"received", "in_progress", "delivered", "rated"}
    assert all(a.handling_org.startswith(("深圳", "杭州", "北京", "广东", "浙江")) for a in cross)
    assert all(progress.view(a, calendar=CALENDAR, today=date(2026, 12, 2))["cross_province"] for a in cross)


def test_every_timeline_is_a_legal_path_in_order_with_notes(db, demo_catalog):
    load(db)
    for application in applications(db):
        events = application.events
        assert [e.seq for e in events] == list(range(1, len(events) + 1)) and application.version == len(events)
        assert events[0].action == "receive" and events[0].from_state is None
        for n, (before, event) in enumerate(zip(events, events[1:]), start=1):
            assert event.from_state == before.to_state
            accepted = any(e.action == "accept" for e in events[:n])
            assert states.target_of(event.from_state, event.action, accepted=accepted) == event.to_state
            assert before.occurred_at <= event.occurred_at
        assert events[-1].to_state == application.state
        assert events[-1].occurred_at <= WEDNESDAY and application.last_event_at == events[-1].occurred_at
        assert all(re.search(r"[\u4e00-\u9fff]", e.note or "") for e in events), application.number
        assert all(re.search(r"[\u4e00-\u9fff]", e.actor_name) for e in events)


def test_what_is_missing_comes_from_the_items_materials_and_stops_have_reasons(db, demo_catalog):
    load(db)
    found = applications(db)
    waiting = [a for a in found if a.state == "supplement_requested"]
    assert len(waiting) >= 3
    for application in waiting:
        materials = {m["name"] for m in catalog.get_item(db.session, application.task_code).materials}
        assert application.missing and set(application.missing) <= materials, application.item_name
    for application in found:
        for event in application.events:
            if event.action in ("suspend", "refuse"):
                assert event.details["reason"], application.number
            if event.action == "conclude" and event.details["outcome"] == "denied":
                assert event.details["reason"]
    stopped = [a for a in found if a.state == "special_procedure"]
    assert stopped and all(a.paused_since is not None for a in stopped)


def test_in_december_the_demo_shows_days_left_due_today_overdue_stopped_and_two_unknown_deadlines(db, demo_catalog):
    load(db)
    keys = deadline_keys(applications(db), WEDNESDAY)
    assert keys.count("deadline.due_today") == 1
    assert keys.count("deadline.remaining") >= 8 and keys.count("deadline.overdue") >= 3
    assert keys.count("deadline.paused") >= 5 and keys.count("deadline.not_started") >= 5
    # Accepted these days with 30 or 60 days to go: they run into 2027, which has no calendar data.
    assert keys.count("deadline.unknown") == 2
    unknown = [a for a in applications(db) if a.deadline_missing_year == 2027]
    assert unknown and all(a.state == "in_progress" for a in unknown)
    assert demo.waiting_for_calendar(db.session) == {2027: len(unknown)}
    known = [a.deadline for a in applications(db) if a.deadline is not None and a.state in states.OPEN]
    assert sum(d <= date(2026, 12, 31) for d in known) >= len(known) - 1


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 6, 1, 30, tzinfo=UTC),    # a Sunday morning
    datetime(2026, 10, 3, 3, 0, tzinfo=UTC),     # 国庆节 holidays
    datetime(2026, 12, 1, 16, 10, tzinfo=UTC),   # ten past midnight in Shanghai
    datetime(2026, 6, 15, 3, 0, tzinfo=UTC),     # mid-year: no deadline runs into a year without data
], ids=["sunday", "holiday", "after-midnight", "june"])
def test_the_mix_of_deadlines_holds_on_any_day(db, demo_catalog, moment):
    load(db, moment)
    found = applications(db)
    keys = deadline_keys(found, moment)
    assert keys.count("deadline.due_today") == 1
    assert keys.count("deadline.overdue") >= 3 and keys.count("deadline.remaining") >= 8
    assert all(e.occurred_at <= moment for a in found for e in a.events)
    if moment.month == 6:
        assert "deadline.unknown" not in keys


def test_loading_twice_adds_nothing_even_a_day_later(db, demo_catalog):
    first = load(db)
    assert load(db) == 0
    assert load(db, WEDNESDAY + timedelta(days=1)) == 0
    assert len(applications(db)) == first


def test_the_numbers_to_try_look_up_with_the_last_4_of_the_id_or_the_phone(db, demo_catalog):
    load(db)
    examples = demo.examples(db.session, now=lambda: WEDNESDAY, calendar=CALENDAR)
    assert len(examples) == 4
    assert {e.state for e in examples} >= {"supplement_requested", "special_procedure", "delivered"}
    assert any(e.cross_province for e in examples)
    people = {person.name: person for person in demo_residents()}
    for example in examples:
        person = people[example.resident]
        assert (example.id_tail, example.phone_tail) == (person.id_number[-4:], person.phone[-4:])
        for tail in (example.id_tail, example.phone_tail):
            assert services.lookup(db.session, example.number, tail).number == example.number
        with pytest.raises(services.ApplicationNotFound):
            services.lookup(db.session, example.number, "9999" if example.id_tail != "9999" else "8888")


def test_without_a_catalog_there_is_nothing_to_apply_for(db):
    assert load(db) == 0
    assert applications(db) == []


def test_kiosk_demo_loads_them_once_and_prints_numbers_that_look_up(make_app):
    from kiosk_backend.cli import main
    from kiosk_backend.extensions import db

    app = make_app(create_schema=False)
    runner = app.test_cli_runner()
    with app.app_context():
        first = runner.invoke(main, args=["demo", "--no-serve", "--port", "8123"])
        assert first.exit_code == 0, first.output
        out = first.output
        assert out.index("Loaded demo catalog") < out.index("Loading the demo applications") < out.index(
            "Loaded demo applications: ")
        created = int(re.search(r"Loaded demo applications: (\d+)", out).group(1))
        assert created >= 60 and db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == created
        tried = re.findall(r"^ +(\S+) +ID …(\w{4}) / phone …(\w{4}) ", out, re.MULTILINE)
        assert len(tried) == 4
        for number, id_tail, phone_tail in tried:
            assert services.lookup(db.session, number, id_tail).number == number
            assert services.lookup(db.session, number, phone_tail).number == number
        second = runner.invoke(main, args=["demo", "--no-serve"])
        assert second.exit_code == 0, second.output
        assert "Demo applications already present" in second.output
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == created
        assert re.findall(r"^ +(\S+) +ID …(\w{4}) / phone …(\w{4}) ", second.output, re.MULTILINE) == tried


def test_the_demo_history_sends_no_text_messages(db, demo_catalog):
    from kiosk_backend.core.outbox import OutboxMessage

    assert load(db) >= 50
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
