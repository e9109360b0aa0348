"""The request life cycle shared by every surface: who is asking, and one commit per request.

- ``client_ip()``: the caller's address (``request.remote_addr``).
- ``require_role(*roles)``: 403 unless the signed-in staff member has one of ``roles``.
- One commit per request: after the view (and after the blueprints' own after_request
  hooks, which Flask always runs first), a response below 400 is committed and anything
  else rolled back; a failing commit becomes the error response for that failure.
- ``independent_session()``: a tiny transaction of its own for records that must outlive
  a refused request (failed-login counts, usage counters).

Each surface's authentication hook sets ``g.actor`` (core.actors.Actor); views pass it
to services as ``actor=``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session

from ..extensions import db
from .errors import Forbidden, error_response

log = logging.getLogger(__name__)


def client_ip() -> str | None:
    return request.remote_addr


def require_role(*roles: str) -> None:
    """403 unless the staff member of this request has one of ``roles``."""
    staff = getattr(g, "staff", None)
    if staff is None or staff.role not in roles:
        if roles == ("admin",):
            raise Forbidden("Only administrators may do this.", "仅管理员可以进行此操作。")
        raise Forbidden("Your role may not do this.", "您的角色无权进行此操作。")


# ---------------------------------------------------------------- one commit per request

def _commit_or_rollback(response: Response) -> Response:
    """After every view: commit when the response is below 400, roll back otherwise.

    Views and before_request hooks never commit; services only flush. A failing commit
    (the database went away, a constraint caught a race) becomes the error response for
    that failure, so a client is never told "done" for something that was not saved.
    Then the writes queued with :func:`record_after_request` run.
    """
    response = _end_transaction(response)
    for write in g.pop("_records_after", ()):
        try:
            with independent_session() as side:
                write(side)
        except Exception:  # a record about the request must never change its answer
            log.warning("record after request failed", exc_info=True)
    return response


def _end_transaction(response: Response) -> Response:
    if not db.session.registry.has():
        return response  # the request never touched the session (a quick heartbeat, a static file)
    if response.status_code >= 400:
        _rollback_quietly()
        return response
    try:
        db.session.commit()
    except Exception as exc:
        _rollback_quietly()
        log.warning("commit failed: %s", exc.__class__.__name__)
        return error_response(exc)
    return response


def record_after_request(write: Callable[[Session], None]) -> None:
    """Run ``write(session)`` in a transaction of its own once this request's transaction has
    ended, committed or rolled back: for the record of a refusal (a refused activation, a
    failed login), which the refused request's rollback must not take with it. Waiting for
    the end also means it never waits on the request's own write lock (SQLite)."""
    g.setdefault("_records_after", []).append(write)


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:
        log.warning("rollback failed", exc_info=True)


@contextmanager
def independent_session() -> Iterator[Session]:
    """A short transaction of its own, committed whatever becomes of the request's.

    For the few records that must survive the request being rolled back or must not
    wait for it: usage counters, failed-login counts. Keep them tiny: on SQLite a second
    writer waits for the first (busy timeout).
    """
    session = Session(bind=db.engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def init_app(app: Flask) -> None:
    """Call after the other app-level ``after_request`` hooks are registered: Flask runs
    those last-registered first, so the commit happens before core.web adds its headers,
    and a replacement error response gets them too."""
    app.after_request(_commit_or_rollback)
