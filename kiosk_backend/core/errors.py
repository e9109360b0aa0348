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
from flask_smorest.utils import prepare_response
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from .i18n import describe_validation_errors, http_message

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A failure a caller can act on. Subclasses fix the HTTP status."""

    status_code = 400

    def __init__(self, message: str, message_zh: str, *, errors: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh
        self.errors = errors or {}
        self.headers = headers or {}  # sent with the response (WWW-Authenticate on a 401)


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
    """The error payload, for the OpenAPI document: every error response has all five fields."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, in English"})
    message_zh = ma.fields.String(required=True, metadata={"description": "What went wrong, in Chinese"})
    errors = ma.fields.Dict(required=True, metadata={
        "description": "Details: per location and field for invalid input ({\"json\": {\"seq\": [...]}}), "
                       "per line for an import ({\"problems\": [...]}); empty otherwise"})


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                "required": True, "schema": {"type": "integer", "minimum": 0}}}

# The error statuses the JSON API really gives, as component responses (#/components/responses/<NAME>)
# in the one error shape; operations list theirs with documented_errors().
ERROR_RESPONSES: dict[int, tuple[str, str, dict]] = {
    400: ("BAD_REQUEST", "The body is not well-formed JSON where JSON is expected, or is JSON no parser "
                         "here takes (nested too deep, over-long numbers, NaN), or a value is out of the "
                         "range the database can store.", {}),
    401: ("UNAUTHORIZED", "No valid credential: missing, unknown, expired or revoked.",
          {"WWW-Authenticate": {"description": "The scheme to authenticate with: Bearer (staff), Kiosk, Resident, KIOSK-HMAC-SHA256 (departments) or Carrier-Signature (carriers)",
                                "required": True, "schema": {"type": "string"}}}),
    403: ("FORBIDDEN", "The credential is valid but not allowed here: a kiosk waiting for an administrator "
                       "to authorize it, a staff member without the role, or a QR login code another "
                       "resident opened first.", {}),
    404: ("NOT_FOUND", "No such resource.", {}),
    409: ("CONFLICT", "Conflicts with the current state (a duplicate, an expired command, a revoked kiosk) "
                      "or with a change made at the same time; read again and retry.", {}),
    410: ("GONE", "The thing exists but can no longer be used (a QR login code that expired, was denied or "
                  "was used): ``errors.state`` says which.", {}),
    413: ("REQUEST_ENTITY_TOO_LARGE", "The body is larger than the server accepts: KIOSK_MAX_JSON_KB for a "
                                      "JSON body, KIOSK_MAX_UPLOAD_MB for an upload.", {}),
    422: ("UNPROCESSABLE_ENTITY", "Invalid input: ``errors`` names every problem by location and field.", {}),
    429: ("TOO_MANY_REQUESTS", "Too many requests from this kiosk or address; wait Retry-After seconds.",
          _RETRY_AFTER),
    503: ("SERVICE_UNAVAILABLE", "The database is unreachable or busy; retry after Retry-After seconds.",
          _RETRY_AFTER),
}


def documented_errors(blp, *codes: int):
    """Decorator listing the error responses an operation really gives (keys of ERROR_RESPONSES),
    each a reference to its component response in the error shape."""

    def decorator(func):
        for code in codes:
            func = blp.alt_response(code, response=ERROR_RESPONSES[code][0])(func)
        return func

    return decorator


def _validator_properties(converter, field, ret: dict, **kwargs) -> dict:
    """What a hand-written validator declares for the document: a validator function with an
    ``openapi`` dict (``_plain_text.openapi = {"pattern": ...}``) adds those properties, so a
    rule the schema checks is one a client can read (and schemathesis generates by).

    Text in a ``core.payloads.Schema`` may not hold NUL (refused with 422): its string fields
    get that as their pattern unless a stricter one or an enum already says more. (Unpaired
    surrogates are refused too, but JSON Schema patterns cannot express them.)
    """
    from .payloads import Schema as SafeSchema  # payloads imports this module

    properties: dict = {}
    for validator in field.validators:
        properties.update(getattr(validator, "openapi", None) or {})
    if (isinstance(field, ma.fields.String) and isinstance(field.root, SafeSchema)
            and "pattern" not in ret and "pattern" not in properties and "enum" not in ret):
        properties["pattern"] = NO_NUL_PATTERN
    return properties


NO_NUL_PATTERN = "^[^\\u0000]*$"


class KioskApi(Api):
    """flask-smorest Api whose errors use our shape for JSON and HTML surfaces alike.

    The OpenAPI document lists only the statuses an operation really gives (no catch-all
    ``default`` response): ``documented_errors`` on each operation, 422 from ``arguments``.
    A string field whose ``metadata`` has ``enum_from="<key>"`` is documented with an
    ``enum`` of the names in ``app.extensions[<key>]`` (the device profiles an app loaded);
    a validator function's ``openapi`` properties are documented too (_validator_properties).
    """

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def init_app(self, app: Flask, *, spec_kwargs: dict | None = None) -> None:
        super().init_app(app, spec_kwargs=spec_kwargs)

        def enum_from_app(converter, field, **kwargs) -> dict:
            key = field.metadata.get("enum_from")
            if key is None:
                return {}
            names: list[Any] = sorted(app.extensions[key])
            return {"enum": [*names, None] if field.allow_none else names}

        self.ma_plugin.converter.add_attribute_function(enum_from_app)
        self.ma_plugin.converter.add_attribute_function(_validator_properties)

    def _register_responses(self):
        super()._register_responses()
        # Our descriptions and headers replace flask-smorest's bare status phrases.
        for name, description, headers in ERROR_RESPONSES.values():
            self.spec.components.responses_lazy.pop(name, None)
            response = {"description": description, "schema": self.ERROR_SCHEMA, **({"headers": headers} if headers else {})}
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(name, response, lazy=True)

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


# The HTML surfaces and the template of their error page; anything else gets JSON.
SURFACE_ERROR_TEMPLATES = {"kiosk": "kiosk/error.html", "mobile": "mobile/error.html", "admin": "admin/error.html"}
_SURFACE_PREFIXES = (("/kiosk", "kiosk"), ("/m/", "mobile"), ("/admin", "admin"))


def surface() -> str:
    """The surface of the current request: the root blueprint of its endpoint ("kiosk",
    "mobile", "admin"), or, for a URL that matched no route, its path prefix; "api" else."""
    names = request.blueprints
    if names and names[-1] in SURFACE_ERROR_TEMPLATES:
        return names[-1]
    path = request.path
    if path == "/m":
        return "mobile"
    for prefix, name in _SURFACE_PREFIXES:
        if path.startswith(prefix):
            return name
    return "api"


def _respond(payload: dict, headers: dict | None = None) -> Response:
    code = payload["code"]
    template = SURFACE_ERROR_TEMPLATES.get(surface())
    if template is not None:
        try:
            html = render_template(template, error=payload)
        except Exception:  # never let the error page itself turn a 4xx into a 500
            log.exception("error page %s failed to render", template)
            html = _bare_error_page(payload)
        resp = Response(html, status=code, mimetype="text/html")
    else:
        resp = jsonify(payload)
        resp.status_code = code
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _bare_error_page(payload: dict) -> str:
    """Last resort when the surface's page cannot render (its template needs something that
    is broken): still both languages and a way back to the start."""
    home = {"kiosk": "/kiosk/", "admin": "/admin/", "mobile": "/m/"}.get(surface(), "/")
    return ('<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{code}</title>'
            '<h1>{zh}</h1><p lang="en">{en}</p><p><a href="{home}">返回首页 / Home</a></p></html>').format(
        code=payload["code"], zh=escape(payload["message_zh"]), en=escape(payload["message"]), home=home)


def handle_domain_error(error: DomainError) -> Response:
    return _respond(error_payload(error.status_code, error.message, error.message_zh, error.errors), error.headers)


def handle_http_exception(error: HTTPException) -> Response:
    data: dict[str, Any] = getattr(error, "data", None) or {}
    code = error.code or 500
    errors = data.get("errors") or data.get("messages") or {}
    if errors and code in (400, 422):
        message, message_zh = describe_validation_errors(errors)
    else:
        message, message_zh = http_message(code, data.get("message"))
    # The exception's own headers (Allow on a 405, WWW-Authenticate, Retry-After), then any
    # a flask-smorest abort() carried; the body is ours, so not its Content-Type.
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return _respond(error_payload(code, message, message_zh, errors), headers)


def handle_database_error(error: sa_exc.DBAPIError | sa_exc.TimeoutError) -> Response:
    """Database outages become 503 + Retry-After; other database errors are bugs (500).

    An outage is a refused or dropped connection, a timeout, or an SQLite database locked
    beyond its busy timeout: all pass, so the client should retry. The engine uses
    ``pool_pre_ping``, so the request after the database returns gets a fresh connection:
    no restart needed. The request's transaction is rolled back by core.requests.
    """
    if isinstance(error, sa_exc.DataError):
        # The database refused a value (out of range, malformed) that a schema let through:
        # the client's input, so a 400 — and a bug to fix in that schema, hence the log.
        log.warning("database refused a value: %s", str(error.orig).splitlines()[0][:200])
        return _respond(error_payload(400, "A value is out of range or malformed.", "输入的值超出范围或格式不正确。"))
    if not is_outage(error):
        return handle_unexpected(error)
    log.error("database unavailable: %s", error.__class__.__name__)
    payload = error_payload(
        503,
        "The service is temporarily unavailable. Please try again shortly or ask at the counter.",
        "服务暂时不可用，请稍后再试或到服务台咨询。",
    )
    return _respond(payload, {"Retry-After": str(RETRY_AFTER_SECONDS)})


def is_outage(error: sa_exc.DBAPIError | sa_exc.TimeoutError) -> bool:
    """Whether a database error means "not reachable now" rather than "bad statement"."""
    if isinstance(error, sa_exc.TimeoutError) or getattr(error, "connection_invalidated", False):
        return True  # no pooled connection came free in time, or the connection dropped
    if isinstance(error, sa_exc.InterfaceError):
        return True
    if isinstance(error, sa_exc.OperationalError):
        if type(error.orig).__module__.startswith("sqlite3"):
            # SQLite reports missing tables as OperationalError too: those are bugs.
            text = str(error.orig).lower()
            return any(word in text for word in _SQLITE_OUTAGES)
        return True  # psycopg: connection refused/lost, statement or lock timeout
    return False


_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o", "readonly", "disk is full")


def error_response(error: Exception) -> Response:
    """The error response for any exception, as the registered handlers would give it."""
    if isinstance(error, DomainError):
        return handle_domain_error(error)
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if isinstance(error, sa_exc.IntegrityError):
        return handle_integrity_error(error)
    if isinstance(error, (sa_exc.DBAPIError, sa_exc.TimeoutError)):
        return handle_database_error(error)
    return handle_unexpected(error)


def handle_integrity_error(error: sa_exc.IntegrityError) -> Response:
    """A constraint caught a race that the service's checks could not see: 409, whether it
    surfaced when a service flushed (PostgreSQL checks unique indexes at INSERT) or when
    core committed."""
    log.warning("integrity error: %s", error.orig.__class__.__name__ if error.orig is not None else "")
    return _respond(error_payload(409, "This conflicts with a change made at the same time; please try again.",
                                  "与同时进行的另一操作冲突，请重试。"))


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error", exc_info=error)
    payload = error_payload(500, *http_message(500, None))
    return _respond(payload)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(sa_exc.IntegrityError, handle_integrity_error)
    app.register_error_handler(sa_exc.DBAPIError, handle_database_error)
    app.register_error_handler(sa_exc.TimeoutError, handle_database_error)
    app.register_error_handler(InternalServerError, handle_http_exception)
