"""Console pages: courier bookings, pickup slots, carrier accounts, reconciliation."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("courier", __name__, url_prefix="/courier")
