"""Domain errors and the one error shape.

Every error a client sees, JSON or HTML, comes from here:

    {"code": 409, "status": "Conflict", "message": "...", "message_zh": "...", "errors": {...}}

Services raise :class:`DomainError` subclasses; they never build responses. Validation
errors from webargs/marshmallow are translated field by field (see ``core.i18n``).
"""
from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
import sqlalchemy.exc as sa_exc
from flask import Flask, Response, jsonify, render_template, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from .i18n import describe_validation_errors, http_message

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A failure a caller can act on. Subclasses fix the HTTP status."""

    status_code = 400

    def __init__(self, message: str, message_zh: str, *, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh
        self.errors = errors or {}


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    """Input that passed the schema but breaks a domain rule (422)."""

    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class ErrorSchema(ma.Schema):
    """The error payload, for the OpenAPI document."""

    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status name"})
    message = ma.fields.String(metadata={"description": "What went wrong, in English"})
    message_zh = ma.fields.String(metadata={"description": "What went wrong, in Chinese"})
    errors = ma.fields.Dict(metadata={"description": "Per-field details"})


class KioskApi(Api):
    """flask-smorest Api whose errors use our shape for JSON and HTML surfaces alike."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # Registered by register_error_handlers() instead: one handler for every surface.
        pass


def error_payload(code: int, message: str, message_zh: str, errors: dict | None = None) -> dict:
    return {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message,
        "message_zh": message_zh,
        "errors": errors or {},
    }


def _wants_html() -> bool:
    path = request.path
    return path.startswith("/kiosk") or path.startswith("/m/") or path == "/m"


def _respond(payload: dict, headers: dict | None = None) -> Response:
    code = payload["code"]
    if _wants_html():
        try:
            html = render_template("error.html", error=payload)
        except Exception:  # never let the error page itself turn a 4xx into a 500
            log.exception("error page failed to render")
            html = f"<h1>{payload['code']} {payload['message_zh']}</h1>"
        resp = Response(html, status=code, mimetype="text/html")
    else:
        resp = jsonify(payload)
        resp.status_code = code
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def handle_domain_error(error: DomainError) -> Response:
    return _respond(error_payload(error.status_code, error.message, error.message_zh, error.errors))


def handle_http_exception(error: HTTPException) -> Response:
    data: dict[str, Any] = getattr(error, "data", None) or {}
    code = error.code or 500
    errors = data.get("errors") or data.get("messages") or {}
    if errors and code in (400, 422):
        message, message_zh = describe_validation_errors(errors)
    else:
        message, message_zh = http_message(code, data.get("message"))
    headers = dict(data.get("headers") or {})
    return _respond(error_payload(code, message, message_zh, errors), headers)


def handle_database_unavailable(error: sa_exc.DBAPIError) -> Response:
    """Connection-level database failures become 503 + Retry-After.

    The engine uses ``pool_pre_ping`` so the next request after the database returns gets
    a fresh connection: no restart needed.
    """
    if not _is_connection_error(error):
        return handle_unexpected(error)
    log.error("database unavailable: %s", error.__class__.__name__)
    from ..extensions import db  # core may use the shared session handle

    db.session.rollback()
    payload = error_payload(
        503,
        "The service is temporarily unavailable. Please try again shortly or ask at the counter.",
        "服务暂时不可用，请稍后再试或到服务台咨询。",
    )
    return _respond(payload, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def _is_connection_error(error: sa_exc.DBAPIError) -> bool:
    if getattr(error, "connection_invalidated", False):
        return True
    if isinstance(error, sa_exc.OperationalError):
        text = str(error.orig).lower()
        # SQLite lock contention is an OperationalError too but not an outage.
        return "locked" not in text
    return isinstance(error, sa_exc.InterfaceError)


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    payload = error_payload(500, *http_message(500, None))
    return _respond(payload)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_unavailable)
    app.register_error_handler(InternalServerError, handle_http_exception)
