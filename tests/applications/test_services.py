"""Applications services: creating, moving, looking up (applications/services.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import departments, services
from kiosk_backend.applications.models import Application, ApplicationEvent
from kiosk_backend.applications.services import Applicant, NewApplication, NewEvent
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.errors import Invalid
from kiosk_backend.core.outbox import OutboxMessage
from kiosk_backend.core.workdays import Calendar
from tests.conftest import APPLICANT_ID, APPLICANT_PHONE, item_row
from tests.races import run_in_threads

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in China
CALENDAR = Calendar.shipped()


def new_application(**overrides) -> NewApplication:
    values = dict(number="jx-2026-000123", task_code="TEST-ITEM", item_name="居民身份证换领", mode="proxy",
                  applicant=Applicant(name="欧阳娜娜", id_number=APPLICANT_ID, phone=APPLICANT_PHONE),
                  receiving_org="九江市政务服务中心", receiving_region="360402", handling_org="深圳市公安局",
                  handling_region="440300", received_at=START, promise_days=10, promise_unit="工作日")
    values.update(overrides)
    return NewApplication(**values)


def move(db, number, action, *, day, client=None, **details):
    return services.apply_event(db.session, number, NewEvent(action=action, occurred_at=START + timedelta(days=day),
                                                             **details),
                                actor="department:test", actor_name="深圳市公安局", client=client, calendar=CALENDAR)


def events_of(db, application) -> list[str]:
    return list(db.session.scalars(sa.select(ApplicationEvent.action).where(
        ApplicationEvent.application_id == application.id).order_by(ApplicationEvent.seq)))


# ---------------------------------------------------------------- creating

def test_a_new_application_is_received_with_masked_applicant_and_one_event(db):
    application, created = services.create_application(db.session, new_application(), actor="system",
                                                       actor_name="九江市政务服务中心")
    assert created
    assert application.number == "JX-2026-000123"
    assert application.state == "received"
    assert application.applicant_name_masked == "欧**娜"
    assert application.applicant_id_masked == "1101**********002X"
    assert application.applicant_phone_masked == "138****8000"
    assert APPLICANT_ID not in repr(vars(application)) and APPLICANT_PHONE not in repr(vars(application))
    assert application.deadline is None  # the clock starts at 受理
    assert events_of(db, application) == ["receive"]


def test_the_catalog_item_gives_the_name_and_the_promised_time(db, make_items):
    make_items(item_row(task_code="ITEM-PROMISE", task_name="城乡居民养老保险参保登记", promise_day=7, promise_type="自然日"))
    application, _ = services.create_application(
        db.session, new_application(task_code="ITEM-PROMISE", item_name=None, promise_days=None, promise_unit=None),
        actor="system", actor_name="窗口")
    assert (application.item_name, application.promise_days, application.promise_unit) == \
        ("城乡居民养老保险参保登记", 7, "自然日")
    assert application.item_id is not None


def test_an_item_outside_the_catalog_needs_its_name(db):
    with pytest.raises(Invalid) as caught:
        services.create_application(db.session, new_application(item_name=None), actor="system", actor_name="窗口")
    assert "item_name" in caught.value.errors


@pytest.mark.parametrize(("overrides", "field"), [
    ({"number": "12"}, "number"),
    ({"number": "ABC 12\x00345"}, "number"),
    ({"mode": "express"}, "mode"),
    ({"handling_region": "44030"}, "handling_region"),
    ({"promise_unit": "月"}, "promise_unit"),
    ({"applicant": Applicant(name="张三", id_number="110105194912310021")}, "applicant"),
    ({"applicant": Applicant(name="张三", phone="12800138000")}, "applicant"),
    ({"applicant": Applicant(name="张三")}, "applicant"),
    ({"received_at": datetime.now(UTC) + timedelta(hours=1)}, "received_at"),
])
def test_bad_data_is_refused_naming_the_field_and_nothing_is_written(db, overrides, field):
    with pytest.raises(Invalid) as caught:
        services.create_application(db.session, new_application(**overrides), actor="system", actor_name="窗口")
    assert field in caught.value.errors
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 0


def test_the_same_number_again_from_its_creator_returns_the_existing_application(db):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor=SYSTEM)
    first, created = services.create_application(db.session, new_application(), actor="d", actor_name="d", client=client)
    again, created_again = services.create_application(db.session, new_application(number=" JX-2026-000123 "),
                                                       actor="d", actor_name="d", client=client)
    assert created and not created_again and again.id == first.id


def test_the_same_number_from_another_department_is_refused(db):
    one, _ = departments.create_client(db.session, name="甲", actor=SYSTEM)
    other, _ = departments.create_client(db.session, name="乙", actor=SYSTEM)
    services.create_application(db.session, new_application(), actor="d", actor_name="d", client=one)
    with pytest.raises(services.EventRefused) as caught:
        services.create_application(db.session, new_application(), actor="d", actor_name="d", client=other)
    assert caught.value.reason == "number_taken"


def test_concurrent_creations_of_one_number_make_one_application(app, db):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor=SYSTEM)
    db.session.commit()
    client_id = client.id

    def create(_i):
        mine = db.session.get(type(client), client_id)
        return services.create_application(db.session, new_application(), actor="d", actor_name="d", client=mine)[1]

    results = run_in_threads(app, 6, create, commit=True)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, sa.exc.OperationalError)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 1
    assert sum(1 for r in results if r is True) == 1


# ---------------------------------------------------------------- moving and the clock

def test_acceptance_starts_the_clock_on_the_day_of_acceptance(db, make_application):
    application = make_application("accepted", received_at=START, promise_days=10)
    assert application.accepted_on == date(2026, 3, 3)
    assert application.deadline == date(2026, 3, 17)


def test_a_special_procedure_stops_the_clock_and_moves_the_deadline_when_it_ends(db, make_application):
    application = make_application("in_progress", received_at=START, promise_days=10)  # accepted 3 March
    move(db, application.number, "suspend", day=3, reason="专家评审")  # Thursday 5 March
    db.session.refresh(application)
    assert application.state == "special_procedure"
    assert application.paused_since == date(2026, 3, 5)
    move(db, application.number, "resume", day=9)  # Wednesday 11 March
    db.session.refresh(application)
    assert application.paused_since is None
    assert application.pauses == [{"start": "2026-03-05", "end": "2026-03-11", "kind": "special_procedure"}]
    # 4 paused working days (5, 6, 9, 10 March; the clock runs again on the 11th): 17 March + 4.
    assert application.deadline == date(2026, 3, 23)


def test_a_special_procedure_ended_the_day_it_began_does_not_move_the_deadline(db, make_application):
    application = make_application("in_progress", received_at=START, promise_days=10)  # accepted 3 March
    assert application.deadline == date(2026, 3, 17)
    move(db, application.number, "suspend", day=3, reason="专家评审")  # Thursday 5 March, 09:00
    services.apply_event(db.session, application.number,
                         NewEvent(action="resume", occurred_at=START + timedelta(days=3, hours=6)),
                         actor="department:test", actor_name="深圳市公安局", calendar=CALENDAR)
    db.session.refresh(application)
    assert application.pauses == [{"start": "2026-03-05", "end": "2026-03-05", "kind": "special_procedure"}]
    assert application.deadline == date(2026, 3, 17)


def test_waiting_for_documents_after_acceptance_stops_the_clock_too(db, make_application):
    application = make_application("accepted", received_at=START, promise_days=10)
    move(db, application.number, "request_supplement", day=2, missing=("结婚证原件", " "))
    db.session.refresh(application)
    assert application.missing == ["结婚证原件"]
    assert application.paused_since == date(2026, 3, 4)
    move(db, application.number, "supplement", day=4)
    db.session.refresh(application)
    assert application.missing == []
    assert application.pauses[0]["kind"] == "supplement"
    assert application.deadline == date(2026, 3, 19)  # 4 and 5 March paused; handed in on the 6th, which counts


def test_documents_missing_before_acceptance_do_not_start_the_clock(db, make_application):
    application = make_application("supplemented")
    assert application.accepted_on is None and application.deadline is None and application.pauses == []


def test_documents_handed_in_before_acceptance_lead_to_acceptance_not_to_the_handling(db, make_application):
    """已补正 before 受理: only 受理, 不予受理 or another 补正; handling it would skip 受理 and
    its deadline (the clock starts at 受理)."""
    application = make_application("supplemented")
    for action, details in (("start", {}), ("conclude", {"outcome": "approved"})):
        with pytest.raises(services.EventRefused) as caught:
            move(db, application.number, action, day=3, **details)
        assert caught.value.reason == "illegal_transition"
        assert caught.value.errors["action"] == ["allowed: accept, refuse, request_supplement"]
        assert "supplemented, not yet accepted" in caught.value.message and "尚未受理" in caught.value.message_zh
        db.session.rollback()
    move(db, application.number, "accept", day=3)
    move(db, application.number, "start", day=4)
    db.session.refresh(application)
    assert application.state == "in_progress" and application.accepted_on == date(2026, 3, 5)
    assert application.deadline is not None
    assert events_of(db, application) == ["receive", "request_supplement", "supplement", "accept", "start"]


@pytest.mark.parametrize("action", ["accept", "refuse"])
def test_documents_handed_in_after_acceptance_lead_back_to_the_handling(db, make_application, action):
    """已补正 after 受理 (a 补正 asked during the handling): no second 受理 and no 不予受理."""
    application = make_application("in_progress", received_at=START, promise_days=10)  # accepted 3 March
    move(db, application.number, "request_supplement", day=3, missing=("结婚证原件",))
    move(db, application.number, "supplement", day=5)
    db.session.commit()
    with pytest.raises(services.EventRefused) as caught:
        move(db, application.number, action, day=6, reason="不予受理")
    assert caught.value.reason == "illegal_transition"
    assert caught.value.errors["action"] == ["allowed: request_supplement, start, conclude"]
    assert "supplemented, already accepted" in caught.value.message and "已受理" in caught.value.message_zh
    db.session.rollback()
    move(db, application.number, "start", day=6)
    db.session.refresh(application)
    assert application.state == "in_progress" and application.accepted_on == date(2026, 3, 3)


def test_a_deadline_in_a_year_without_calendar_data_is_unknown_until_the_year_is_added(db, make_application):
    november = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # accepted Saturday 21 November
    application = make_application("accepted", received_at=november, promise_days=30)
    assert application.deadline is None and application.deadline_missing_year == 2027
    with_2027 = CALENDAR.with_years([{
        "year": 2027, "source": {"title": "测试用安排", "number": "测试", "published": "2026-11-01"},
        "days_off": [{"date": "2027-01-01", "name": "元旦"}], "workdays": []}])
    assert services.recompute_missing_deadlines(db.session, calendar=with_2027) == 1
    db.session.refresh(application)
    assert application.deadline_missing_year is None
    # 6 working days left in November, 23 in December, then 1 January is a holiday.
    assert application.deadline == date(2027, 1, 4)


def test_an_illegal_event_is_refused_and_changes_nothing(db, make_application):
    application = make_application("received")
    with pytest.raises(services.EventRefused) as caught:
        move(db, application.number, "conclude", day=1, outcome="approved")
    assert caught.value.reason == "illegal_transition"
    db.session.rollback()
    db.session.refresh(application)
    assert application.state == "received" and events_of(db, application) == ["receive"]


@pytest.mark.parametrize(("state", "action", "field"), [
    ("received", "refuse", "reason"),
    ("in_progress", "suspend", "reason"),
    ("accepted", "request_supplement", "missing"),
    ("in_progress", "conclude", "outcome"),
    ("concluded", "deliver", "delivery"),
])
def test_an_event_without_the_detail_it_needs_is_refused(db, make_application, state, action, field):
    application = make_application(state)
    with pytest.raises(Invalid) as caught:
        move(db, application.number, action, day=30)
    assert field in caught.value.errors


def test_an_unknown_action_is_invalid(db, make_application):
    application = make_application()
    with pytest.raises(Invalid):
        move(db, application.number, "approve", day=1)


def test_an_event_older_than_the_newest_is_refused_as_out_of_order(db, make_application):
    application = make_application("in_progress")  # events on days 1 and 2
    with pytest.raises(services.EventRefused) as caught:
        move(db, application.number, "conclude", day=1, outcome="approved")
    assert caught.value.reason == "out_of_order"


def test_a_repeated_event_id_is_applied_once(db, make_application):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor=SYSTEM)
    application = make_application("received", client=client)
    first, applied = move(db, application.number, "accept", day=1, client=client, event_id="evt-1")
    again, applied_again = move(db, application.number, "accept", day=1, client=client, event_id="evt-1")
    assert applied and not applied_again and again.id == first.id
    assert events_of(db, application) == ["receive", "accept"]


def test_an_event_id_reused_for_another_event_is_refused(db, make_application):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor=SYSTEM)
    application = make_application("received", client=client)
    move(db, application.number, "accept", day=1, client=client, event_id="evt-1")
    with pytest.raises(services.EventRefused) as caught:
        move(db, application.number, "start", day=2, client=client, event_id="evt-1")
    assert caught.value.reason == "event_id_reused"


def test_an_event_id_sent_again_with_another_outcome_is_refused_not_answered_as_applied(db, make_application):
    client, _ = departments.create_client(db.session, name="深圳市公安局", actor=SYSTEM)
    application = make_application("in_progress", client=client)
    approved, _ = move(db, application.number, "conclude", day=3, client=client, event_id="evt-c", outcome="approved")
    with pytest.raises(services.EventRefused) as caught:
        move(db, application.number, "conclude", day=3, client=client, event_id="evt-c", outcome="denied")
    assert caught.value.reason == "event_id_reused" and "outcome" in caught.value.message
    again, applied = move(db, application.number, "conclude", day=3, client=client, event_id="evt-c",
                          outcome="approved")
    assert (again.id, applied) == (approved.id, False)
    db.session.refresh(application)
    assert application.outcome == "approved"


def test_an_event_for_an_unknown_application_is_not_found(db):
    with pytest.raises(services.ApplicationNotFound):
        move(db, "NOSUCH-000001", "accept", day=1)


def test_concurrent_events_on_one_application_apply_one_at_a_time(app, db, make_application):
    application = make_application("accepted")
    number = application.number

    def push(i):
        return move(db, number, "start" if i % 2 else "conclude", day=2, **({} if i % 2 else {"outcome": "approved"}))

    results = run_in_threads(app, 6, push, commit=True)
    applied = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if not isinstance(r, tuple)]
    db.session.expire_all()
    seqs = list(db.session.scalars(sa.select(ApplicationEvent.seq).where(ApplicationEvent.application_id ==
                                                                         application.id).order_by(ApplicationEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no duplicates
    assert len(seqs) == 2 + len(applied)
    assert all(isinstance(r, (services.EventRefused, sa.exc.OperationalError, sa.exc.IntegrityError))
               for r in refused), refused


# ---------------------------------------------------------------- notifications

def test_notified_moves_put_one_message_in_the_outbox(db, make_application):
    application = make_application("received")
    entry, _ = move(db, application.number, "accept", day=1)
    move(db, application.number, "start", day=2)  # not worth a text message
    messages = list(db.session.scalars(sa.select(OutboxMessage)))
    assert [(m.topic, m.key, m.payload) for m in messages] == \
        [("applications.notify", f"event:{entry.id}", {"event_id": entry.id})]


def test_an_applicant_without_a_phone_gets_no_message(db, make_application):
    application = make_application("received", phone=None)
    move(db, application.number, "accept", day=1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


# ---------------------------------------------------------------- reading

@pytest.mark.parametrize("tail", ["002X", "002x", " 002X ", "8000"])
def test_a_lookup_with_the_last_four_of_the_id_or_phone_finds_the_application(db, make_application, tail):
    application = make_application(number="JX-LOOKUP-1")
    assert services.lookup(db.session, "jx-lookup-1", tail).id == application.id


def test_a_wrong_tail_and_an_unknown_number_give_the_same_error(db, make_application):
    make_application(number="JX-LOOKUP-1")
    with pytest.raises(services.ApplicationNotFound) as wrong:
        services.lookup(db.session, "JX-LOOKUP-1", "1234")
    with pytest.raises(services.ApplicationNotFound) as unknown:
        services.lookup(db.session, "JX-LOOKUP-2", "002X")
    assert (wrong.value.message, wrong.value.message_zh, wrong.value.errors) == \
        (unknown.value.message, unknown.value.message_zh, unknown.value.errors)


def test_the_same_four_digits_do_not_open_another_application(db, make_application):
    make_application(number="JX-LOOKUP-1")
    make_application(number="JX-LOOKUP-2", id_number="440524188001010014", phone="13900001111")
    with pytest.raises(services.ApplicationNotFound):
        services.lookup(db.session, "JX-LOOKUP-2", "002X")


@pytest.mark.parametrize(("number", "tail"), [("", "002X"), ("JX-LOOKUP-1", "02X"), ("JX-LOOKUP-1", "00A1"),
                                              ("JX-LOOKUP-1", "")])
def test_a_malformed_lookup_is_invalid(db, number, tail):
    with pytest.raises(Invalid):
        services.lookup(db.session, number, tail)


def test_my_applications_are_mine_newest_first(db, make_application, make_resident):
    older = make_application(number="JX-MINE-0001", received_at=START)
    newer = make_application(number="JX-MINE-0002", received_at=START + timedelta(days=30))
    make_application(number="JX-THEIRS-001", id_number="440524188001010014")
    me = make_resident(id_number=APPLICANT_ID)
    assert [a.id for a in services.for_resident(db.session, me)] == [newer.id, older.id]
    stranger = make_resident("李四")  # no verified ID number: nothing to match
    assert services.for_resident(db.session, stranger) == []
    with pytest.raises(services.ApplicationNotFound):
        services.get_for_resident(db.session, "JX-THEIRS-001", me)
    assert services.get_for_resident(db.session, "jx-mine-0001", me).id == older.id


def test_the_overdue_list_has_open_running_clocks_past_their_deadline(db, make_application):
    late = make_application("in_progress", number="JX-LATE-0001", promise_days=5)
    make_application("special_procedure", number="JX-STOPPED-01", promise_days=5)
    make_application("concluded", number="JX-DONE-0001", promise_days=5)
    on_time = make_application("in_progress", number="JX-ONTIME-01", promise_days=60)
    found = services.overdue(db.session, today=date(2026, 4, 1))
    assert [a.number for a in found] == [late.number]
    assert on_time.deadline > date(2026, 4, 1)
