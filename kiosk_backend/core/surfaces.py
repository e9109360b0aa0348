"""The HTML surfaces' parent blueprints. app.py gives each its authentication hook
(device credential for /kiosk, staff session for /admin, resident session for /m).

Made per app by a function: a module-level parent blueprint would collect its children
again for every app a test creates.
"""
from __future__ import annotations

from flask import Blueprint


def kiosk_surface() -> Blueprint:
    return Blueprint("kiosk", __name__, url_prefix="/kiosk")


def mobile_surface() -> Blueprint:
    return Blueprint("mobile", __name__, url_prefix="/m")


def admin_surface() -> Blueprint:
    return Blueprint("admin", __name__, url_prefix="/admin")
