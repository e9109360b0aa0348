"""The department API (/api/v1/departments): HMAC-signed requests that create applications
and push their events."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("department_api", __name__, url_prefix="/api/v1/departments",
                description="For department systems: create applications and push their state events "
                            "(HMAC-SHA256 signed requests)")
