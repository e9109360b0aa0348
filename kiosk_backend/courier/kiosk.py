"""Courier bookings on the kiosk surface."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("courier", __name__)
