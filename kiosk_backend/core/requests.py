"""The request life cycle shared by every surface: who is asking, and one commit per request.

- ``client_ip()``: the caller's address (``request.remote_addr``; a proxy in front is
  trusted only through werkzeug's ProxyFix, configured by KIOSK_PROXY_COUNT).
- ``current_actor()``: the Actor the surface's authentication hook set on ``g.actor``.
- ``require_role(*roles)``: 403 unless the signed-in staff member has one of ``roles``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session

from ..extensions import db
from .actors import Actor
from .errors import Forbidden, Unauthorized, error_response

log = logging.getLogger(__name__)


def client_ip() -> str | None:
    return request.remote_addr


def current_actor() -> Actor:
    """The authenticated actor of this request. Raises Unauthorized if the surface set none."""
    actor = getattr(g, "actor", None)
    if actor is None:
        raise Unauthorized("Please sign in first.", "请先登录。")
    return actor


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
    """
    session = db.session
    if response.status_code >= 400:
        _rollback_quietly()
        return response
    try:
        session.commit()
    except Exception as exc:
        _rollback_quietly()
        log.warning("commit failed: %s", exc.__class__.__name__)
        return error_response(exc)
    return response


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
    """Call after every other ``after_request`` hook is registered: Flask runs them
    last-registered first, so the commit happens before the others add their headers,
    and a replacement error response gets them too."""
    app.after_request(_commit_or_rollback)
