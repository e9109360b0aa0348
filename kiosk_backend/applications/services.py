"""Applications: created and moved by departments (or staff), looked up by residents.

Every function takes the database session first and the acting party as keyword arguments,
flushes and never commits (the surface commits once per request, the CLI explicitly).
"""
from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..catalog import services as catalog
from ..core import outbox
from ..core.clock import utcnow
from ..core.errors import Conflict, Invalid, NotFound
from ..core.workdays import Calendar, CalendarYearMissing
from ..identity import residents
from . import deadlines, states
from .models import Application, ApplicationEvent, DepartmentClient
from .states import Action, State

log = logging.getLogger(__name__)

NUMBER = re.compile(r"^[0-9A-Z][0-9A-Z-]{5,39}$")
TAIL = re.compile(r"^[0-9X]{4}$")
NOTIFY_TOPIC = "applications.notify"
# The moves a resident hears about by SMS; the others (开始办理, 恢复计时, 已补正 …) would be noise.
NOTIFIED = frozenset({Action.ACCEPT, Action.REFUSE, Action.REQUEST_SUPPLEMENT, Action.SUSPEND,
                      Action.CONCLUDE, Action.DELIVER})
FUTURE_TOLERANCE = timedelta(minutes=5)  # a department's clock may run a little ahead of ours


# ---------------------------------------------------------------- errors

class EventRefused(Conflict):
    """A department event we do not apply (409). ``reason`` is one of: illegal_transition,
    out_of_order, event_id_reused, changed_meanwhile, number_taken."""

    def __init__(self, reason: str, message: str, message_zh: str, *, errors: dict | None = None):
        super().__init__(message, message_zh, errors=errors or {"reason": [reason]})
        self.reason = reason


class ApplicationNotFound(NotFound):
    """No such application, or (for a lookup) not this person's: the same answer for both."""

    reason = "unknown_application"

    def __init__(self) -> None:
        super().__init__("No application matches this number and these characters.",
                         "没有找到与该编号和验证信息相符的办件。")


# ---------------------------------------------------------------- formats

def normalize_number(value: str) -> str:
    """An application number (办件编号) without blanks, upper-cased; raises Invalid unless
    it is 6–40 letters, digits and hyphens (numbers are opaque: each platform has its own)."""
    number = re.sub(r"\s", "", value or "").upper()
    if not NUMBER.match(number):
        raise Invalid("An application number has 6 to 40 letters, digits or hyphens.",
                      "办件编号应为 6 到 40 位字母、数字或连字符。", errors={"number": ["format"]})
    return number


def normalize_tail(value: str) -> str:
    """The last 4 characters of an ID number or mobile number (``002X``), upper-cased."""
    tail = re.sub(r"\s", "", value or "").upper()
    if not TAIL.match(tail):
        raise Invalid("Enter the last 4 characters of the ID number or mobile number.",
                      "请输入身份证号或手机号的后 4 位。", errors={"tail": ["format"]})
    return tail


def tail_digest(number: str, tail: str, *, keys: residents.DataKeys | None = None) -> str:
    """A keyed digest of a second factor, bound to the application number (so the same four
    digits give different digests on different applications)."""
    return residents.keyed_hash("application-tail", f"{number}:{tail}", keys=keys)


def _calendar(session: Session, calendar: Calendar | None) -> Calendar:
    if calendar is not None:
        return calendar
    from ..core import calendar_store

    return calendar_store.calendar(session)


# ---------------------------------------------------------------- creating

@dataclass(frozen=True)
class Applicant:
    name: str
    id_number: str | None = None  # valid GB 11643 (identity.residents.normalize_id_number)
    phone: str | None = None      # a mainland mobile number


@dataclass(frozen=True)
class NewApplication:
    number: str
    task_code: str
    applicant: Applicant
    mode: str
    receiving_org: str
    receiving_region: str
    handling_org: str
    handling_region: str
    received_at: datetime
    item_name: str | None = None
    promise_days: int | None = None
    promise_unit: str | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _applicant_fields(applicant: Applicant, number: str) -> dict[str, Any]:
    keys = residents.data_keys()
    values: dict[str, Any] = {"applicant_name_masked": residents.mask_name(applicant.name)}
    if applicant.id_number:
        try:
            id_number = residents.normalize_id_number(applicant.id_number)
        except ValueError as exc:
            raise Invalid(f"applicant.id_number: {exc}.", "申请人身份证号码不正确。",
                          errors={"applicant": {"id_number": [str(exc)]}}) from None
        values.update(applicant_id_hash=residents.keyed_hash("id", id_number, keys=keys),
                      applicant_id_masked=residents.mask_id_number(id_number),
                      id_tail_digest=tail_digest(number, id_number[-4:], keys=keys))
    if applicant.phone:
        try:
            phone = residents.normalize_phone(applicant.phone)
        except ValueError as exc:
            raise Invalid(f"applicant.phone: {exc}.", "申请人手机号码不正确。",
                          errors={"applicant": {"phone": [str(exc)]}}) from None
        values.update(applicant_phone_encrypted=residents.encrypt_phone(phone, keys=keys),
                      applicant_phone_masked=residents.mask_phone(phone),
                      phone_tail_digest=tail_digest(number, phone[-4:], keys=keys))
    if not applicant.id_number and not applicant.phone:
        raise Invalid("An applicant needs an ID number or a mobile number (the second factor of a lookup).",
                      "申请人须有身份证号或手机号（查询办件时用于核验）。",
                      errors={"applicant": ["id_number or phone required"]})
    return values


def create_application(session: Session, data: NewApplication, *, actor: str, actor_name: str,
                       client: DepartmentClient | None = None, event_id: str | None = None,
                       now=utcnow) -> tuple[Application, bool]:
    """Record a new application (已接件) with the first entry of its timeline.

    Idempotent for its creator: the same number from the same department client again returns
    the existing application and ``False``. Returns ``(application, created)``.

    Raises Invalid (bad number, applicant data, mode, region, unit, a received time in the
    future), EventRefused ``number_taken`` (the number belongs to another client's application).
    """
    number = normalize_number(data.number)
    existing = get_by_number(session, number)
    if existing is not None:
        return _existing_for(existing, client), False
    moment = now()
    if data.received_at > moment + FUTURE_TOLERANCE:
        raise Invalid("received_at is in the future.", "接件时间晚于当前时间。", errors={"received_at": ["future"]})
    _check_choice("mode", data.mode, [m.value for m in states.Mode])
    for name in ("receiving_region", "handling_region"):
        if not re.fullmatch(r"\d{6}", getattr(data, name) or ""):
            raise Invalid(f"{name} is a 6-digit division code (GB/T 2260).", "行政区划代码应为 6 位数字。",
                          errors={name: ["format"]})
    try:
        item = catalog.get_item(session, data.task_code)
    except NotFound:
        item = None  # departments handle items the kiosks' catalog does not list: item_name says what
    item_name = data.item_name or (item.task_name if item is not None else None)
    if not item_name:
        raise Invalid("The item is not in the catalog: send item_name.", "目录中没有该事项，请提供事项名称 item_name。",
                      errors={"item_name": ["required when task_code is not in the catalog"]})
    unit = data.promise_unit or (item.promise_type if item is not None and item.promise_type else None) \
        or deadlines.WORKING_DAYS
    _check_choice("promise_unit", unit, list(deadlines.UNITS))
    days = data.promise_days if data.promise_days is not None else (item.promise_day if item is not None else None)
    application = Application(
        number=number, item_id=item.id if item is not None else None, task_code=data.task_code,
        item_name=item_name[:200], mode=data.mode,
        receiving_org=data.receiving_org, receiving_region=data.receiving_region,
        handling_org=data.handling_org, handling_region=data.handling_region,
        state=State.RECEIVED, missing=[], promise_days=max(0, days or 0), promise_unit=unit,
        received_at=data.received_at, pauses=[], last_event_at=data.received_at, version=1,
        client_id=client.id if client is not None else None, created_at=moment, updated_at=moment,
        **_applicant_fields(data.applicant, number))
    event = ApplicationEvent(seq=1, action=Action.RECEIVE, from_state=None, to_state=State.RECEIVED,
                             actor=actor, actor_name=actor_name[:200], note=(data.note or None),
                             details=dict(data.extra), occurred_at=data.received_at, recorded_at=moment,
                             client_id=client.id if client is not None else None, event_id=event_id)
    application.events.append(event)
    try:
        with session.begin_nested():
            session.add(application)
            session.flush()
    except IntegrityError:
        # Another request created the same number between our read and our insert.
        session.expunge(application) if application in session else None
        existing = get_by_number(session, number)
        if existing is None:
            raise
        return _existing_for(existing, client), False
    return application, True


def _existing_for(existing: Application, client: DepartmentClient | None) -> Application:
    if client is not None and existing.client_id != client.id:
        raise EventRefused("number_taken", "This application number is already used by another department.",
                           "该办件编号已被其他部门使用。")
    return existing


def _check_choice(name: str, value: Any, choices: list[str]) -> None:
    if value not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}.", f"{name} 只能是 {'、'.join(choices)}。",
                      errors={name: [f"one of {choices}"]})


# ---------------------------------------------------------------- moving

@dataclass(frozen=True)
class NewEvent:
    action: str
    occurred_at: datetime
    note: str | None = None
    reason: str | None = None          # 不予受理 / 特别程序
    missing: tuple[str, ...] = ()      # 待补正
    outcome: str | None = None         # 办结: approved | denied
    delivery: str | None = None        # 送达: window | post | online
    event_id: str | None = None        # the department's id for the event (idempotency)
    extra: Mapping[str, Any] = field(default_factory=dict)


def apply_event(session: Session, number: str, event: NewEvent, *, actor: str, actor_name: str,
                client: DepartmentClient | None = None, now=utcnow, calendar: Calendar | None = None,
                notify: bool = True) -> tuple[ApplicationEvent, bool]:
    """Move an application by one event and add it to the timeline; the resident is notified
    through the outbox (SMS) for the moves in NOTIFIED, unless ``notify`` is False (history
    loaded after the fact: the demo, imports of past events).

    Idempotent by ``event.event_id`` per client: the same event sent again (same application,
    action, time, note and details) returns ``(that event, False)``; the id sent with anything
    else is refused as ``event_id_reused``. Otherwise returns ``(new event, True)``.

    Raises Invalid (unknown action, a detail the action needs is missing, a time in the
    future), ApplicationNotFound, EventRefused (``event_id_reused`` with other content,
    ``out_of_order``: older than the newest event; ``illegal_transition``; ``changed_meanwhile``:
    a concurrent event moved it first — send again).
    """
    number = normalize_number(number)
    try:
        action = Action(event.action)
    except ValueError:
        raise Invalid(f"Unknown action {event.action!r}.", f"未知的事件类型 {event.action!r}。",
                      errors={"action": [f"one of {[a.value for a in Action if a != Action.RECEIVE]}"]}) from None
    if client is not None and event.event_id:
        seen = session.scalar(sa.select(ApplicationEvent).where(ApplicationEvent.client_id == client.id,
                                                                ApplicationEvent.event_id == event.event_id))
        if seen is not None:
            differs = _differences(seen, number, action, event)
            if differs:
                raise EventRefused("event_id_reused",
                                   f"This event id was used before for another event (its {', '.join(differs)} "
                                   f"differ).", f"该事件编号已用于另一事件（{'、'.join(differs)} 不同）。")
            return seen, False
    application = get_by_number(session, number)
    if application is None:
        raise ApplicationNotFound()
    moment = now()
    if event.occurred_at > moment + FUTURE_TOLERANCE:
        raise Invalid("occurred_at is in the future.", "事件时间晚于当前时间。", errors={"occurred_at": ["future"]})
    if event.occurred_at < application.last_event_at:
        raise EventRefused("out_of_order",
                           f"This event happened before the application's newest event "
                           f"({application.last_event_at.isoformat()}); events must be sent in order.",
                           "该事件早于办件最新的事件，事件须按发生顺序推送。",
                           errors={"occurred_at": [f"before {application.last_event_at.isoformat()}"]})
    if action == Action.RECEIVE:
        raise EventRefused("illegal_transition", "An application is received once, when it is created.",
                           "办件只在创建时接件一次。")
    old = State(application.state)
    accepted = application.accepted_on is not None
    try:
        new = states.target_of(old, action, accepted=accepted)
    except states.IllegalAction as exc:
        allowed = ", ".join(exc.allowed) or "none"
        # In 已补正 what is allowed depends on 受理 (states.BY_ACCEPTANCE): say which case this is.
        depends = states.depends_on_acceptance(old)
        en = (", already accepted" if accepted else ", not yet accepted") if depends else ""
        zh = ("，已受理" if accepted else "，尚未受理") if depends else ""
        raise EventRefused("illegal_transition",
                           f"{action} is not allowed while the application is {old}{en} (allowed: {allowed}).",
                           f"办件当前状态下不能执行该操作（{old}{zh} → {action}）。",
                           errors={"action": [f"allowed: {allowed}"]}) from None
    values = _values_for(application, action, new, event, _calendar(session, calendar))
    values.update(last_event_at=event.occurred_at, version=application.version + 1, updated_at=moment)
    if new in states.FINISHED and application.finished_at is None:
        values["finished_at"] = event.occurred_at
    if not states.LIFECYCLE.advance(session, Application, application.id, new,
                                    where=[Application.version == application.version], **values):
        raise EventRefused("changed_meanwhile", "The application changed while this event was applied; send it again.",
                           "办件状态刚刚发生变化，请重新发送该事件。")
    entry = ApplicationEvent(application_id=application.id, seq=application.version + 1, action=action,
                             from_state=old, to_state=new, actor=actor, actor_name=actor_name[:200],
                             note=(event.note or None), details=_details_of(event), occurred_at=event.occurred_at,
                             recorded_at=moment, client_id=client.id if client is not None else None,
                             event_id=event.event_id)
    session.add(entry)
    session.flush()
    session.refresh(application)
    if notify and action in NOTIFIED and (application.applicant_phone_encrypted or "") != "":
        outbox.enqueue(session, NOTIFY_TOPIC, {"event_id": entry.id}, key=f"event:{entry.id}", now=now)
    return entry, True


def _details_of(event: NewEvent) -> dict[str, Any]:
    """What an event keeps besides its action, time and note (ApplicationEvent.details)."""
    return {**dict(event.extra), **{k: v for k, v in (("reason", event.reason), ("missing", list(event.missing)),
                                                      ("outcome", event.outcome), ("delivery", event.delivery))
                                    if v}}


def _differences(seen: ApplicationEvent, number: str, action: Action, event: NewEvent) -> list[str]:
    """What of ``event`` differs from the event recorded under its id: nothing for the same
    event sent again (answered as applied before), else the fields named in the refusal."""
    recorded = seen.details or {}
    sent = _details_of(event)
    differs = [name for name, same in (
        ("number", seen.application.number == number),
        ("action", seen.action == action),
        ("occurred_at", seen.occurred_at == event.occurred_at),
        ("note", seen.note == (event.note or None)),
    ) if not same]
    return differs + sorted(key for key in {*recorded, *sent} if recorded.get(key) != sent.get(key))


def _values_for(application: Application, action: Action, new: State, event: NewEvent,
                calendar: Calendar) -> dict[str, Any]:
    """The columns an event changes besides the state: details, the clock and the deadline."""
    required = states.requirement(action)
    values: dict[str, Any] = {}
    day = deadlines.china_day(event.occurred_at)
    if required == "reason" and not (event.reason or "").strip():
        raise Invalid(f"{action} needs a reason.", "该操作须说明原因（reason）。", errors={"reason": ["required"]})
    if required == "missing":
        missing = [m.strip() for m in event.missing if m and m.strip()]
        if not missing:
            raise Invalid("request_supplement needs the list of missing materials.", "补正须列出所缺材料（missing）。",
                          errors={"missing": ["required"]})
        values["missing"] = missing
    if required == "outcome":
        _check_choice("outcome", event.outcome, [o.value for o in states.Outcome])
        values["outcome"] = event.outcome
    if required == "delivery":
        _check_choice("delivery", event.delivery, [d.value for d in states.Delivery])
        values["delivery"] = event.delivery
    if new != State.SUPPLEMENT_REQUESTED and application.missing:
        values["missing"] = []

    accepted_on = application.accepted_on
    pauses = list(application.pauses or [])
    paused_since = application.paused_since
    if action == Action.ACCEPT and accepted_on is None:
        accepted_on = day
    old = State(application.state)
    if accepted_on is not None:
        if new in states.PAUSED and paused_since is None:
            paused_since = day
        elif new not in states.PAUSED and old in states.PAUSED and paused_since is not None:
            kind = "special_procedure" if old == State.SPECIAL_PROCEDURE else "supplement"
            pauses.append(deadlines.pause_record(paused_since, max(day, paused_since), kind))
            paused_since = None
    values.update(accepted_on=accepted_on, pauses=pauses, paused_since=paused_since)
    values.update(_deadline_values(calendar, accepted_on, application.promise_days, application.promise_unit, pauses))
    return values


def _deadline_values(calendar: Calendar, accepted_on: date | None, days: int, unit: str,
                     pauses: list[dict[str, Any]]) -> dict[str, Any]:
    if accepted_on is None:
        return {"deadline": None, "deadline_missing_year": None}
    try:
        due = deadlines.deadline(calendar, accepted_on, days, unit, deadlines.pauses_from(pauses))
    except CalendarYearMissing as exc:
        log.warning("deadline unknown: %s", exc)
        return {"deadline": None, "deadline_missing_year": exc.year}
    return {"deadline": due, "deadline_missing_year": None}


def recompute_missing_deadlines(session: Session, *, calendar: Calendar | None = None, limit: int = 5000) -> int:
    """Compute the deadlines that waited for a calendar year (admins added it since). Returns
    how many were filled in."""
    calendar = _calendar(session, calendar)
    filled = 0
    for application in session.scalars(sa.select(Application)
                                       .where(Application.deadline_missing_year.is_not(None)).limit(limit)):
        values = _deadline_values(calendar, application.accepted_on, application.promise_days,
                                  application.promise_unit, list(application.pauses or []))
        if values["deadline"] is not None:
            application.deadline = values["deadline"]
            application.deadline_missing_year = None
            filled += 1
    session.flush()
    return filled


# ---------------------------------------------------------------- reading

def get_by_number(session: Session, number: str) -> Application | None:
    return session.scalar(sa.select(Application).where(Application.number == number))


def lookup(session: Session, number: str, tail: str) -> Application:
    """The application ``number`` if ``tail`` is the last 4 characters of its applicant's ID
    number or mobile number; raises Invalid for malformed input.

    Raises ApplicationNotFound for an unknown number and for a wrong tail alike, after the same
    steps on both paths: one query by number for the two stored digests (id and phone tail),
    one keyed digest of ``tail`` bound to the number, and two constant-time comparisons (against
    a digest nobody can match where the number is unknown or has no such factor). Only a match
    loads the whole row, with a second query. The steps are equal by construction; their times
    are not checked by a test (``kiosk bench progress`` prints the wrong/unknown ratio)."""
    number = normalize_number(number)
    tail = normalize_tail(tail)
    keys = residents.data_keys()
    row = session.execute(sa.select(Application.id, Application.id_tail_digest, Application.phone_tail_digest)
                          .where(Application.number == number)).first()
    given = tail_digest(number, tail, keys=keys)
    # For an unknown number compare against digests nobody can match, doing the same work.
    id_digest = (row.id_tail_digest if row is not None else None) or "0" * 64
    phone_digest = (row.phone_tail_digest if row is not None else None) or "0" * 64
    matched = hmac.compare_digest(given, id_digest) | hmac.compare_digest(given, phone_digest)
    if row is None or not matched:
        raise ApplicationNotFound()
    return session.get(Application, row.id)


def owned_by(application: Application, resident) -> bool:
    """Whether ``resident`` (identity's Resident) is the applicant: the same ID number."""
    return bool(resident is not None and resident.id_number_hash and application.applicant_id_hash
                and hmac.compare_digest(resident.id_number_hash, application.applicant_id_hash))


def for_resident(session: Session, resident, *, limit: int = 50, offset: int = 0) -> list[Application]:
    """The resident's applications, newest first (matched by ID number)."""
    if resident is None or not resident.id_number_hash:
        return []
    return list(session.scalars(sa.select(Application)
                                .where(Application.applicant_id_hash == resident.id_number_hash)
                                .order_by(Application.received_at.desc(), Application.id.desc())
                                .limit(limit).offset(offset)))


def get_for_resident(session: Session, number: str, resident) -> Application:
    """The application ``number`` if it is the resident's; raises ApplicationNotFound if it is
    unknown or someone else's (the same answer), Invalid for a malformed number."""
    application = get_by_number(session, normalize_number(number))
    if application is None or not owned_by(application, resident):
        raise ApplicationNotFound()
    return application


def overdue(session: Session, *, today: date, limit: int = 100, offset: int = 0) -> list[Application]:
    """Open applications past their deadline whose clock runs, most overdue first."""
    return list(session.scalars(sa.select(Application)
                                .where(Application.state.in_([str(s) for s in states.OPEN]),
                                       Application.paused_since.is_(None),
                                       Application.deadline < today)
                                .order_by(Application.deadline, Application.id).limit(limit).offset(offset)))


def phone_of(application: Application) -> str | None:
    """The applicant's mobile number in clear, for an SMS notice (never logged)."""
    if not application.applicant_phone_encrypted:
        return None
    return residents.decrypt_phone(application.applicant_phone_encrypted)


RESENDABLE = ("rejected", "uncertain")


def resend_notice(session: Session, number: str, notice_id: int, *, actor, now=utcnow):
    """Send the SMS notice ``notice_id`` of application ``number`` again, once an admin has
    fixed what stopped it (credentials, balance, an approved template) or has checked that an
    uncertain text never arrived. Only a ``rejected`` or ``uncertain`` notice goes back to
    ``pending``, in one conditional UPDATE (two admins pressing at once resend once), with a
    new outbox message and an audit entry committed with it. Flushes.

    Raises NotFound for an unknown application or a notice of another one, Conflict when the
    notice is not rejected or uncertain (sent, skipped, or already waiting to be sent)."""
    from ..core import audit
    from .models import Notification

    application = get_by_number(session, number)
    notice = session.get(Notification, notice_id) if application is not None else None
    if notice is None or notice.application_id != application.id:
        raise NotFound("No such SMS notice of this application", "该办件没有这条短信通知")
    previous = notice.state
    changed = session.execute(
        sa.update(Notification)
        .where(Notification.id == notice.id, Notification.state.in_(RESENDABLE))
        .values(state="pending", last_error=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        session.refresh(notice)
        raise Conflict("Only a rejected or uncertain text can be sent again; this one is "
                       f"{notice.state}", f"只有发送失败或结果不明的短信可以重发，这条短信的状态是 {notice.state}")
    session.refresh(notice)
    outbox.enqueue(session, NOTIFY_TOPIC, {"event_id": notice.event_id},
                   key=f"event:{notice.event_id}:resend:{notice.attempts}", now=now)
    audit.record(session, actor=actor, action="applications.sms_resend", target=application.number,
                 details={"event_id": notice.event_id, "was": previous}, now=now)
    session.flush()
    return notice
