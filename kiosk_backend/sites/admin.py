"""Admin console pages of sites: the form to add or edit one (admins only).

The list of sites and a site's own page show kiosks and enrolment codes, so they belong
to the fleet (fleet/admin.py), which builds on sites.
"""
from __future__ import annotations

from flask import Blueprint, g, redirect, url_for

from ..core.forms import use_form
from ..core.requests import require_role
from ..extensions import db
from . import divisions, services
from .models import SITE_KINDS
from .schemas import WEEKDAYS, SiteForm

bp = Blueprint("sites", __name__, url_prefix="/sites")


@bp.before_request
def _admins_only():
    """Adding and editing sites is for admins; site managers see their sites in the fleet pages."""
    require_role("admin")


def _form_context(site_id: int | None = None) -> dict:
    site = services.get_site(db.session, site_id, g.site_ids) if site_id is not None else None
    return {"site": site, "kinds": SITE_KINDS, "weekdays": WEEKDAYS, "provinces": divisions.children(None)}


@bp.route("/new", methods=["GET", "POST"])
@use_form(SiteForm, "admin/site_form.html", context=_form_context)
def new(data):
    site = services.create_site(db.session, actor=g.actor, **data)
    return redirect(url_for("admin.fleet.site", site_id=site.id))


@bp.route("/<int:site_id>/edit", methods=["GET", "POST"])
@use_form(SiteForm(partial=("code",)), "admin/site_form.html", context=_form_context)
def edit(data, site_id):
    site = services.update_site(db.session, services.get_site(db.session, site_id, g.site_ids), actor=g.actor, **data)
    return redirect(url_for("admin.fleet.site", site_id=site.id))
