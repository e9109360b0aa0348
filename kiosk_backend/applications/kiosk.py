"""Kiosk screens for progress (办件进度): look up by number and last 4 characters, my
applications, the printed receipt."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("progress", __name__)
