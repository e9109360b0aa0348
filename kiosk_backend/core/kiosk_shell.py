"""The kiosk's frame, free of any domain: how a kiosk presents its credential, the
home-screen tile registry, the offline page, the service worker that shows it when the
backend cannot be reached, and a ping."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, g, render_template, request, send_from_directory

bp = Blueprint("shell", __name__)

# A kiosk browser holds its credential in this HttpOnly cookie, set at activation; device
# agents send "Authorization: Kiosk <credential>" instead. The fleet checks it; the rate
# limiter counts by it.
CREDENTIAL_COOKIE = "kiosk_credential"
CREDENTIAL_MAX_AGE = 5 * 365 * 24 * 3600
AUTH_SCHEME = "kiosk"


def credential_from_request() -> str | None:
    """The kiosk credential this request carries (the header wins over the cookie), or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == AUTH_SCHEME and value.strip():
        return value.strip()
    return request.cookies.get(CREDENTIAL_COOKIE) or None


@dataclass(frozen=True)
class Tile:
    key: str        # message-catalogue key of the label; "<key>.hint" is the sub-line
    endpoint: str   # url_for endpoint
    icon: str       # file under static/icons/
    order: int
    feature: str    # device-profile feature that switches the tile on


_TILES: dict[str, Tile] = {}


def register_tile(key: str, endpoint: str, icon: str, order: int, feature: str) -> None:
    """Domains put their home-screen tile here when their kiosk routes are imported."""
    _TILES[key] = Tile(key, endpoint, icon, order, feature)


def tiles() -> list[Tile]:
    return sorted(_TILES.values(), key=lambda t: t.order)


def require_feature(name: str) -> None:
    """404 unless the device profile of the kiosk asking offers ``name``: a feature that is
    off is absent, not merely hidden."""
    profile = getattr(g, "profile", None)
    if profile is not None and not profile.has(name):
        abort(404)


def require_printer(paper: str) -> None:
    """404 unless this kiosk prints guides, and on this paper."""
    require_feature("print_guide")
    profile = getattr(g, "profile", None)
    if profile is not None and profile.printer_kind != paper:
        abort(404)


@bp.get("/help")
def help():
    """Where a person can get help from a human."""
    return render_template("kiosk/help.html")


@bp.get("/offline")
def offline():
    """Shown by the service worker when the backend cannot be reached."""
    return render_template("kiosk/offline.html")


@bp.get("/sw.js")
def service_worker():
    # Served under /kiosk/ so its scope covers every kiosk page.
    response: Response = send_from_directory(current_app.static_folder, "js/sw.js", mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/kiosk/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/ping")
def ping():
    return Response(status=204)
