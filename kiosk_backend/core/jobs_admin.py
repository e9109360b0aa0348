"""Admin console page /admin/jobs: outbox messages that fail or are dead; retry the dead."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from ..extensions import db
from . import outbox
from .requests import require_role
from .web import db_id

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.before_request
def _admins_only():
    require_role("admin")


@bp.get("/")
def page():
    """Dead messages first, then those waiting for another attempt."""
    return render_template("admin/jobs.html", messages=outbox.troubled(db.session))


@bp.post("/retry")
def retry():
    """Give a dead message a fresh set of attempts (audited); the request's commit relays it."""
    outbox.retry(db.session, request.form.get("message_id", type=db_id), actor=g.actor)
    return redirect(url_for("admin.jobs.page"))
