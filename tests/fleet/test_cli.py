"""`kiosk fleet …` and the demo fleet (fleet/cli.py)."""
from __future__ import annotations

import json
import re
from collections import Counter

from kiosk_backend.fleet.cli import DEMO_SITES, prepare_demo_fleet
from kiosk_backend.sites import divisions
from kiosk_backend.sites import services as sites


def _catalog_city() -> str:
    """The city the demo catalog is written for: the one its departments are named after."""
    from kiosk_backend.catalog.services import DEMO_ITEMS  # the file load_demo_catalog() reads

    with open(DEMO_ITEMS, encoding="utf-8") as fh:
        items = json.load(fh)
    cities = Counter(re.match(r"^(\w{2}市)", item["dept_name"]).group(1) for item in items
                     if re.match(r"^\w{2}市", item["dept_name"]))
    return cities.most_common(1)[0][0]


def test_the_demo_sites_are_in_the_demo_catalogs_city_with_valid_division_codes(app, db):
    city = _catalog_city()
    assert city == "江州市"
    prepare_demo_fleet("http://127.0.0.1:8000")
    db.session.commit()
    catalog_streets = ("滨江新区", "经开区")  # where the catalog's offices are (市民大道, 通达路)
    for spec in DEMO_SITES:
        site = sites.get_site_by_code(db.session, spec["code"])
        assert city.removesuffix("市") in site.name, site.name
        assert site.address.startswith(catalog_streets), site.address
        assert "九江" not in site.name + site.address, site.name
        assert site.phone.startswith("0710-")  # the catalog's area code
        assert divisions.validate_codes(site.province_code, site.city_code, site.county_code) == []
