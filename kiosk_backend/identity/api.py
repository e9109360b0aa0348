"""Bearer-token authentication for the staff parts of the JSON API."""
from __future__ import annotations

from flask import g, request

from ..core import actors
from ..core.errors import Forbidden, Unauthorized
from ..core.requests import client_ip
from ..extensions import db
from . import services


def require_staff(*roles: str):
    """A ``before_request`` hook: a valid bearer token of a staff member with one of ``roles``."""

    def hook():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>'.", "请在请求头中提供访问令牌（Authorization: Bearer）。")
        staff = services.authenticate_token(db.session, token.strip())
        if roles and staff.role not in roles:
            raise Forbidden("Your role may not do this.", "您的角色无权进行此操作。")
        g.staff = staff
        g.actor = actors.staff(staff.username, name=staff.display_name, ip=client_ip())

    return hook
