"""Phone pages of the catalog: the guide a printed QR code opens."""
from __future__ import annotations

from flask import Blueprint, render_template

from ..extensions import db
from . import services

bp = Blueprint("catalog", __name__)


@bp.get("/items/<string:task_code>")
def item(task_code):
    guide = services.guide_of(db.session, services.get_item(db.session, task_code))
    return render_template("mobile/guide.html", guide=guide)
