"""What a person sees of an application: one view for the kiosk, the phone pages, the
mini-app API and the printed receipt, so that every surface shows the same thing.

:func:`view` returns plain data: message-catalogue keys (``application.state.accepted``) for
the words, masked personal data only, the deadline as 剩余 N 个工作日 / 今天到期 / 已超期 N 天
(or 计时暂停 while 特别程序 / 补正 stop the clock), the next step for the applicant, and the
timeline oldest first.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from ..core.workdays import Calendar, CalendarYearMissing
from . import states
from .models import Application, ApplicationEvent
from .states import State

# What the applicant does (or waits for) next, per state; concluded ones by outcome/delivery.
NEXT_STEP = {
    State.RECEIVED: "application.next.wait_acceptance",
    State.ACCEPTED: "application.next.wait_handling",
    State.NOT_ACCEPTED: "application.next.read_reason",
    State.SUPPLEMENT_REQUESTED: "application.next.supplement",
    State.SUPPLEMENTED: "application.next.wait_review",
    State.IN_PROGRESS: "application.next.wait_handling",
    State.SPECIAL_PROCEDURE: "application.next.special_procedure",
    State.DELIVERED: "application.next.rate",
    State.RATED: "application.next.none",
}


def next_step(application: Application) -> str:
    state = State(application.state)
    if state == State.CONCLUDED:
        return "application.next.collect" if application.outcome == states.Outcome.APPROVED \
            else "application.next.read_decision"
    return NEXT_STEP[state]


def deadline_view(application: Application, *, calendar: Calendar, today: date) -> dict[str, Any]:
    """``{"key": message key, "count": n, "deadline": date|None, "overdue": bool}``."""
    state = State(application.state)
    base = {"deadline": application.deadline, "overdue": False, "count": 0}
    if state == State.NOT_ACCEPTED:
        # Never accepted, so never decided either: no clock ran (not 已办结 / "Decided").
        return {**base, "key": "deadline.not_accepted"}
    if state in states.FINISHED:
        return {**base, "key": "deadline.finished"}
    if application.accepted_on is None:
        return {**base, "key": "deadline.not_started"}
    if application.paused_since is not None:
        return {**base, "key": "deadline.paused"}
    if application.deadline is None:
        return {**base, "key": "deadline.unknown", "count": application.deadline_missing_year or 0}
    if today > application.deadline:
        # Days overdue are calendar days: known even when today's year has no calendar data.
        return {**base, "key": "deadline.overdue", "count": (today - application.deadline).days, "overdue": True}
    try:
        left = calendar.remaining(application.deadline, today)
    except CalendarYearMissing as exc:
        return {**base, "key": "deadline.unknown", "count": exc.year}
    return {**base, "key": left.key, "count": left.count, "overdue": left.overdue}


# Domains above this one add entries to an application's timeline (courier: the two postal
# legs) without being imported here: they register a source on import. A source returns
# entries shaped like event_view's, with ``kind`` naming it and ``action`` "courier" etc.
TimelineSource = Callable[[Application], list[dict[str, Any]]]
_timeline_sources: list[TimelineSource] = []


def register_timeline_source(source: TimelineSource) -> TimelineSource:
    """Add ``source``'s entries to every application's timeline (idempotent)."""
    if source not in _timeline_sources:
        _timeline_sources.append(source)
    return source


def event_view(event: ApplicationEvent) -> dict[str, Any]:
    details = event.details or {}
    return {
        "kind": "application",
        "seq": event.seq,
        "action": event.action,
        "action_key": f"application.action.{event.action}",
        "state": event.to_state,
        "state_key": f"application.state.{event.to_state}",
        "actor_name": event.actor_name,
        "note": event.note,
        "reason": details.get("reason"),
        "missing": list(details.get("missing") or []),
        "outcome": details.get("outcome"),
        "delivery": details.get("delivery"),
        "occurred_at": event.occurred_at,
    }


def view(application: Application, *, calendar: Calendar, today: date, timeline: bool = True) -> dict[str, Any]:
    """The application as residents may see it (masked)."""
    state = State(application.state)
    data: dict[str, Any] = {
        "number": application.number,
        "task_code": application.task_code,
        "item_name": application.item_name,
        "mode": application.mode,
        "mode_key": f"application.mode.{application.mode}",
        "cross_province": application.receiving_region[:2] != application.handling_region[:2],
        "state": state.value,
        "state_key": f"application.state.{state.value}",
        "outcome": application.outcome,
        "outcome_key": f"application.outcome.{application.outcome}" if application.outcome else None,
        "delivery": application.delivery,
        "delivery_key": f"application.delivery.{application.delivery}" if application.delivery else None,
        "finished": state in states.FINISHED,
        "missing": list(application.missing or []) if state == State.SUPPLEMENT_REQUESTED else [],
        "applicant_name": application.applicant_name_masked,
        "applicant_id": application.applicant_id_masked,
        "applicant_phone": application.applicant_phone_masked,
        "receiving_org": application.receiving_org,
        "receiving_region": application.receiving_region,
        "handling_org": application.handling_org,
        "handling_region": application.handling_region,
        "received_at": application.received_at,
        "accepted_on": application.accepted_on,
        "promise_days": application.promise_days,
        "promise_unit": application.promise_unit,
        "deadline": deadline_view(application, calendar=calendar, today=today),
        "next_step_key": next_step(application),
        "updated_at": application.last_event_at,
    }
    if timeline:
        entries = [event_view(event) for event in application.events]
        for source in _timeline_sources:
            entries.extend(source(application))
        # Oldest first; the department's own events keep their order among equal times.
        data["timeline"] = sorted(entries, key=lambda e: (e["occurred_at"], e["kind"] != "application"))
    return data
