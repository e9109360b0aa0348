"""Health check for load balancers and monitoring.

200 ``{"status": "ok", "database": <dialect>}`` only when the database answers *and*
accepts writes; a read-only database (a PostgreSQL replica or
``default_transaction_read_only``, an SQLite file opened read-only or ``query_only``) is
503 ``{"status": "not-ready", "reason": "database is read-only"}`` with Retry-After, so a
load balancer stops sending kiosks to a server that would fail every heartbeat. A database
that does not answer raises, and the error handlers turn that into 503 + Retry-After too.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..extensions import db
from .database import accepts_writes
from .errors import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    if not accepts_writes(db.session):
        response = jsonify(status="not-ready", reason="database is read-only")
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return jsonify(status="ok", database=db.engine.dialect.name)


