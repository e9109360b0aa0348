"""Courier bookings on the mobile surface."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("courier", __name__)
