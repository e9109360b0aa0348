"""Admin console pages of the fleet: grid, kiosk page, sites, enrolment codes, alerts, usage."""
from __future__ import annotations

import io

import marshmallow as ma
from flask import Blueprint, Response, current_app, g, jsonify, redirect, render_template, request, url_for

from ..core.errors import DomainError, Invalid
from ..core.i18n import english_part, translate_validation_message
from ..core.printing import qr_image
from ..extensions import db
from ..core.requests import require_role
from . import divisions, heartbeats, schemas, services
from .models import COMMAND_KINDS, SITE_KINDS
from .services import WEEKDAYS
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

    rows = services.fleet(db.session, site_ids=g.site_ids, status=text("status"), site_id=args.get("site", type=int),
                          profile=text("profile"), q=text("q"))
    counts = {key: 0 for key in STATUS_LABELS}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return render_template("admin/fleet.html", rows=rows, counts=counts, labels=STATUS_LABELS,
                           sites=services.list_sites(db.session, g.site_ids), profiles=sorted(_profiles()), args=args,
                           open_alerts=len(services.list_alerts(db.session, site_ids=g.site_ids)))


@bp.get("/kiosks/<int:kiosk_id>")
def kiosk(kiosk_id):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    status = services.status_of(item, services.utcnow())
    return render_template("admin/kiosk.html", kiosk=item, status=status, labels=STATUS_LABELS,
                           history=heartbeats.heartbeat_history(db.session, item),
                           commands=services.commands_of(db.session, item), command_kinds=COMMAND_KINDS,
                           profile=_profiles().get(item.profile))


def _back_to_kiosk(kiosk_id: int, message: str):
    return redirect(url_for("admin.fleet.kiosk", kiosk_id=kiosk_id, done=message))


@bp.post("/kiosks/<int:kiosk_id>/<any(authorize, revoke, rotate):action>")
def kiosk_action(kiosk_id, action):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    {"authorize": services.authorize, "revoke": services.revoke, "rotate": services.request_rotation}[action](
        db.session, item, actor=g.actor)
    return _back_to_kiosk(kiosk_id, action)


@bp.post("/kiosks/<int:kiosk_id>/commands")
def send_command(kiosk_id):
    item = services.get_kiosk(db.session, kiosk_id, g.site_ids)
    form = request.form
    kind = form.get("kind", "")
    payload: dict = {}
    if kind == "show_message":
        payload = {"text": form.get("text", ""), "seconds": form.get("seconds", 30)}
    elif kind == "apply_settings":
        payload = {k: v for k, v in form.items() if k in services.SETTINGS_KEYS and v != ""}
    elif kind == "maintenance_on":
        payload = {"reason": form.get("reason", "")}
    try:
        services.issue_command(db.session, item, kind=kind, payload=payload, force=form.get("force") == "1",
                               actor=g.actor)
    except Invalid as exc:
        return render_template("admin/message.html", error=exc, back=url_for("admin.fleet.kiosk", kiosk_id=kiosk_id)), 422
    return _back_to_kiosk(kiosk_id, kind)


# ------------------------------------------------------------------ sites

def _site_form_data(form) -> dict:
    hours = {}
    for day in WEEKDAYS:
        ranges = [part.strip() for part in form.get(f"hours_{day}", "").replace("，", ",").split(",") if part.strip()]
        hours[day] = [part.split("-", 1) if "-" in part else [part, ""] for part in ranges]
    holidays = []
    for line in form.get("holidays", "").splitlines():
        parts = line.split(maxsplit=2)
        if parts:
            holidays.append({"date": parts[0], "open": len(parts) > 1 and parts[1] in ("班", "open", "上班"),
                             "note": parts[2] if len(parts) > 2 else ""})
    data = {k: (form.get(k) or None) for k in ("code", "kind", "name", "province_code", "city_code", "county_code",
                                                "address", "latitude", "longitude", "phone")}
    return {**{k: v for k, v in data.items() if v is not None}, "opening_hours": hours, "holidays": holidays}


def _field_errors(messages) -> dict[str, list[str]]:
    """marshmallow's (possibly nested) messages as {form field: ["English / 中文", …]}: a bad
    holiday line is reported as "line 2 date: …" instead of the bare list index."""

    def walk(value, where: str):
        if isinstance(value, dict):
            for key, inner in value.items():
                label = f"line {key + 1} / 第 {key + 1} 行 " if isinstance(key, int) else f"{key}: "
                yield from walk(inner, where + label)
        elif isinstance(value, (list, tuple)):
            for inner in value:
                yield from walk(inner, where)
        else:
            message = str(value)
            en, zh = english_part(message), translate_validation_message(message)
            yield where + (message if en == zh else f"{en} / {zh}")

    return {str(field): list(walk(value, "")) for field, value in messages.items()}


def _site_form(site=None, errors=None, values=None, status=200):
    return render_template("admin/site_form.html", site=site, errors=errors or {}, values=values, kinds=SITE_KINDS,
                           weekdays=WEEKDAYS, provinces=divisions.children(None)), status


@bp.get("/sites")
def sites():
    return render_template("admin/sites.html", sites=services.list_sites(db.session, g.site_ids), kinds=SITE_KINDS,
                           full_name=divisions.full_name, is_open=services.is_open, now=services.utcnow())


@bp.route("/sites/new", methods=["GET", "POST"])
def new_site():
    require_role("admin")
    if request.method == "GET":
        return _site_form()
    raw = _site_form_data(request.form)
    try:
        data = schemas.SiteIn().load(raw)
        site = services.create_site(db.session, actor=g.actor, **data)
    except ma.ValidationError as exc:
        return _site_form(errors=_field_errors(exc.messages), values=request.form, status=422)
    except DomainError as exc:
        return _site_form(errors=exc.errors or {"_": [f"{exc.message} / {exc.message_zh}"]}, values=request.form, status=exc.status_code)
    return redirect(url_for("admin.fleet.site", site_id=site.id))


@bp.route("/sites/<int:site_id>", methods=["GET", "POST"])
def site(site_id):
    if request.method == "POST":
        require_role("admin")  # editing a site is for admins, as the site page shows
    item = services.get_site(db.session, site_id, g.site_ids)
    if request.method == "GET":
        return render_template("admin/site.html", site=item, kinds=SITE_KINDS, full_name=divisions.full_name,
                               codes=services.enrolment_codes(db.session, item), profiles=sorted(_profiles()), new_code=None)
    raw = _site_form_data(request.form)
    raw.pop("code", None)
    try:
        data = schemas.SiteIn(partial=("code",)).load(raw)
        services.update_site(db.session, item, actor=g.actor, **data)
    except ma.ValidationError as exc:
        return _site_form(item, errors=_field_errors(exc.messages), values=request.form, status=422)
    except DomainError as exc:
        return _site_form(item, errors=exc.errors, values=request.form, status=exc.status_code)
    return redirect(url_for("admin.fleet.site", site_id=item.id))


@bp.get("/sites/<int:site_id>/edit")
def edit_site(site_id):
    require_role("admin")
    return _site_form(services.get_site(db.session, site_id, g.site_ids))


@bp.post("/sites/<int:site_id>/codes")
def new_code(site_id):
    item = services.get_site(db.session, site_id, g.site_ids)
    form = request.form
    try:
        hours = int(form.get("valid_hours", 24))
    except ValueError:
        hours = 0
    profile = form.get("profile") or None
    try:
        if profile is not None and profile not in _profiles():
            raise Invalid(f"Unknown device profile {profile!r}.", f"未知的设备型号 {profile!r}。",
                          errors={"profile": ["unknown / 未知"]})
        plain, record = services.create_enrolment_code(
            db.session, site=item, actor=g.actor, valid_hours=hours,
            pre_authorized=form.get("pre_authorized") == "1", profile=profile)
    except Invalid as exc:
        return render_template("admin/message.html", error=exc, back=url_for("admin.fleet.site", site_id=site_id)), 422
    # The plain code is shown on this one page and never again.
    return render_template("admin/site.html", site=item, kinds=SITE_KINDS, full_name=divisions.full_name,
                           codes=services.enrolment_codes(db.session, item), profiles=sorted(_profiles()), new_code=plain, new_record=record)


@bp.get("/codes/qr.png")
def code_qr():
    """QR of an activation URL, for the installer to scan with the kiosk's scanner."""
    code = request.args.get("code", "")[:32]
    url = request.url_root.rstrip("/") + url_for("kiosk.fleet.activate", code=code)
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
    return render_template("admin/usage.html", sites=services.list_sites(db.session, g.site_ids), args=request.args)


@bp.get("/usage.json")
def usage_json():
    args = request.args
    site_id, kiosk_id = args.get("site", type=int), args.get("kiosk", type=int)
    if site_id:
        services.get_site(db.session, site_id, g.site_ids)
    if kiosk_id:
        services.get_kiosk(db.session, kiosk_id, g.site_ids)
    days = max(1, min(90, args.get("days", 14, type=int)))
    return jsonify(services.usage_series(db.session, site_ids=g.site_ids, site_id=site_id, kiosk_id=kiosk_id, days=days))
