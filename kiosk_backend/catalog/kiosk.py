"""Kiosk screens of the catalog: home, search, browsing, the guide and its printout."""
from __future__ import annotations

import io
from types import SimpleNamespace

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request, url_for
from limits import RateLimitItemPerSecond
from markupsafe import Markup, escape
from werkzeug.exceptions import NotFound

from ..core import ratelimit
from ..core.clock import utcnow
from ..core.i18n import translate_value
from ..core.kiosk_shell import register_tile, require_feature, require_printer, tiles
from ..core.printing import PAPERS, qr_image, render_pdf, render_png
from ..core.printing.links import public_url
from ..core.requests import record_after_request
from ..extensions import db, limiter
from ..fleet import services as fleet
from . import services
from .printout import guide_blocks
from .search import is_meaningful

bp = Blueprint("catalog", __name__)
# Coded values of the catalog (行政确认, 全市, 必要 ...) in the page's language: {{ value | coded(lang) }}.
bp.add_app_template_filter(translate_value, "coded")


# Issue 11: at most this many highlight words per name are looked for (the search sends a few).
MAX_HIGHLIGHTS = 20


def mark_matches(name, words) -> Markup:
    """``name`` escaped, with every occurrence of each of ``words`` (the search result's
    ``match.highlight``) wrapped in ``<mark>``: ``{{ item.task_name | mark_matches(highlight) }}``.

    Overlapping and nested words make one mark over their union (公积金 + 积金提取 in
    公积金提取 → one mark); each part of the name is escaped before any markup is added, and
    the words only choose positions, so nothing of the data becomes markup. Positions are
    whole code points, so a character outside the BMP is never split. Latin letters match
    whatever their case. Words that are not non-empty strings, and missing words (None, an
    undefined value), mark nothing. Never raises for such input."""
    text = "" if name is None else str(name)
    if not words or isinstance(words, str) or not text:
        return escape(text)
    folded = text.lower() if len(text.lower()) == len(text) else text  # positions must stay the same
    marked = [False] * len(text)
    for word in list(dict.fromkeys(w for w in words if isinstance(w, str) and w))[:MAX_HIGHLIGHTS]:
        needle = word.lower() if folded is not text else word
        start = folded.find(needle)
        while start != -1:
            marked[start:start + len(needle)] = [True] * len(needle)
            start = folded.find(needle, start + 1)
    parts, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i]:
            j += 1
        piece = escape(text[i:j])
        parts.append(Markup("<mark>{}</mark>").format(piece) if marked[i] else piece)
        i = j
    return Markup("").join(parts)


bp.add_app_template_filter(mark_matches, "mark_matches")

register_tile("tile.search", "kiosk.catalog.search", "search.svg", 10, "search")
register_tile("tile.themes", "kiosk.catalog.themes", "themes.svg", 20, "themes")
register_tile("tile.bundles", "kiosk.catalog.bundles", "bundles.svg", 30, "bundles")
register_tile("tile.departments", "kiosk.catalog.departments", "departments.svg", 40, "departments")

PAGE_SIZE = 10
# The search screen's quick words: what they put in the box (the catalogue is Chinese) and
# their labels, "search.word.<word>" in the message catalogue.
QUICK_WORDS = ("社保", "医保", "身份证", "户口", "公积金", "结婚", "退休", "居住证", "驾驶证", "护照", "低保", "残疾人证")
# A second print of the same guide from the same kiosk within this many seconds is a double
# tap, not a wish for two copies: it is refused (PRINT_GUARD in the limiter's store, so every
# app server sees it).
PRINT_GUARD_SECONDS = 3


def _count(kind: str) -> None:
    """Usage statistics, written in a transaction of their own once the request's has ended
    (core.requests.record_after_request): counted even when the page fails afterwards, and
    never waiting for the request's own write lock — a logged-in resident's request has
    touched the kiosk session, and on SQLite a write beside it waited until the busy timeout
    (a print refused with 503 after ~15 s)."""
    kiosk = SimpleNamespace(id=g.kiosk.id, site_id=g.kiosk.site_id)  # plain values: the request's session ends first
    moment = utcnow()
    record_after_request(lambda side: fleet.record_usage(side, kiosk, kind, now=lambda: moment))


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
    # A query of nothing but punctuation or spaces ("??", "。", "%") is no query: the screen
    # stays as it was, rather than listing the whole catalog.
    result = services.search(db.session, q=q, page=_page(), page_size=PAGE_SIZE) if is_meaningful(q) else None
    if result is not None and _page() == 1:
        _count("search")
    if request.args.get("partial") == "1":
        # Search-as-you-type swaps in just the results, rendered by the same template.
        return render_template("kiosk/_results.html", result=result, page_size=PAGE_SIZE)
    return render_template("kiosk/search.html", q=q, result=result, quick_words=QUICK_WORDS,
                           popular=services.popular_items(db.session, 8), page_size=PAGE_SIZE)


@bp.get("/themes")
def themes():
    require_feature("themes")
    return render_template("kiosk/themes.html", themes=services.list_themes(db.session, "natural"),
                           legal_themes=services.list_themes(db.session, "legal"))


# Names are data, and may hold a "/" (教育/体育局): the path converter keeps them whole.
@bp.get("/themes/<path:name>")
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


@bp.get("/departments/<path:name>")
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
    if request.args.get("from") == "search":
        # Opened from search results: the kiosks' own usage, a prior of search. Counted in a
        # transaction of its own after the request, like the usage statistics.
        record_after_request(lambda side: services.record_search_open(side, task_code))
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
    # KIOSK_PUBLIC_URL, or refused (503) in production rather than a QR of an unroutable host.
    return public_url(url_for("mobile.catalog.item", task_code=task_code))


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
    """A page holding only the printout image; kiosk browsers print it silently (print.js,
    after the print job below is accepted). A kiosk that cannot print on this paper (the
    community tablet has no printer) gets a page in its own frame saying so, with the QR code
    that takes the guide away on a phone: still a 404, as the printout does not exist here."""
    paper = PAPERS.get(request.args.get("paper", "thermal80"))
    if paper is None:
        abort(400)
    guide = services.guide_of(db.session, services.get_item(db.session, task_code))
    try:
        require_printer(paper.name)
    except NotFound:
        return render_template("kiosk/print.html", guide=guide, paper=None), 404
    return render_template("kiosk/print.html", guide=guide, paper=paper, guard_seconds=PRINT_GUARD_SECONDS)


@bp.post("/items/<string:task_code>/print")
def print_job(task_code):
    """One print of this guide, asked for by the print screen just before it prints: 202 when
    it may print; 409 (with Retry-After) when this kiosk printed this guide less than
    PRINT_GUARD_SECONDS ago, which is a double tap. Only accepted prints count in the usage
    statistics. 400/404 like the print screen for a paper or item this kiosk cannot print."""
    _paper()
    services.get_item(db.session, task_code)
    if not _first_print_in_window(task_code):
        return (jsonify(status="duplicate", retry_after=PRINT_GUARD_SECONDS), 409,
                {"Retry-After": str(PRINT_GUARD_SECONDS)})
    _count("print")
    return jsonify(status="accepted"), 202


def _first_print_in_window(task_code: str) -> bool:
    """Whether this is the kiosk's first print of ``task_code`` within PRINT_GUARD_SECONDS,
    counted in the rate limiter's store (memory, or Redis shared by every app server). A
    store that fails lets the print through: a lost guard is better than a lost printout."""
    window = RateLimitItemPerSecond(1, PRINT_GUARD_SECONDS)
    try:
        return limiter.limiter.hit(window, "print-guard", str(g.kiosk.id), task_code)
    except Exception:  # any failure of the store (Redis down, timeouts)
        current_app.logger.warning("print guard store failed; printing without the guard", exc_info=True)
        return True


@bp.get("/items/<string:task_code>/print.png")
def print_png(task_code):
    paper = _paper()
    guide, blocks = _blocks(task_code)
    return Response(render_png(blocks, paper), mimetype="image/png",
                    headers={"Content-Disposition": f'inline; filename="{task_code}-{paper.name}.png"'})


@bp.get("/items/<string:task_code>/print.pdf")
def print_pdf(task_code):
    _paper("a4")
    guide, blocks = _blocks(task_code)
    _count("print")
    return Response(render_pdf(blocks, PAPERS["a4"]), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{task_code}.pdf"'})
