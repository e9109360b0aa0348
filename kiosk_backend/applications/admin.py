"""Console pages: applications, the overdue list, department clients."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("applications", __name__, url_prefix="/applications")
