"""The mini-app's applications API (/api/v1/applications): a resident's own applications."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("applications_api", __name__, url_prefix="/api/v1",
                description="For the mini-app: the signed-in resident's applications (办件) and their progress")
