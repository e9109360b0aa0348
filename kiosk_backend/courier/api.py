"""The mini-app's courier API (/api/v1/bookings…): a resident's bookings."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("courier_api", __name__, url_prefix="/api/v1",
                description="For the mini-app: the signed-in resident's courier bookings (邮寄材料 / 结果寄回家)")
