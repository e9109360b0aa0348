"""Applications' background jobs (registered with core.tasks on import): SMS notices of
state changes, and deadlines that waited for a calendar year.

A notice goes out once per timeline event. services.apply_event puts an outbox message
(topic ``applications.notify``, key ``event:<id>``) in the transaction of the change; the
worker runs :func:`notify`, which keeps a :class:`~.models.Notification` row per event:

    pending ─▶ sending ─▶ sent
       ▲          │ ├──▶ rejected    (the provider refused for good: bad number, template…)
       │          │ └──▶ uncertain   (the request may have reached the provider: not resent)
       └─ failed ◀┘                  (certainly not sent: the outbox retries with backoff)

``sending`` is committed before the provider is called. A worker killed during the call
leaves it; the retry finds ``sending`` and marks the notice ``uncertain`` instead of
sending a second text. So a resident gets at most one text per event; a lost one is never
silent — the console lists the rejected and uncertain notices with the event.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from ..core import outbox, sms, tasks
from ..core.clock import utcnow
from ..core.i18n import translate
from . import services
from .models import Application, ApplicationEvent, Notification

log = logging.getLogger(__name__)

TEMPLATE = "application_state"  # KIOSK_SMS_TEMPLATES maps it to the provider's approved template
SENDER_EXTENSION = "sms_sender"  # app.extensions[...]: a sender set by the composition (tests, demo)


def sender_for_app() -> sms.SmsSender:
    """The app's SMS sender: one put in ``app.extensions["sms_sender"]``, else the one the
    configuration names (core.sms.sender_from_config), made once per app."""
    extensions = current_app.extensions
    if extensions.get(SENDER_EXTENSION) is None:
        extensions[SENDER_EXTENSION] = sms.sender_from_config(current_app.config)
    return extensions[SENDER_EXTENSION]


def message_params(application: Application, event: ApplicationEvent) -> tuple[str, ...]:
    """The template's variables: {1} the application number, {2} the item, {3} what happened.

    Suggested template (register it with the provider): 您的办件{1}（{2}）{3}。详情请在自助终端或
    小程序“办件进度”查询。"""
    happened = translate(f"application.action.{event.action}", "zh-CN")
    outcome = (event.details or {}).get("outcome")
    if outcome:
        happened += "（" + translate(f"application.outcome.{outcome}", "zh-CN") + "）"
    return application.number, application.item_name, happened


def notify(session: Session, event_id: int, *, sender: sms.SmsSender, now=utcnow) -> str:
    """Send the notice of timeline event ``event_id`` unless it was sent, refused or may
    have been sent already; returns the notice's state. Commits its own steps.

    Raises SmsTemporaryError when the text was certainly not sent (the outbox retries)."""
    event = session.get(ApplicationEvent, event_id)
    if event is None:
        return "skipped"  # the application was deleted since
    notice = session.scalar(sa.select(Notification).where(Notification.event_id == event_id))
    if notice is None:
        notice = Notification(event_id=event_id, application_id=event.application_id, template=TEMPLATE,
                              state="pending", created_at=now())
        session.add(notice)
        session.flush()
    application = event.application
    phone = services.phone_of(application)
    message = sms.SmsMessage(phone=phone, template=TEMPLATE, params=message_params(application, event)) \
        if phone else None
    return sms.send_once(session, Notification, notice, phone=phone, message=message, key=f"event:{event_id}",
                         sender=sender, now=now)


@outbox.handler(services.NOTIFY_TOPIC)
def run_notification(payload: dict, *, key: str, session: Session) -> None:
    notify(session, int(payload["event_id"]), sender=sender_for_app())


@tasks.periodic("applications.missing_deadlines", every=timedelta(hours=1))
def fill_missing_deadlines(session: Session, config: Mapping[str, Any]) -> int:
    """Deadlines that reached a year without calendar data, computed once admins add it."""
    return services.recompute_missing_deadlines(session)
