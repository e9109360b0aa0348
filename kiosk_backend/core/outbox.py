"""Transactional outbox: work for the outside world, committed with the change that causes it.

A service that must call a remote system (book a courier, notify a department, send an
SMS) does not call it. It adds a message with :func:`enqueue` in the same transaction as
its domain change; both are committed or neither is. After the commit, core.tasks relays
the new messages to the task queue, and a worker runs each one through the handler its
domain registered for the topic::

    @outbox.handler("courier.book")
    def book(payload: dict, *, key: str, session: Session) -> None:
        gateway.book(..., idempotency_key=key)   # the key makes a repeat harmless remotely

Guarantees a caller can rely on:

- one row per (topic, key): enqueueing the same key again returns the existing message;
- a message is claimed by ONE conditional UPDATE (pending and due, or running with an
  expired lease → running with a new lease), so a duplicate delivery does nothing;
- a failure counts an attempt, stores the error and schedules the next attempt with
  exponential backoff and jitter; after ``max_attempts`` the message is ``dead`` until
  an administrator retries it;
- a worker killed mid-job leaves a running message whose lease expires; the sweep hands
  it to the next worker. Handlers must therefore be idempotent towards remote systems
  (they get the key for that); their database writes commit with the ``done`` mark.

Core never imports domains: domains register their handlers when their ``jobs`` module
is imported (app.py lists them for core.tasks.init_app).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from . import audit, signals
from .actors import Actor
from .clock import utcnow
from .errors import Conflict, NotFound
from .states import Lifecycle

log = logging.getLogger(__name__)

class MessageState(StrEnum):
    PENDING = "pending"    # waiting for its (next) attempt
    RUNNING = "running"    # claimed by a worker until lease_until
    DONE = "done"
    DEAD = "dead"          # out of attempts; an admin may retry it


MESSAGE_LIFECYCLE = Lifecycle("outbox message", {
    MessageState.PENDING: {MessageState.RUNNING},
    MessageState.RUNNING: {MessageState.DONE, MessageState.PENDING, MessageState.DEAD, MessageState.RUNNING},
    MessageState.DONE: set(),
    MessageState.DEAD: {MessageState.PENDING},
})
PENDING, RUNNING, DONE, DEAD = MessageState
ERROR_LIMIT = 2000
RELAY_KEY = "outbox_relay_ids"  # session.info: ids to hand to the queue once committed


class OutboxMessage(db.Model):
    __tablename__ = "core_outbox"
    __table_args__ = (
        sa.UniqueConstraint("topic", "key"),
        sa.Index("ix_core_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_core_outbox_state_lease_until", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(ERROR_LIMIT))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.topic}:{self.key} {self.state} attempts={self.attempts}>"


# ------------------------------------------------------------------ handlers

class Handler(Protocol):
    def __call__(self, payload: dict, *, key: str, session: Session) -> None: ...


_handlers: dict[str, Handler] = {}


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register the function that performs messages of ``topic`` (one per topic)."""
    def register(fn: Handler) -> Handler:
        _handlers[topic] = fn
        return fn
    return register


def handler_for(topic: str) -> Handler | None:
    return _handlers.get(topic)


# ------------------------------------------------------------------ writing

def enqueue(session: Session, topic: str, payload: dict, *, key: str, now=utcnow) -> OutboxMessage:
    """Add a message to the session, to be committed with the caller's change.

    Enqueueing an existing (topic, key) returns the existing message and adds nothing;
    the unique constraint makes a concurrent duplicate fail its transaction.
    """
    existing = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == topic,
                                                             OutboxMessage.key == key))
    if existing is not None:
        return existing
    moment = now()
    message = OutboxMessage(topic=topic, key=key, payload=payload, state=PENDING, attempts=0,
                            next_attempt_at=moment, created_at=moment)
    session.add(message)
    return message


def relay_after_commit(session: Session, message_id: int) -> None:
    """Ask for ``message_id`` to be pushed to the queue when this session commits."""
    session.info.setdefault(RELAY_KEY, set()).add(message_id)


@sa.event.listens_for(Session, "after_flush")
def _collect_new_messages(session: Session, _context) -> None:
    for obj in session.new:
        if isinstance(obj, OutboxMessage):
            relay_after_commit(session, obj.id)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(RELAY_KEY, None)


def take_committed_ids(session: Session) -> list[int]:
    """The ids collected in the transaction that just committed (called by the relay)."""
    return sorted(session.info.pop(RELAY_KEY, ()))


# ------------------------------------------------------------------ running

@dataclass(frozen=True)
class Policy:
    """Retry policy, from KIOSK_JOB_* configuration."""

    max_attempts: int = 8
    backoff_base: float = 10.0
    backoff_cap: float = 3600.0
    lease_seconds: float = 300.0

    @classmethod
    def from_config(cls, config) -> Policy:
        return cls(max_attempts=int(config["KIOSK_JOB_MAX_ATTEMPTS"]),
                   backoff_base=float(config["KIOSK_JOB_BACKOFF_BASE_SECONDS"]),
                   backoff_cap=float(config["KIOSK_JOB_BACKOFF_CAP_SECONDS"]),
                   lease_seconds=float(config["KIOSK_JOB_LEASE_SECONDS"]))


@dataclass(frozen=True)
class Outcome:
    state: str                      # done, pending (retry later), dead, or "skipped"
    retry_in: float | None = None   # seconds until the next attempt, for a retry


SKIPPED = Outcome("skipped")


def backoff(attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with "equal jitter".

    The ceiling is ``min(cap, base * 2**(attempt-1))``; the delay is drawn from
    [ceiling/2, ceiling], so retries of many messages failing together spread out while
    the schedule still grows attempt by attempt.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + rand() * ceiling / 2


def _claimable(moment: datetime):
    return sa.or_(sa.and_(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= moment),
                  sa.and_(OutboxMessage.state == RUNNING, OutboxMessage.lease_until < moment))


def claim(session: Session, message_id: int, *, lease_seconds: float, now=utcnow) -> OutboxMessage | None:
    """Take the message for one attempt, or None if it is not claimable (done, dead, not
    due, or leased by a live worker). One conditional UPDATE, committed at once."""
    moment = now()
    result = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _claimable(moment))
        .values(state=RUNNING, attempts=OutboxMessage.attempts + 1,
                lease_until=moment + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.rollback()
        return None
    session.commit()
    return session.get(OutboxMessage, message_id)


def _finish(session: Session, message_id: int, attempt: int, **values) -> bool:
    """Write the result of attempt ``attempt`` unless the lease was lost to another worker."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == RUNNING, OutboxMessage.attempts == attempt)
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def run(session: Session, message_id: int, *, policy: Policy = Policy(), now=utcnow,
        rand: Callable[[], float] = random.random) -> Outcome:
    """Claim, perform and settle one message. Commits. Never raises for a handler error."""
    message = claim(session, message_id, lease_seconds=policy.lease_seconds, now=now)
    if message is None:
        log.info("outbox %s: not claimable, nothing to do", message_id)
        return SKIPPED
    attempt, topic, key, payload = message.attempts, message.topic, message.key, dict(message.payload)
    try:
        fn = handler_for(topic)
        if fn is None:
            raise LookupError(f"no handler registered for topic {topic!r}")
        fn(payload, key=key, session=session)
        session.flush()
    except Exception as exc:
        session.rollback()
        log.warning("outbox %s %s:%s attempt %s failed: %s", message_id, topic, key, attempt, exc)
        return _failed(session, message_id, attempt, exc, policy=policy, now=now, rand=rand)
    if not _finish(session, message_id, attempt, state=DONE, done_at=now(), last_error=None):
        session.rollback()  # our lease expired and another worker took over: its result counts
        log.warning("outbox %s: lease lost during attempt %s; result discarded", message_id, attempt)
        return SKIPPED
    try:
        session.commit()
    except Exception as exc:
        session.rollback()
        log.warning("outbox %s %s:%s attempt %s could not commit: %s", message_id, topic, key, attempt, exc)
        return _failed(session, message_id, attempt, exc, policy=policy, now=now, rand=rand)
    return Outcome(DONE)


def _failed(session: Session, message_id: int, attempt: int, exc: BaseException, *, policy: Policy, now,
            rand) -> Outcome:
    error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    if attempt >= policy.max_attempts:
        outcome = Outcome(DEAD)
        settled = _finish(session, message_id, attempt, state=DEAD, last_error=error)
        if settled:
            _announce_dead(session, message_id, error)
    else:
        delay = backoff(attempt, base=policy.backoff_base, cap=policy.backoff_cap, rand=rand)
        outcome = Outcome(PENDING, delay)
        settled = _finish(session, message_id, attempt, state=PENDING, last_error=error,
                          next_attempt_at=now() + timedelta(seconds=delay))
    session.commit()
    return outcome if settled else SKIPPED


def _announce_dead(session: Session, message_id: int, error: str) -> None:
    """Tell the domains (core.signals.outbox_message_dead), in the transaction that marks it."""
    topic, key = session.execute(sa.select(OutboxMessage.topic, OutboxMessage.key)
                                 .where(OutboxMessage.id == message_id)).one()
    signals.outbox_message_dead.send(message_id, session=session, topic=topic, key=key, error=error)


# ------------------------------------------------------------------ upkeep

def sweep(session: Session, *, policy: Policy = Policy(), grace_seconds: float = 60, now=utcnow,
          limit: int = 1000) -> list[int]:
    """Ids to hand to the queue again: pending messages due for ``grace_seconds`` (their
    relay was lost: crash after commit, queue down) and running messages whose lease
    expired (worker killed). A message whose lease expired on its last attempt is dead.
    Commits."""
    moment = now()
    expired = sa.and_(OutboxMessage.state == RUNNING, OutboxMessage.lease_until < moment)
    lost = "worker lost during the last attempt (lease expired)"
    died = session.execute(
        sa.update(OutboxMessage)
        .where(expired, OutboxMessage.attempts >= policy.max_attempts)
        .values(state=DEAD, lease_until=None, last_error=lost)
        .returning(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key)
        .execution_options(synchronize_session=False)).all()
    for message_id, topic, key in died:
        signals.outbox_message_dead.send(message_id, session=session, topic=topic, key=key, error=lost)
    overdue = sa.and_(OutboxMessage.state == PENDING,
                      OutboxMessage.next_attempt_at <= moment - timedelta(seconds=grace_seconds))
    ids = list(session.scalars(sa.select(OutboxMessage.id).where(sa.or_(overdue, expired))
                               .order_by(OutboxMessage.id).limit(limit)))
    session.commit()
    return ids


def purge_done(session: Session, *, older_than: timedelta, now=utcnow) -> int:
    """Delete messages done before ``now - older_than``. Commits."""
    result = session.execute(sa.delete(OutboxMessage).where(OutboxMessage.state == DONE,
                                                            OutboxMessage.done_at < now() - older_than))
    session.commit()
    return result.rowcount


def troubled(session: Session, *, limit: int = 200) -> list[OutboxMessage]:
    """Dead messages, then messages that failed at least once and wait for a retry."""
    failing = sa.or_(OutboxMessage.state == DEAD,
                     sa.and_(OutboxMessage.state.in_((PENDING, RUNNING)), OutboxMessage.last_error.is_not(None)))
    order = sa.case((OutboxMessage.state == DEAD, 0), else_=1)
    return list(session.scalars(sa.select(OutboxMessage).where(failing)
                                .order_by(order, OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)))


def retry(session: Session, message_id: int | None, *, actor: Actor | str, now=utcnow) -> OutboxMessage:
    """Give a dead message a fresh set of attempts, now. Audited; relayed on commit.

    Raises NotFound, Conflict (the message is not dead).
    """
    message = session.get(OutboxMessage, message_id) if message_id is not None else None
    if message is None:
        raise NotFound("No such message.", "没有找到该消息。")
    details = {"topic": message.topic, "key": message.key, "attempts": message.attempts,
               "last_error": (message.last_error or "")[:200]}
    # One conditional UPDATE: two admins pressing retry at once start it once.
    if not MESSAGE_LIFECYCLE.advance(session, OutboxMessage, message.id, PENDING, where=[OutboxMessage.state == DEAD],
                                     attempts=0, next_attempt_at=now(), lease_until=None):
        raise Conflict("Only dead messages can be retried.", "只能重试已停止重试的消息。")
    audit.record(session, actor=actor, action="outbox.retry", target=f"outbox:{message.id}", details=details, now=now)
    session.flush()
    session.refresh(message)
    relay_after_commit(session, message.id)
    return message
