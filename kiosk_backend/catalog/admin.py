"""Admin console page of the catalog: import a file."""
from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from ..core.errors import Invalid
from ..core.requests import require_role
from ..extensions import db
from . import services
from .importer import import_limits, source_name

bp = Blueprint("catalog", __name__)


@bp.route("/catalog/import", methods=["GET", "POST"])
def import_page():
    require_role("admin")
    if request.method == "GET":
        return render_template("admin/catalog_import.html", report=None, error=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("admin/catalog_import.html", report=None,
                               error=Invalid("Choose a file.", "请选择要导入的文件。")), 422
    dry_run, skip_invalid = request.form.get("dry_run") == "1", request.form.get("skip_invalid") == "1"
    try:
        checked = services.check_file(upload.stream, filename=upload.filename, **import_limits(current_app.config))
    except Invalid as exc:
        return render_template("admin/catalog_import.html", report=None, error=exc), 422
    result = services.import_items(db.session, checked, actor=g.actor, source=source_name(upload.filename),
                                   dry_run=dry_run, skip_invalid=skip_invalid)
    report = result.report()
    status = 422 if checked.problems and not result.written and not dry_run else 200
    return render_template("admin/catalog_import.html", report=report, error=None, filename=upload.filename), status
