"""Bearer-token authentication for the staff parts of the JSON API."""
from __future__ import annotations

from flask import g, request

from ..core import actors
from ..core.errors import Unauthorized
from ..core.requests import client_ip, require_role
from ..extensions import db
from . import services

# RFC 9110: a 401 names the scheme that would have worked.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="kiosk-backend"'}


def require_staff(*roles: str):
    """A ``before_request`` hook: a valid bearer token of a staff member (401 otherwise),
    who then becomes ``g.staff`` / ``g.actor``; with ``roles``, one of them is required
    (:func:`~kiosk_backend.core.requests.require_role`, its 403 and messages)."""

    def hook():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>'.", "请在请求头中提供访问令牌（Authorization: Bearer）。",
                               headers=CHALLENGE)
        try:
            staff = services.authenticate_token(db.session, token.strip())
        except Unauthorized as exc:
            exc.headers = {**exc.headers, **CHALLENGE}
            raise
        g.staff = staff
        g.actor = actors.staff(staff.username, name=staff.display_name, ip=client_ip())
        if roles:
            require_role(*roles)

    return hook
