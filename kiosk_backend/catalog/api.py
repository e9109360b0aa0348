"""JSON API of the catalog: search, guides, browsing; import and synonyms for admins."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app, g, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload

from ..core import ratelimit
from ..core.errors import Invalid, documented_errors
from ..core.payloads import Schema
from ..extensions import db
from ..identity.api import require_staff
from . import schemas, services
from .importer import import_limits, source_name

blp = Blueprint("catalog", __name__, url_prefix="/api/v1/catalog",
                description="Service items (政务服务事项), guides (办事指南), themes, departments, bundles")


@blp.get("/items")
@ratelimit.catalog_search
@blp.arguments(schemas.SearchArgs(), location="query")
@blp.response(200, schemas.SearchResult)
@documented_errors(blp, 429, 503)
def search_items(args):
    """Search items best first, or browse with filters when ``q`` is empty.

    Understands two-character words, abbreviations and colloquial phrases (synonym
    dictionary), pinyin initials and full pinyin, traditional characters and common
    miswritings. When nothing matches, ``popular`` and ``help`` say where to go next.
    """
    # The hottest endpoint: summaries are plain dicts built with exactly the SearchResult
    # fields (tests/catalog/test_api.py checks that), so they skip a marshmallow dump.
    return jsonify(services.search(db.session, **args))


@blp.get("/suggest")
@ratelimit.catalog_search
@blp.arguments(schemas.SuggestArgs(), location="query")
@blp.response(200, schemas.SuggestResult)
@documented_errors(blp, 429, 503)
def suggest(args):
    """Item names for search-as-you-type."""
    return {"suggestions": services.suggest(db.session, **args)}


@blp.get("/items/<string:task_code>")
@blp.response(200, schemas.ItemGuide)
@documented_errors(blp, 404, 503)
def get_item(task_code):
    """The whole guide (办事指南) of one item."""
    return services.guide_of(db.session, services.get_item(db.session, task_code))


class AudienceArgs(Schema):
    audience = ma.fields.String(validate=ma.validate.OneOf(["natural", "legal"]))


@blp.get("/themes")
@blp.arguments(AudienceArgs(), location="query")
@blp.response(200, schemas.ThemeOut(many=True))
@documented_errors(blp, 503)
def list_themes(args):
    """Topics for residents (natural) and businesses (legal) with their item counts."""
    return services.list_themes(db.session, args.get("audience"))


@blp.get("/departments")
@blp.response(200, schemas.DepartmentOut(many=True))
@documented_errors(blp, 503)
def list_departments():
    """Departments with their item counts, busiest first."""
    return services.list_departments(db.session)


@blp.get("/bundles")
@blp.response(200, schemas.BundleOut(many=True))
@documented_errors(blp, 503)
def list_bundles():
    """Life-event bundles (一件事一次办) with their items."""
    return [services.bundle_view(b) for b in services.list_bundles(db.session)]


@blp.get("/bundles/<int:bundle_id>")
@blp.response(200, schemas.BundleOut)
@documented_errors(blp, 404, 503)
def get_bundle(bundle_id):
    """One life-event bundle."""
    return services.get_bundle(db.session, bundle_id)


# ------------------------------------------------------------------ admin

admin_blp = Blueprint("catalog_admin", __name__, url_prefix="/api/v1/admin/catalog",
                      description="Catalog administration (bearer token of an admin)")
admin_blp.before_request(require_staff("admin"))
# Every admin operation: a bearer token (401 without a valid one), of an admin (403 for other roles).
STAFF_SECURITY = [{"bearer": []}]

# The import's file formats: by the ``format`` query argument, else the file name's extension,
# else the first bytes ("[" JSON, "{" JSON lines, anything else CSV); UTF-8 or GB18030 text.
IMPORT_CONTENT_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "text/csv",
                        "text/plain", "application/octet-stream")


class ImportFile(Schema):
    file = Upload(required=True, metadata={"description": (
        "The catalog file, UTF-8 (with or without BOM) or GB18030 text: a JSON array of items (.json), "
        "one JSON item per line (.jsonl, .ndjson) or CSV with a header row of national field names (.csv). "
        "The format is the `format` argument, else the file name's extension, else guessed from the "
        "first bytes.")})


@admin_blp.post("/import")
@admin_blp.arguments(schemas.ImportArgs(), location="query")
@admin_blp.arguments(ImportFile(), location="files")
@admin_blp.response(200, schemas.ImportReport)
@admin_blp.doc(security=STAFF_SECURITY, requestBody={"content": {"multipart/form-data": {
    "encoding": {"file": {"contentType": ", ".join(IMPORT_CONTENT_TYPES)}}}}})
@documented_errors(admin_blp, 400, 401, 403, 409, 413, 503)
def import_catalog(args, files):
    """Import a JSON, JSON-lines or CSV file of items (national field names), upsert by task_code.

    With problems and without ``skip_invalid`` nothing is written and the answer is 422
    listing the problems by line and field (the first ``KIOSK_IMPORT_MAX_PROBLEMS``, 200 by
    default; ``problems_total`` counts all). ``dry_run`` only validates. A file over
    ``KIOSK_IMPORT_MAX_ROWS`` rows (20,000) is refused with 422, one over
    ``KIOSK_MAX_UPLOAD_MB`` with 413.
    """
    upload = files["file"]
    checked = services.check_file(upload.stream, filename=upload.filename, fmt=args["format"],
                                  **import_limits(current_app.config))
    result = services.import_items(db.session, checked, actor=g.actor, source=source_name(upload.filename),
                                   dry_run=args["dry_run"], skip_invalid=args["skip_invalid"])
    if checked.problems and not args["dry_run"] and not args["skip_invalid"]:
        report = result.report()
        raise Invalid(f"{checked.total_problems} problem(s) found; nothing was imported.",
                      f"发现 {checked.total_problems} 处问题，未导入任何内容。",
                      errors={"problems": report["problems"], "problems_total": report["problems_total"]})
    return result.report()


@admin_blp.route("/synonyms")
class Synonyms(MethodView):
    @admin_blp.response(200, schemas.SynonymOut(many=True))
    @admin_blp.doc(security=STAFF_SECURITY)
    @documented_errors(admin_blp, 401, 403, 503)
    def get(self):
        """Synonyms and corrections added by admins (the shipped dictionary is not listed)."""
        return services.list_synonyms(db.session)

    @admin_blp.arguments(schemas.SynonymIn())
    @admin_blp.response(201, schemas.SynonymOut)
    @admin_blp.doc(security=STAFF_SECURITY)
    @documented_errors(admin_blp, 400, 401, 403, 409, 413, 503)
    def post(self, data):
        """Add a synonym (社保 → 社会保险) or a correction (身分证 → 身份证)."""
        return services.add_synonym(db.session, actor=g.actor, **data)


@admin_blp.delete("/synonyms/<int:synonym_id>")
@admin_blp.response(204)
@admin_blp.doc(security=STAFF_SECURITY)
@documented_errors(admin_blp, 401, 403, 404, 503)
def delete_synonym(synonym_id):
    """Remove an admin synonym."""
    services.delete_synonym(db.session, synonym_id, actor=g.actor)


from . import life_events_api  # noqa: E402,F401 - registers its routes on admin_blp
