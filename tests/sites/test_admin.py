"""The site forms of the console through the test client (sites/admin.py): new and edit,
opening hours and holidays, validation shown at the field, division codes."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import g

from kiosk_backend.core import audit
from kiosk_backend.sites import admin as sites_admin
from kiosk_backend.sites.models import Site
from tests.conftest import login, site_form


def test_creating_a_site_through_the_form_stores_hours_and_holidays(app, db, make_staff):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    assert client.get("/admin/sites/new").status_code == 200
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09")})
    assert response.status_code == 302
    site = db.session.scalar(sa.select(Site).where(Site.code == "JZ09"))
    assert site.opening_hours["mon"] == [["08:30", "12:00"], ["14:00", "17:30"]] and site.opening_hours["sun"] == []
    assert site.holidays == [{"date": "2026-10-01", "open": False, "note": "国庆节"},
                             {"date": "2026-10-11", "open": True, "note": "调休上班"}]
    assert response.headers["Location"].endswith(f"/admin/sites/{site.id}")


@pytest.mark.parametrize("overrides,field", [
    ({"county_code": "320102"}, "county_code"),
    ({"province_code": "99"}, "province_code"),
    ({"city_code": "3201"}, "city_code"),
    ({"city_code": "abcd"}, "city_code"),
    ({"code": "jz 09"}, "code"),
    ({"latitude": "north"}, "latitude"),
    ({"phone": "call me"}, "phone"),
    ({"hours_mon": "17:00-09:00"}, "opening_hours"),
    ({"kind": "casino"}, "kind"),
    ({"holidays": "2026-13-45 休 坏日子"}, "holidays"),
])
def test_a_bad_site_form_gets_422_naming_the_field_and_writes_nothing(app, db, make_staff, overrides, field):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    form = {"csrf_token": csrf, **site_form(code="JZ09"), **overrides}
    response = client.post("/admin/sites/new", data=form)
    assert response.status_code == 422
    # The message stands right after the field's own input (the hours' after the last day).
    anchor = "hours_sun" if field == "opening_hours" else field
    shown = re.search(rf'id="{anchor}"(?:(?!id=").)*?<span class="field-error" role="alert">(.*?)</span>',
                      response.text, re.S)
    assert shown, f"no error shown at {field}"
    assert len(shown.group(1)) > 3 and re.search(r"[\u4e00-\u9fff]", shown.group(1)), shown.group(1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
    assert audit.search(db.session, action="site.") == []


def test_a_duplicate_site_code_is_refused_on_the_form(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ01")})
    assert response.status_code == 409 and "JZ01" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 2


def test_editing_a_site_updates_it_and_bad_codes_are_refused(app, db, world):
    client = app.test_client()
    csrf = login(client, "admin")
    assert client.get(f"/admin/sites/{world.own_site.id}/edit").status_code == 200
    bad = client.post(f"/admin/sites/{world.own_site.id}/edit", data={"csrf_token": csrf, **site_form(county_code="320102")})
    assert bad.status_code == 422 and "区县 江苏省南京市玄武区" not in bad.text and "不属于" in bad.text
    db.session.expire_all()
    assert db.session.get(Site, world.own_site.id).county_code == "360403"
    good = client.post(f"/admin/sites/{world.own_site.id}/edit", data={"csrf_token": csrf, **site_form(name="新名字")})
    assert good.status_code == 302
    db.session.expire_all()
    assert db.session.get(Site, world.own_site.id).name == "新名字"

# ===================================================================== odd bytes

NUL = "a\x00b"


@pytest.mark.parametrize("field", ["name", "address", "holidays", "hours_mon", "code", "phone"])
def test_nul_bytes_in_the_site_form_get_422_not_500(app, db, make_staff, field):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09"), field: NUL})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0


@pytest.mark.parametrize("field,value", [("province_code", "36\n"), ("city_code", "3604\n"), ("county_code", "360403\n"),
                                         ("code", "JZ09\n"), ("phone", "0792-8221234\n"), ("province_code", "３６"),
                                         ("name", "九江\n邮政")])
def test_a_trailing_newline_or_wide_digits_do_not_slip_through_the_site_form(app, db, make_staff, field, value):
    make_staff("admin")
    client = app.test_client()
    csrf = login(client, "admin")
    response = client.post("/admin/sites/new", data={"csrf_token": csrf, **site_form(code="JZ09"), field: value})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0


def test_the_admins_only_check_is_the_blueprints_and_the_form_context_only_gathers(app, db, site, make_staff):
    """Who may use the site forms is decided before any view runs, not inside a helper
    that gathers the template's variables."""
    manager = make_staff("li", role="site_manager", sites=[site])
    assert sites_admin._admins_only in app.before_request_funcs["admin.sites"]
    with app.test_request_context(f"/admin/sites/{site.id}/edit"):
        g.staff, g.site_ids = manager, {site.id}
        assert sites_admin._form_context(site.id)["site"].id == site.id
