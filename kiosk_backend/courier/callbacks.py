"""Carriers' tracking pushes (/api/v1/courier/callbacks/<carrier>)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("courier_callbacks", __name__, url_prefix="/api/v1/courier",
                description="For carriers: signed tracking pushes")
