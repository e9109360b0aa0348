"""The HTML surfaces' parent blueprints. app.py gives each its authentication hook
(device credential for /kiosk, staff session for /admin, resident session for /m).

Made per app by a function: a module-level parent blueprint would collect its children
again for every app a test creates.
"""
from __future__ import annotations

from flask import Blueprint, abort


def _surface(name: str, prefix: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=prefix)
    # A URL under the surface that matches no page still goes through the surface's hooks
    # (its authentication, its template context), so its 404 page is the surface's own:
    # the kiosk's frame with the way home, the console with its menu.
    bp.add_url_rule("/<path:unknown>", "not_found", _not_found, methods=["GET", "POST"])
    return bp


def _not_found(unknown: str):
    abort(404)


def kiosk_surface() -> Blueprint:
    return _surface("kiosk", "/kiosk")


def mobile_surface() -> Blueprint:
    return _surface("mobile", "/m")


def admin_surface() -> Blueprint:
    return _surface("admin", "/admin")
