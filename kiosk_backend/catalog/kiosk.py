"""Kiosk screens of the catalog: home, search, browsing, the guide and its printout."""
from __future__ import annotations

import io

from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for

from ..core import ratelimit
from ..core.kiosk_shell import register_tile, require_feature, require_printer, tiles
from ..core.printing import PAPERS, qr_image, render_pdf, render_png
from ..core.requests import independent_session
from ..extensions import db
from ..fleet import services as fleet
from . import services
from .printout import guide_blocks

bp = Blueprint("catalog", __name__)

register_tile("tile.search", "kiosk.catalog.search", "search.svg", 10, "search")
register_tile("tile.themes", "kiosk.catalog.themes", "themes.svg", 20, "themes")
register_tile("tile.bundles", "kiosk.catalog.bundles", "bundles.svg", 30, "bundles")
register_tile("tile.departments", "kiosk.catalog.departments", "departments.svg", 40, "departments")

PAGE_SIZE = 10


def _count(kind: str) -> None:
    """Usage statistics are written beside the request (which only reads): a GET changes
    no state of the request's own transaction."""
    with independent_session() as side:
        fleet.record_usage(side, g.kiosk, kind)


def _page() -> int:
    try:
        return max(1, min(1000, int(request.args.get("page", 1))))
    except ValueError:
        return 1


@bp.get("/")
def home():
    return render_template("kiosk/home.html", tiles=tiles(), popular=services.popular_items(db.session, 8))


@bp.get("/search")
@ratelimit.catalog_search
def search():
    require_feature("search")
    q = request.args.get("q", "")[:50]
    result = services.search(db.session, q=q, page=_page(), page_size=PAGE_SIZE) if q.strip() else None
    if result is not None and _page() == 1:
        _count("search")
    if request.args.get("partial") == "1":
        # Search-as-you-type swaps in just the results, rendered by the same template.
        return render_template("kiosk/_results.html", result=result, page_size=PAGE_SIZE)
    return render_template("kiosk/search.html", q=q, result=result,
                           popular=services.popular_items(db.session, 8), page_size=PAGE_SIZE)


@bp.get("/themes")
def themes():
    require_feature("themes")
    return render_template("kiosk/themes.html", themes=services.list_themes(db.session, "natural"),
                           legal_themes=services.list_themes(db.session, "legal"))


@bp.get("/themes/<string:name>")
def theme(name):
    require_feature("themes")
    result = services.search(db.session, theme=name, page=_page(), page_size=PAGE_SIZE)
    if result["total"] == 0:
        abort(404)
    return render_template("kiosk/listing.html", title=name, result=result, page_size=PAGE_SIZE)


@bp.get("/departments")
def departments():
    require_feature("departments")
    return render_template("kiosk/departments.html", departments=services.list_departments(db.session))


@bp.get("/departments/<string:name>")
def department(name):
    require_feature("departments")
    result = services.search(db.session, department=name, page=_page(), page_size=PAGE_SIZE)
    if result["total"] == 0:
        abort(404)
    return render_template("kiosk/listing.html", title=name, result=result, page_size=PAGE_SIZE)


@bp.get("/bundles")
def bundles():
    require_feature("bundles")
    return render_template("kiosk/bundles.html",
                           bundles=[services.bundle_view(b) for b in services.list_bundles(db.session)])


@bp.get("/bundles/<int:bundle_id>")
def bundle(bundle_id):
    require_feature("bundles")
    view = services.get_bundle(db.session, bundle_id)
    return render_template("kiosk/listing.html", title=view["name"], subtitle=view["description"],
                           result={"items": view["items"], "total": len(view["items"]), "page": 1}, page_size=len(view["items"]) or 1)


@bp.get("/items/<string:task_code>")
def item(task_code):
    guide = services.guide_of(db.session, services.get_item(db.session, task_code))
    return render_template("kiosk/guide.html", guide=guide, papers=PAPERS)


def qr_png(payload: str, size: int) -> bytes:
    out = io.BytesIO()
    qr_image(payload, size).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _paper(default: str = "thermal80"):
    paper = PAPERS.get(request.args.get("paper", default))
    if paper is None:
        abort(400)
    require_printer(paper.name)
    return paper


def _phone_url(task_code: str) -> str:
    base = current_app.config.get("KIOSK_PUBLIC_URL") or request.url_root
    return base.rstrip("/") + url_for("mobile.catalog.item", task_code=task_code)


def _blocks(task_code: str):
    guide = services.guide_of(db.session, services.get_item(db.session, task_code))
    return guide, guide_blocks(guide, phone_url=_phone_url(task_code))


@bp.get("/items/<string:task_code>/qr.png")
def phone_qr(task_code):
    """QR code that opens this guide on a phone."""
    services.get_item(db.session, task_code)
    return Response(qr_png(_phone_url(task_code), size=360), mimetype="image/png")


@bp.get("/items/<string:task_code>/print")
def print_preview(task_code):
    """A page holding only the printout image; kiosk browsers print it silently."""
    paper = _paper()
    guide = services.guide_of(db.session, services.get_item(db.session, task_code))
    return render_template("kiosk/print.html", guide=guide, paper=paper)


@bp.get("/items/<string:task_code>/print.png")
def print_png(task_code):
    paper = _paper()
    guide, blocks = _blocks(task_code)
    _count("print")
    return Response(render_png(blocks, paper), mimetype="image/png",
                    headers={"Content-Disposition": f'inline; filename="{task_code}-{paper.name}.png"'})


@bp.get("/items/<string:task_code>/print.pdf")
def print_pdf(task_code):
    _paper("a4")
    guide, blocks = _blocks(task_code)
    _count("print")
    return Response(render_pdf(blocks, PAPERS["a4"]), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{task_code}.pdf"'})
