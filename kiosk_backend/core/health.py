"""Health check for load balancers and monitoring: 200 when the database answers."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify

from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    # A failing query raises a DBAPIError, which the error handlers turn into 503 + Retry-After.
    db.session.execute(sa.text("SELECT 1"))
    return jsonify(status="ok", database=db.engine.dialect.name)
