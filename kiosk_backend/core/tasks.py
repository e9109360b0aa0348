"""The task queue (Huey) that runs outbox messages and periodic jobs.

- :func:`init_app` creates the app's Huey on ``app.extensions["huey"]``: SqliteHuey in
  ``instance/tasks.db`` (the embedded default), RedisHuey when KIOSK_REDIS_URL is set
  (workers on several hosts share the queue). It imports the domains' ``jobs`` modules
  app.py names, so their outbox handlers and periodic jobs are registered.
- The relay: when a database session commits, the outbox messages added (or retried) in
  that transaction are pushed to the queue. If the process dies between the commit and
  the push, or the queue is down, the periodic sweep pushes them later.
- :func:`periodic` registers a periodic job: ``fn(session, config)`` run every ``every``
  by the worker inside an app context; core commits after it returns (as for a request).

Huey ticks its periodic scheduler once a minute, so ``every`` is whole minutes. With
workers on several hosts each scheduler enqueues the job: periodic jobs are idempotent,
or run the periodic scheduler on one host only (``kiosk worker --no-periodic`` elsewhere).
"""
from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from sqlalchemy.orm import Session

from ..extensions import db
from . import idempotency, outbox, signing

log = logging.getLogger(__name__)

PACKAGE = __name__.rsplit(".", 2)[0]  # kiosk_backend


# ------------------------------------------------------------------ periodic registry

@dataclass(frozen=True)
class Periodic:
    name: str
    fn: Callable[[Session, Mapping[str, Any]], Any]
    every: timedelta

    @property
    def minutes(self) -> int:
        return max(1, int(self.every.total_seconds() // 60))

    def is_due(self, moment: datetime) -> bool:
        """Due on every ``minutes``-th minute since the epoch (UTC); Huey asks once a minute."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() // 60) % self.minutes == 0


_periodic: dict[str, Periodic] = {}


def periodic(name: str, *, every: timedelta):
    """Register ``fn(session, config)`` to run every ``every`` (whole minutes) in the worker."""
    def register(fn):
        _periodic[name] = Periodic(name, fn, every)
        return fn
    return register


def periodic_jobs() -> dict[str, Periodic]:
    return dict(_periodic)


# ------------------------------------------------------------------ core's own jobs

@periodic("outbox.sweep", every=timedelta(minutes=1))
def sweep_outbox(session: Session, config: Mapping[str, Any]) -> int:
    """Push again what the relay lost and what killed workers left behind."""
    ids = outbox.sweep(session, policy=outbox.Policy.from_config(config),
                       grace_seconds=config["KIOSK_OUTBOX_SWEEP_GRACE_SECONDS"])
    if ids:
        log.info("outbox sweep: re-enqueueing %s message(s)", len(ids))
        relay(ids)
    return len(ids)


@periodic("outbox.purge", every=timedelta(hours=1))
def purge_outbox(session: Session, config: Mapping[str, Any]) -> int:
    """Delete messages done more than KIOSK_OUTBOX_KEEP_DAYS ago."""
    return outbox.purge_done(session, older_than=timedelta(days=config["KIOSK_OUTBOX_KEEP_DAYS"]))


@periodic("signing.purge_nonces", every=timedelta(hours=1))
def purge_nonces(session: Session, config: Mapping[str, Any]) -> int:
    """Forget nonces of signed requests whose timestamps can no longer pass verification."""
    return signing.purge_expired_nonces(session)


@periodic("idempotency.purge", every=timedelta(hours=1))
def purge_idempotency_keys(session: Session, config: Mapping[str, Any]) -> int:
    """Forget Idempotency-Keys kept longer than KIOSK_IDEMPOTENCY_HOURS (at least 24 h)."""
    return idempotency.purge_expired(session)


# ------------------------------------------------------------------ the queue

def make_huey(config: Mapping[str, Any], instance_path: str) -> Huey:
    """RedisHuey when KIOSK_REDIS_URL is set, else SqliteHuey in ``instance/tasks.db``."""
    name = config["KIOSK_QUEUE_NAME"]
    if config.get("KIOSK_REDIS_URL"):
        # Timeouts: the relay pushes from inside a request, which must not hang on a Redis
        # that stopped answering (the sweep re-sends what a failed push lost). The socket
        # timeout stays above the consumer's 1 s blocking read.
        pool = redis.ConnectionPool.from_url(config["KIOSK_REDIS_URL"], socket_connect_timeout=1, socket_timeout=5)
        return RedisHuey(name, connection_pool=pool, results=False, utc=True)
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(Path(instance_path) / "tasks.db"), results=False, utc=True)


def _in_app_context(app: Flask, fn: Callable) -> Callable:
    """Huey runs plain functions in worker threads; ours need the app and a fresh session."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with app.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()
    return wrapper


def _run_message(message_id: int):
    """Queue task: run one outbox message; schedule its retry on failure."""
    result = outbox.run(db.session, message_id, policy=outbox.Policy.from_config(current_app.config))
    if result.retry_in is not None:
        current_app.extensions["outbox_task"].schedule(args=(message_id,), delay=result.retry_in)
    return result.state


def _run_periodic(job: Periodic) -> Callable[[], Any]:
    def run():
        try:
            result = job.fn(db.session, current_app.config)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("periodic job %s failed", job.name)
            raise
        log.info("periodic job %s: %s", job.name, result)
        return result
    run.__name__ = f"periodic_{job.name.replace('.', '_')}"
    return run


def init_app(app: Flask, *, jobs: Iterable[str] = ()) -> Huey:
    """Create the app's queue and register the outbox task and every periodic job.

    ``jobs`` names the domains' job modules relative to the package ("fleet.jobs"): importing
    them registers their outbox handlers and periodic jobs (core never imports a domain).
    """
    for module in jobs:
        importlib.import_module(f"{PACKAGE}.{module}")
    huey = make_huey(app.config, app.instance_path)
    if app.config.get("KIOSK_TASKS_IMMEDIATE"):
        huey.immediate = True  # run tasks inline, in memory (tests and debugging)
    app.extensions["huey"] = huey
    app.extensions["outbox_task"] = huey.task(name="outbox.run")(_in_app_context(app, _run_message))
    app.extensions["periodic_tasks"] = {
        job.name: huey.periodic_task(job.is_due, name=f"periodic.{job.name}")(
            _in_app_context(app, _run_periodic(job)))
        for job in _periodic.values()
    }
    return huey


def relay(ids: Iterable[int]) -> int:
    """Push outbox messages to the queue of the current app; returns how many were pushed.

    A failure to push is logged, not raised: the message is committed and the sweep will
    push it later.
    """
    task = current_app.extensions.get("outbox_task") if has_app_context() else None
    if task is None:
        log.warning("outbox: no queue in this context; the sweep will deliver %s", list(ids))
        return 0
    pushed = 0
    for message_id in ids:
        try:
            task(message_id)
            pushed += 1
        except Exception:
            log.exception("outbox: could not push message %s; the sweep will", message_id)
    return pushed


@sa.event.listens_for(Session, "after_commit")
def _relay_committed(session: Session) -> None:
    ids = outbox.take_committed_ids(session)
    if ids:
        relay(ids)
