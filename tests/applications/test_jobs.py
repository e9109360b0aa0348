"""SMS notices of state changes through the outbox: retried when certainly not sent,
never sent twice (applications/jobs.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import jobs, services
from kiosk_backend.applications.models import Notification
from kiosk_backend.core import outbox, sms
from kiosk_backend.core.outbox import OutboxMessage, Policy
from kiosk_backend.core.workdays import Calendar
from tests.conftest import APPLICANT_PHONE

POLICY = Policy(max_attempts=3, backoff_base=1, backoff_cap=2, lease_seconds=60)


@pytest.fixture
def sender(app):
    """The app's SMS sender for the test: a LoggingSender (set on the shared app, then removed)."""
    fake = sms.LoggingSender()
    app.extensions[jobs.SENDER_EXTENSION] = fake
    yield fake
    app.extensions.pop(jobs.SENDER_EXTENSION, None)


def accept(db, make_application, **kwargs):
    application = make_application("received", **kwargs)
    event, _ = services.apply_event(db.session, application.number,
                                    services.NewEvent(action="accept",
                                                      occurred_at=datetime(2026, 3, 3, 1, tzinfo=UTC)),
                                    actor="department:test", actor_name="九江市公安局", calendar=Calendar.shipped())
    db.session.commit()
    return application, event


def message_ids(db) -> list[int]:
    return list(db.session.scalars(sa.select(OutboxMessage.id).where(OutboxMessage.topic == services.NOTIFY_TOPIC)))


def notice(db) -> Notification:
    db.session.expire_all()
    return db.session.scalar(sa.select(Notification))


def test_an_accepted_application_sends_one_text_with_number_item_and_what_happened(db, make_application, sender):
    application, _ = accept(db, make_application)
    [message_id] = message_ids(db)
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    [text] = sender.sent
    assert text.phone == APPLICANT_PHONE and text.template == "application_state"
    assert text.params == (application.number, "居民身份证换领", "受理")
    assert notice(db).state == "sent" and notice(db).provider_id.startswith("log:")


def test_a_concluded_application_says_the_outcome(db, make_application, sender):
    application = make_application("in_progress")
    event, _ = services.apply_event(db.session, application.number, services.NewEvent(
        action="conclude", outcome="denied", occurred_at=datetime(2026, 3, 9, 1, tzinfo=UTC)),
        actor="d", actor_name="d", calendar=Calendar.shipped())
    assert jobs.message_params(application, event)[2] == "办结（不予）"


def test_a_provider_outage_is_retried_and_the_text_goes_out_once(db, make_application, sender):
    accept(db, make_application)
    sender.failures = [sms.SmsTemporaryError("connection refused", maybe_sent=False)]
    [message_id] = message_ids(db)
    first = outbox.run(db.session, message_id, policy=POLICY)
    assert first.state == "pending" and first.retry_in is not None
    assert notice(db).state == "failed" and sender.sent == []
    db.session.execute(sa.update(OutboxMessage).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    assert len(sender.sent) == 1 and notice(db).state == "sent" and notice(db).attempts == 2


def test_a_text_that_may_have_reached_the_provider_is_not_sent_again(db, make_application, sender):
    accept(db, make_application)
    sender.failures = [sms.SmsTemporaryError("read timed out", maybe_sent=True)]
    [message_id] = message_ids(db)
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    assert notice(db).state == "uncertain" and sender.sent == []


def test_a_refused_text_is_recorded_and_not_retried(db, make_application, sender):
    accept(db, make_application)
    sender.failures = [sms.SmsRejected("template not approved", code="FailedOperation.TemplateUnapprovedOrNotExist")]
    [message_id] = message_ids(db)
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    assert notice(db).state == "rejected" and "template" in notice(db).last_error


def test_a_worker_killed_during_the_provider_call_leaves_an_uncertain_notice_not_a_second_text(
        db, make_application, sender):
    _, event = accept(db, make_application)
    # What a kill leaves behind: the notice marked sending, the outbox message's lease expired.
    db.session.add(Notification(event_id=event.id, application_id=event.application_id, template=jobs.TEMPLATE,
                                state="sending", attempts=1, created_at=datetime.now(UTC)))
    db.session.commit()
    [message_id] = message_ids(db)
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    assert notice(db).state == "uncertain" and sender.sent == []


def test_running_a_message_twice_sends_once(db, make_application, sender):
    _, event = accept(db, make_application)
    assert jobs.notify(db.session, event.id, sender=sender) == "sent"
    assert jobs.notify(db.session, event.id, sender=sender) == "sent"
    assert len(sender.sent) == 1


def test_nothing_is_lost_while_no_worker_runs(db, make_application, sender):
    accept(db, make_application)
    [message_id] = message_ids(db)
    later = lambda: datetime.now(UTC) + timedelta(minutes=5)  # noqa: E731
    assert outbox.sweep(db.session, policy=POLICY, now=later) == [message_id]
    assert outbox.run(db.session, message_id, policy=POLICY).state == "done"
    assert len(sender.sent) == 1


def test_the_configured_sender_is_used_when_none_is_set(app):
    app.extensions.pop(jobs.SENDER_EXTENSION, None)
    try:
        assert isinstance(jobs.sender_for_app(), sms.LoggingSender)
    finally:
        app.extensions.pop(jobs.SENDER_EXTENSION, None)
