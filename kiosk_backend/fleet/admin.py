"""Admin console pages of the fleet: grid, kiosk page, sites, enrolment codes, alerts, usage."""
from __future__ import annotations

import io

from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, session, url_for

from ..core.clock import utcnow
from ..core.errors import Invalid
from ..core.forms import load_form
from ..core.printing import qr_image
from ..core.printing.links import public_url
from ..core.web import db_id
from ..extensions import db
from ..sites import divisions
from ..sites import services as sites
from ..sites.models import SITE_KINDS
from . import heartbeats, schemas, services
from .models import COMMAND_KINDS, EnrolmentCode
from .states import STATUS_LABELS

bp = Blueprint("fleet", __name__)


def _profiles():
    return current_app.extensions["device_profiles"]


@bp.get("/")
def grid():
    """The fleet: every kiosk the staff member may see, with status in colour and words."""
    args = request.args

    def text(name):  # PostgreSQL refuses NUL even in a comparison
        return args.get(name, "").replace("\x00", "")[:64] or None

    rows = services.fleet(db.session, site_ids=g.site_ids, status=text("status"), site_id=args.get("site", type=db_id),
                          profile=text("profile"), q=text("q"))
    counts = dict.fromkeys(STATUS_LABELS, 0)
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return render_template("admin/fleet.html", rows=rows, counts=counts, labels=STATUS_LABELS,
                           sites=sites.list_sites(db.session, g.site_ids), args=args, profile_name=_profile_name,
                           profiles=sorted(_profiles().values(), key=lambda p: p.name),
                           open_alerts=len(services.list_alerts(db.session, site_ids=g.site_ids)))


@bp.get("/kiosks/<int:kiosk_id>")
def kiosk(kiosk_id):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    status = services.status_of(item, utcnow())
    return render_template("admin/kiosk.html", kiosk=item, status=status, labels=STATUS_LABELS,
                           history=heartbeats.heartbeat_history(db.session, item),
                           commands=services.commands_of(db.session, item), command_kinds=COMMAND_KINDS,
                           profile=_profiles().get(item.profile), profile_name=_profile_name,
                           new_code=_one_time_code(kiosk_id=item.id))


def _profile_name(slug: str | None) -> str:
    """The device profile's display name (its slug if the profile file is gone)."""
    profile = _profiles().get(slug) if slug else None
    return profile.name if profile else (slug or "—")


# A new enrolment code is shown once, on the page the POST redirects to (post/redirect/get):
# it waits in the signed session cookie, and the first GET of the page it belongs to takes it
# out, so a reload neither makes another code nor shows this one again.
_NEW_CODE = "new_enrolment_code"


def _remember_code(plain: str, record, *, kiosk_id: int | None = None) -> None:
    session[_NEW_CODE] = {"code": plain, "record": record.id, "site": record.site_id, "kiosk": kiosk_id}


def _one_time_code(*, site_id: int | None = None, kiosk_id: int | None = None) -> dict | None:
    """The code waiting for this page ({"code", "record"}), taken out of the session; else None."""
    waiting = session.get(_NEW_CODE)
    if not isinstance(waiting, dict):
        return None
    if (kiosk_id is not None and waiting.get("kiosk") != kiosk_id) or (
            site_id is not None and (waiting.get("site") != site_id or waiting.get("kiosk") is not None)):
        return None
    session.pop(_NEW_CODE)
    record = db.session.get(EnrolmentCode, waiting.get("record"))
    if record is None or (g.site_ids is not None and record.site_id not in g.site_ids):
        return None
    return {"code": waiting["code"], "record": record}


def _back_to_kiosk(kiosk_id: int, message: str):
    return redirect(url_for("admin.fleet.kiosk", kiosk_id=kiosk_id, done=message))


@bp.post("/kiosks/<int:kiosk_id>/<any(authorize, revoke, rotate):action>")
def kiosk_action(kiosk_id, action):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    {"authorize": services.authorize, "revoke": services.revoke, "rotate": services.request_rotation}[action](
        db.session, item, actor=g.actor)
    return _back_to_kiosk(kiosk_id, action)


@bp.post("/kiosks/<int:kiosk_id>/reenrol")
def reenrol(kiosk_id):
    """Revoke the kiosk's credential now and show a code that enrols it again (same number)."""
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    data = load_form(schemas.ReenrolForm)  # the confirmation box must be ticked
    plain, record = services.revoke_credential_and_reenrol(db.session, item, actor=g.actor,
                                                           valid_hours=data["valid_hours"])
    _remember_code(plain, record, kiosk_id=item.id)
    return _back_to_kiosk(kiosk_id, "reenrol")


@bp.post("/kiosks/<int:kiosk_id>/commands")
def send_command(kiosk_id):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    data = load_form(schemas.CommandForm)
    services.issue_command(db.session, item, actor=g.actor, **data)
    return _back_to_kiosk(kiosk_id, data["kind"])


# ------------------------------------------------------------------ sites

@bp.get("/sites", endpoint="sites")
def site_list():
    """Every site the staff member may see, with its kiosk count and whether it is open now."""
    return render_template("admin/sites.html", sites=sites.list_sites(db.session, g.site_ids), kinds=SITE_KINDS,
                           full_name=divisions.full_name, is_open=sites.is_open, now=utcnow(),
                           kiosk_counts=services.kiosk_counts(db.session, g.site_ids))


@bp.get("/sites/<int:site_id>")
def site(site_id):
    """A site with its kiosks and enrolment codes."""
    return _site_page(sites.get_site(db.session, site_id, g.site_ids))


def _site_page(site):
    return render_template("admin/site.html", site=site, kinds=SITE_KINDS, full_name=divisions.full_name,
                           kiosks=services.kiosks_at(db.session, site), codes=services.enrolment_codes(db.session, site),
                           profiles=sorted(_profiles().values(), key=lambda p: p.name), profile_name=_profile_name,
                           new_code=_one_time_code(site_id=site.id))


@bp.post("/sites/<int:site_id>/codes")
def new_code(site_id):
    item = sites.get_site(db.session, site_id, g.site_ids)
    data = load_form(schemas.EnrolmentCodeForm)
    if data["profile"] is not None and data["profile"] not in _profiles():
        raise Invalid(f"Unknown device profile {data['profile']!r}.", f"未知的设备型号 {data['profile']!r}。",
                      errors={"profile": ["unknown / 未知"]})
    plain, record = services.create_enrolment_code(db.session, site=item, actor=g.actor, **data)
    _remember_code(plain, record)  # shown once, by the page this redirects to
    return redirect(url_for("admin.fleet.site", site_id=item.id) + "#new-code", code=303)


@bp.get("/codes/qr.png")
def code_qr():
    """QR of an activation URL, for the installer to scan with the kiosk's scanner."""
    code = request.args.get("code", "")[:32]
    url = public_url(url_for("kiosk.fleet.activate", code=code))
    out = io.BytesIO()
    qr_image(url, 300).save(out, format="PNG")
    return Response(out.getvalue(), mimetype="image/png", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------ alerts and usage

@bp.get("/alerts")
def alerts():
    show_all = request.args.get("all") == "1"
    return render_template("admin/alerts.html", alerts=services.list_alerts(db.session, site_ids=g.site_ids,
                                                                            open_only=not show_all), show_all=show_all)


@bp.post("/alerts/<int:alert_id>/ack")
def ack_alert(alert_id):
    services.acknowledge_alert(db.session, alert_id, actor=g.actor, site_ids=g.site_ids)
    return redirect(url_for("admin.fleet.alerts"))


@bp.get("/usage")
def usage():
    return render_template("admin/usage.html", sites=sites.list_sites(db.session, g.site_ids), args=request.args)


@bp.get("/usage.json")
def usage_json():
    args = request.args
    site_id, kiosk_id = args.get("site", type=db_id), args.get("kiosk", type=db_id)
    if site_id:
        sites.get_site(db.session, site_id, g.site_ids)
    if kiosk_id:
        services.get_kiosk(db.session, kiosk_id, g.site_ids)
    days = max(1, min(90, args.get("days", 14, type=int)))
    return jsonify(services.usage_series(db.session, site_ids=g.site_ids, site_id=site_id, kiosk_id=kiosk_id, days=days))
