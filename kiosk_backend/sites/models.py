"""Sites (网点): where kiosks stand and helpers work: bank branches, post offices,
community centres, service halls. The bottom domain: fleet, courier and assisted service
build on it; it imports none of them."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.models import TimestampMixin
from ..extensions import db

SITE_KINDS = {"bank_branch": "银行网点", "post_office": "邮政网点", "community_centre": "社区服务中心",
              "service_hall": "政务服务大厅"}


class Site(TimestampMixin, db.Model):
    """网点: where kiosks stand."""

    # The table keeps the name it had while sites were part of the fleet: renaming it
    # would rename every foreign key and index that points at it, for no gain.
    __tablename__ = "fleet_site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)  # short, prefixes kiosk numbers
    kind: Mapped[str] = mapped_column(sa.String(24))
    name: Mapped[str] = mapped_column(sa.String(100))
    province_code: Mapped[str] = mapped_column(sa.String(2))
    city_code: Mapped[str] = mapped_column(sa.String(4))
    county_code: Mapped[str | None] = mapped_column(sa.String(6))
    address: Mapped[str] = mapped_column(sa.String(300))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    # {"mon": [["09:00", "17:00"]], ..., "sun": []}
    opening_hours: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # [{"date": "2026-10-01", "open": false, "note": "国庆节"}, {"date": "2026-10-11", "open": true, "note": "调休上班"}]
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    def __repr__(self) -> str:
        return f"<Site {self.code} {self.name}>"
