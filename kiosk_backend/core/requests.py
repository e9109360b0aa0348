"""The request life cycle shared by every surface: who is asking, and one commit per request.

- ``client_ip()``: the caller's address (``request.remote_addr``; a proxy in front is
  trusted only through werkzeug's ProxyFix, configured by KIOSK_PROXY_COUNT).
- ``current_actor()``: the Actor the surface's authentication hook set on ``g.actor``.
- ``require_role(*roles)``: 403 unless the signed-in staff member has one of ``roles``.
"""
from __future__ import annotations

from flask import g, request

from .actors import Actor
from .errors import Forbidden, Unauthorized


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
