"""`kiosk fleet …` commands and the demo fleet."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core.actors import SYSTEM
from ..extensions import db
from ..sites import services as sites
from . import services
from .models import Kiosk

DEMO_SITES = [
    # 江州 is the old name of 九江 (Jiangxi); the demo uses its real division codes.
    dict(code="JZ01", kind="post_office", name="九江浔阳路邮政营业所", province_code="36", city_code="3604",
         county_code="360403", address="浔阳路 118 号", latitude=29.7139, longitude=116.0020, phone="0792-8221234",
         profile="post-office-portrait"),
    dict(code="JZ02", kind="bank_branch", name="建设银行九江分行营业部", province_code="36", city_code="3604",
         county_code="360402", address="长虹大道 399 号", latitude=29.6800, longitude=116.0210, phone="0792-8556677",
         profile="bank-lobby-landscape"),
    dict(code="JZ03", kind="community_centre", name="白水湖社区党群服务中心", province_code="36", city_code="3604",
         county_code="360403", address="湖滨路 26 号", latitude=29.7010, longitude=115.9920, phone="0792-8123456",
         profile="community-tablet"),
]
WEEKDAY_HOURS = [["08:30", "12:00"], ["14:00", "17:30"]]


@click.group("fleet")
def fleet_cli():
    """Kiosk fleet."""


@fleet_cli.command("check-alerts")
@with_appcontext
def check_alerts():
    """Open offline alerts for silent kiosks now (the worker does this every minute)."""
    opened = services.evaluate_offline_alerts(db.session, minutes=current_app.config["KIOSK_OFFLINE_ALERT_MINUTES"])
    db.session.commit()
    click.echo(f"opened {opened} offline alert(s)")


def prepare_demo_fleet(base_url: str) -> list[str]:
    """Demo sites and one authorized kiosk per device profile (once). Flushes; the
    caller commits.

    Returns lines to print: for each kiosk a URL with a fresh single-use re-enrolment
    code, so whichever browser opens it becomes that kiosk.
    """
    import sqlalchemy as sa

    profiles = current_app.extensions["device_profiles"]
    lines = []
    for spec in DEMO_SITES:
        spec = dict(spec)
        profile = spec.pop("profile")
        site = sites.get_site_by_code(db.session, spec["code"])
        if site is None:
            hours = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), WEEKDAY_HOURS) | {"sat": [["09:00", "12:00"]], "sun": []}
            site = sites.create_site(db.session, actor=SYSTEM, opening_hours=hours,
                                     holidays=[{"date": "2026-10-01", "open": False, "note": "国庆节"}], **spec)
        kiosk = db.session.scalar(sa.select(Kiosk).where(Kiosk.site_id == site.id, Kiosk.profile == profile,
                                                         Kiosk.state != "revoked"))
        if kiosk is None and profile in profiles:
            code, _ = services.create_enrolment_code(db.session, site=site, actor=SYSTEM, pre_authorized=True,
                                                     profile=profile)
            kiosk, _credential = services.activate(db.session, code=code, profile=profile, known_profiles=profiles)
        if kiosk is None:
            continue
        code, _ = services.create_reenrolment_code(db.session, kiosk=kiosk, actor=SYSTEM)
        lines.append(f"  {kiosk.number} {profiles[profile].name:<14} {base_url}/kiosk/activate?code={code}&profile={profile}")
    return lines
