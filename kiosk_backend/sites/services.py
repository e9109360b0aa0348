"""Site services: the sites themselves, their opening hours and who is open nearby.

Every function takes the session and explicit arguments, flushes, and raises domain
errors; the caller commits. ``site_ids`` arguments scope a site manager to their sites
(None = every site).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.clock import LOCAL_TZ, utcnow
from ..core.database import scoped
from ..core.errors import Conflict, Invalid, NotFound
from . import divisions
from .models import Site
from .schemas import WEEKDAYS


def list_sites(session: Session, site_ids: set[int] | None = None) -> list[Site]:
    return list(session.scalars(scoped(sa.select(Site).order_by(Site.code), site_ids, Site.id)))


def get_site_by_code(session: Session, code: str) -> Site | None:
    """The site with this code (codes are unique), or None."""
    return session.scalar(sa.select(Site).where(Site.code == code))


def sites_by_codes(session: Session, codes: Iterable[str]) -> dict[str, Site]:
    """The sites with these codes, by code; codes without a site are left out."""
    codes = set(codes)
    if not codes:
        return {}
    return {site.code: site for site in session.scalars(sa.select(Site).where(Site.code.in_(codes)))}


def get_site(session: Session, site_id: int, site_ids: set[int] | None = None) -> Site:
    site = session.get(Site, site_id)
    if site is None or (site_ids is not None and site.id not in site_ids):
        raise NotFound("No such site.", "没有找到该网点。")
    return site


def _check_divisions(data: Mapping[str, Any]) -> None:
    problems = divisions.validate_codes(data["province_code"], data["city_code"], data.get("county_code"))
    if problems:
        raise Invalid("; ".join(f"{f}: {en}" for f, en, _ in problems), "；".join(f"{f}：{zh}" for f, _, zh in problems),
                      errors={f: [f"{en} / {zh}"] for f, en, zh in problems})


def create_site(session: Session, *, actor: Actor, **data) -> Site:
    """Create a site. Raises Invalid (division codes), Conflict (code taken)."""
    _check_divisions(data)
    if session.scalar(sa.select(Site.id).where(Site.code == data["code"])):
        raise Conflict(f"Site code {data['code']} is taken.", f"网点编号 {data['code']} 已被使用。")
    site = Site(**data)
    session.add(site)
    session.flush()
    audit.record(session, actor=actor, action="site.create", target=f"site:{site.code}", details={"name": site.name})
    return site


def update_site(session: Session, site: Site, *, actor: Actor, **data) -> Site:
    merged = {"province_code": site.province_code, "city_code": site.city_code, "county_code": site.county_code, **data}
    _check_divisions(merged)
    changed = {k: v for k, v in data.items() if getattr(site, k) != v}
    for key, value in changed.items():
        setattr(site, key, value)
    session.flush()
    if changed:
        audit.record(session, actor=actor, action="site.update", target=f"site:{site.code}",
                     details={"fields": sorted(changed)})
    return site


def is_open(site: Site, at: datetime) -> bool:
    """Whether the site is open at ``at`` (local time, holidays and 调休 make-up days included)."""
    local = at.astimezone(LOCAL_TZ)
    day = local.date().isoformat()
    weekday = WEEKDAYS[local.weekday()]
    hours = site.opening_hours.get(weekday, [])
    for holiday in site.holidays or []:
        if holiday.get("date") == day:
            if not holiday.get("open"):
                return False
            # A make-up workday (调休) keeps Monday's hours when the weekday has none.
            hours = hours or site.opening_hours.get("mon", [])
    now_hm = local.strftime("%H:%M")
    return any(start <= now_hm < end for start, end in hours)


def nearest_open_sites(session: Session, site: Site, *, now=utcnow, limit: int = 3) -> list[Site]:
    """Other sites open now, nearest first (by coordinates, else same county, then city).

    Looks in the same city first and widens to the province only when nothing there is
    open, so a province-wide fleet does not scan every site for each maintenance screen.
    """
    moment = now()
    others: list[Site] = []
    for area in (Site.city_code == site.city_code, Site.province_code == site.province_code):
        others = [s for s in session.scalars(sa.select(Site).where(Site.id != site.id, area)) if is_open(s, moment)]
        if others:
            break

    def distance(other: Site) -> float:
        if None not in (site.latitude, site.longitude, other.latitude, other.longitude):
            return _haversine_km(site.latitude, site.longitude, other.latitude, other.longitude)
        if site.county_code and other.county_code == site.county_code:
            return 10_000.0
        return 20_000.0 if other.city_code == site.city_code else 30_000.0

    return sorted(others, key=distance)[:limit]


def _haversine_km(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
