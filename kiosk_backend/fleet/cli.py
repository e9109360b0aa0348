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
    # The demo catalog is for the fictional 江州市 (its phone numbers start 0710, its service centre is on
    # 市民大道, its districts are 滨江新区 and 经开区); the demo sites are in the same city and say so.
    # Site division codes must be real GB/T 2260 codes (the catalog's made-up 3699 is refused), so the
    # sites stand on 九江's codes (36 江西 / 3604): 江州 is 九江's old name. The console's region column
    # shows the codes' real names; the addresses therefore name only the district and street.
    dict(code="JZ01", kind="post_office", name="江州市民大道邮政营业所", province_code="36", city_code="3604",
         county_code="360403", address="滨江新区市民大道 118 号", latitude=29.7139, longitude=116.0020,
         phone="0710-88221234", profile="post-office-portrait"),
    dict(code="JZ02", kind="bank_branch", name="建设银行江州分行营业部", province_code="36", city_code="3604",
         county_code="360402", address="经开区通达路 399 号", latitude=29.6800, longitude=116.0210,
         phone="0710-88556677", profile="bank-lobby-landscape"),
    dict(code="JZ03", kind="community_centre", name="江州市白水湖社区党群服务中心", province_code="36", city_code="3604",
         county_code="360403", address="滨江新区湖滨路 26 号", latitude=29.7010, longitude=115.9920,
         phone="0710-88123456", profile="community-tablet"),
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
