"""Site services: creation and updates with division codes, scoping, opening hours,
nearest open sites."""
from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from kiosk_backend.core import actors, audit
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.clock import LOCAL_TZ
from kiosk_backend.core.errors import Conflict, Invalid, NotFound
from kiosk_backend.sites import services as sites
from kiosk_backend.sites.models import Site
from tests.conftest import MONDAY_10, SITE2, UTC, WEEKDAY_HOURS


def test_a_site_is_created_with_consistent_division_codes_and_audited(db):
    site = sites.create_site(db.session, actor=actors.staff("wang", ip="10.0.0.9"), code="NJ01", kind="service_hall",
                                name="玄武区政务服务中心", province_code="32", city_code="3201", county_code="320102",
                                address="北京东路 1 号")
    assert site.id
    entry = audit.search(db.session, action="site.create")[0]
    assert (entry.actor, entry.target, entry.ip) == ("wang", "site:NJ01", "10.0.0.9")


@pytest.mark.parametrize("codes,field", [
    (dict(province_code="99", city_code="3604", county_code=None), "province_code"),
    (dict(province_code="36", city_code="3699", county_code=None), "city_code"),
    (dict(province_code="36", city_code="3201", county_code=None), "city_code"),
    (dict(province_code="36", city_code="3604", county_code="360499"), "county_code"),
    (dict(province_code="36", city_code="3604", county_code="320102"), "county_code"),
    (dict(province_code="36", city_code="36041", county_code=None), "city_code"),
])
def test_a_site_with_bad_division_codes_is_refused_naming_the_field(db, codes, field):
    data = {**SITE2, **codes}
    with pytest.raises(Invalid) as caught:
        sites.create_site(db.session, actor="wang", **data)
    assert field in caught.value.errors
    assert field in caught.value.message and field in caught.value.message_zh
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_a_site_code_is_used_once(db, site):
    with pytest.raises(Conflict):
        sites.create_site(db.session, actor="wang", **{**SITE2, "code": site.code})


def test_updating_a_site_checks_the_merged_division_codes_and_audits_changed_fields(db, site):
    with pytest.raises(Invalid) as caught:
        sites.update_site(db.session, site, actor="wang", county_code="320102")
    assert "county_code" in caught.value.errors
    db.session.rollback()
    site = db.session.get(Site, site.id)
    sites.update_site(db.session, site, actor="wang", name="九江浔阳路邮政支局", county_code="360402",
                         address=site.address)
    entry = audit.search(db.session, action="site.update")[0]
    assert entry.details == {"fields": ["county_code", "name"]}


def test_a_site_is_found_by_its_code_or_none(db, site):
    assert sites.get_site_by_code(db.session, "JZ01") == site
    assert sites.get_site_by_code(db.session, "NOPE") is None


def test_sites_by_codes_leaves_out_unknown_codes(db, site, site2):
    assert sites.sites_by_codes(db.session, ["JZ02", "JZ01", "NOPE", "JZ01"]) == {"JZ01": site, "JZ02": site2}
    assert sites.sites_by_codes(db.session, []) == {}


def test_get_site_hides_other_sites_from_a_manager(db, site, site2):
    assert sites.get_site(db.session, site.id, {site.id}) is site
    with pytest.raises(NotFound):
        sites.get_site(db.session, site2.id, {site.id})
    with pytest.raises(NotFound):
        sites.get_site(db.session, 10_000)
    assert [s.code for s in sites.list_sites(db.session, {site2.id})] == ["JZ02"]


# ------------------------------------------------------------------ opening hours

def local(*args) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    return datetime(*args, tzinfo=LOCAL_TZ).astimezone(UTC)


@pytest.fixture
def hours_site(make_site):
    return make_site(opening_hours={**WEEKDAY_HOURS, "sat": [["09:00", "12:00"]], "sun": []},
                     holidays=[{"date": "2026-10-01", "open": False, "note": "国庆节"},
                               {"date": "2026-10-11", "open": True, "note": "调休上班"},
                               {"date": "2026-09-26", "open": True, "note": "调休上班"}])


@pytest.mark.parametrize("moment,expected", [
    (local(2026, 3, 2, 10, 0), True),     # Monday morning
    (local(2026, 3, 2, 8, 59), False),    # before opening
    (local(2026, 3, 2, 9, 0), True),      # opening minute
    (local(2026, 3, 2, 17, 0), False),    # closing time is closed
    (local(2026, 3, 2, 16, 59), True),
    (local(2026, 3, 7, 11, 0), True),     # Saturday morning
    (local(2026, 3, 7, 14, 0), False),    # Saturday afternoon
    (local(2026, 3, 8, 10, 0), False),    # Sunday
    (local(2026, 10, 1, 10, 0), False),   # 国庆节, a Thursday
    (local(2026, 10, 11, 10, 0), True),   # 调休: a Sunday worked with weekday hours
    (local(2026, 10, 11, 16, 30), True),
    (local(2026, 10, 11, 18, 0), False),
    (local(2026, 9, 26, 15, 0), False),   # a Saturday make-up day keeps Saturday's own hours
])
def test_is_open_follows_local_hours_holidays_and_make_up_days(hours_site, moment, expected):
    assert sites.is_open(hours_site, moment) is expected


def test_is_open_uses_shanghai_time_not_utc(hours_site):
    # 01:30 UTC on Monday is 09:30 in Shanghai; 23:30 UTC on Sunday is 07:30 Monday.
    assert sites.is_open(hours_site, datetime(2026, 3, 2, 1, 30, tzinfo=UTC)) is True
    assert sites.is_open(hours_site, datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) is False


def test_a_site_without_hours_is_never_open(site):
    assert sites.is_open(site, MONDAY_10) is False


def _site(make_site, code, lat=None, lon=None, county="360403", city="3604", province="36", open_=True):
    return make_site(code=code, name=f"网点{code}", province_code=province, city_code=city, county_code=county,
                     latitude=lat, longitude=lon, opening_hours=WEEKDAY_HOURS if open_ else {})


def test_nearest_open_sites_are_sorted_by_distance_and_skip_closed_ones(db, make_site):
    here = _site(make_site, "HERE", 29.7139, 116.0020)
    far = _site(make_site, "FAR", 29.9, 116.3)
    near = _site(make_site, "NEAR", 29.7150, 116.0030)
    _site(make_site, "SHUT", 29.7140, 116.0021, open_=False)
    middle = _site(make_site, "MID", 29.75, 116.05)
    found = sites.nearest_open_sites(db.session, here, now=lambda: MONDAY_10)
    assert [s.code for s in found] == [near.code, middle.code, far.code]
    assert [s.code for s in sites.nearest_open_sites(db.session, here, now=lambda: MONDAY_10, limit=1)] == ["NEAR"]


def test_without_coordinates_the_same_county_comes_before_the_same_city(db, make_site):
    here = _site(make_site, "HERE")
    _site(make_site, "NJ", county="320102", city="3201", province="32")
    same_city = _site(make_site, "CITY", county="360402")
    same_county = _site(make_site, "CNTY")
    found = sites.nearest_open_sites(db.session, here, now=lambda: MONDAY_10)
    assert [s.code for s in found] == [same_county.code, same_city.code]  # never another province's site


def test_the_search_widens_to_the_province_only_when_the_city_has_nothing_open(db, make_site):
    here = _site(make_site, "HERE")
    _site(make_site, "SHUT", county="360402", open_=False)
    province = _site(make_site, "NCH", county="360102", city="3601")  # 南昌市东湖区, same province
    _site(make_site, "NJ", county="320102", city="3201", province="32")
    found = sites.nearest_open_sites(db.session, here, now=lambda: MONDAY_10)
    assert [s.code for s in found] == [province.code]


def test_no_site_is_suggested_when_everything_is_closed(db, make_site):
    here = _site(make_site, "HERE")
    _site(make_site, "OTHER")
    sunday = local(2026, 3, 8, 10, 0)
    assert sites.nearest_open_sites(db.session, here, now=lambda: sunday) == []


