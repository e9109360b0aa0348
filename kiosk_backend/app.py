"""The composition root: create_app() reads like the table of contents of the service."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, redirect, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from . import extensions
from .config import load_config
from .core import database, payloads, requests, web
from .core.errors import register_error_handlers
from .core.surfaces import admin_surface, kiosk_surface, mobile_surface

PROJECT_ROOT = Path(__file__).resolve().parent.parent
UI_ROOT = PROJECT_ROOT / "kiosk_ui"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _instance_path(config: Mapping[str, Any] | None) -> str:
    """``instance/`` under the working directory unless KIOSK_INSTANCE_PATH or the config say otherwise."""
    chosen = (config or {}).get("INSTANCE_PATH") or os.environ.get("KIOSK_INSTANCE_PATH") or Path.cwd() / "instance"
    return str(Path(chosen).resolve())


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=_instance_path(config),
        template_folder=str(UI_ROOT / "templates"),
        static_folder=str(UI_ROOT / "static"),
        static_url_path="/static",
    )
    app.config.from_mapping(load_config(app.instance_path, config))
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses
    hops = int(app.config.get("KIOSK_PROXY_COUNT") or 0)
    if hops:
        # Behind that many trusted proxies (a TLS load balancer): their X-Forwarded-For,
        # -Proto, -Host and -Port are believed, so cookies get Secure and client_ip() is the
        # resident's address. Never set it higher than the real number of proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    # Logging is configured by the entry point (kiosk CLI, kiosk_backend.wsgi), not here.

    # Data and plumbing.
    extensions.db.init_app(app)
    with app.app_context():
        database.configure_engine(extensions.db.engine)
    extensions.migrate.init_app(app, extensions.db, directory=str(MIGRATIONS), render_as_batch=True)
    extensions.api.init_app(app)
    extensions.limiter.init_app(app)  # rate limits: core.ratelimit, counted in Redis when KIOSK_REDIS_URL is set
    register_error_handlers(app)
    payloads.init_app(app)  # JSON bodies too deep or with over-long numbers: 400; uploads over the limit: 413
    web.init_app(app)
    requests.init_app(app)  # one commit per request (below 400 commit, else roll back); runs first
    from .core import jobs_admin, tasks

    tasks.init_app(app, jobs=("fleet.jobs", "identity.jobs", "applications.jobs", "courier.jobs"))  # outbox relay, task queue (Huey), periodic jobs

    from .core import (
        health,
        signing,  # noqa: F401 - signed requests' nonce table (core_request_nonce) is in the schema
    )

    app.register_blueprint(health.bp)

    # Kiosk hardware models: a broken profile file stops start-up, naming file and field.
    from .fleet.profiles import load_profiles

    app.extensions["device_profiles"] = load_profiles(Path(app.config["KIOSK_PROFILE_DIR"]))

    # JSON API (/api/v1), documented at /api/v1/openapi.json.
    from .catalog import api as catalog_api
    from .fleet import api as fleet_api

    extensions.api.register_blueprint(catalog_api.blp)
    extensions.api.register_blueprint(catalog_api.admin_blp)
    extensions.api.register_blueprint(fleet_api.blp)
    from .identity import api as identity_api

    extensions.api.register_blueprint(identity_api.blp)  # residents' mini-app: token, me, logout
    from .identity import qr_api

    extensions.api.register_blueprint(qr_api.blp)  # the mini-app's QR login at a kiosk: scan, confirm, deny
    from .applications import api as applications_api
    from .applications import department_api

    extensions.api.register_blueprint(applications_api.blp)  # the mini-app: my applications, lookup
    extensions.api.register_blueprint(department_api.blp)  # departments' signed requests: create, events
    from .courier import api as courier_api
    from .courier import callbacks as courier_callbacks

    extensions.api.register_blueprint(courier_api.blp)  # the mini-app: bookings (Idempotency-Key), cancel
    extensions.api.register_blueprint(courier_callbacks.blp)  # carriers' signed tracking pushes
    from .courier import cover_scans

    extensions.api.register_blueprint(cover_scans.blp)  # departments scan a cover sheet: 办理机关签收

    # Kiosk touch screens (/kiosk): only enrolled, authorized kiosks get past the gate.
    from .catalog import kiosk as catalog_kiosk
    from .catalog import mobile as catalog_mobile
    from .core import kiosk_shell
    from .fleet import kiosk as fleet_kiosk
    from .identity import kiosk as identity_kiosk
    from .identity import qr_kiosk, qr_mobile

    kiosk = kiosk_surface()
    kiosk.before_request(fleet_kiosk.require_kiosk)
    kiosk.before_request(identity_kiosk.load_kiosk_session)  # after the gate: the person logged in at this kiosk
    kiosk.after_request(identity_kiosk.session_headers)
    kiosk.context_processor(fleet_kiosk.kiosk_context)
    kiosk.context_processor(identity_kiosk.session_context)
    kiosk.register_blueprint(kiosk_shell.bp)
    kiosk.register_blueprint(fleet_kiosk.bp)
    kiosk.register_blueprint(identity_kiosk.bp)
    kiosk.register_blueprint(qr_kiosk.bp)  # 扫码登录: the login screen and its poll
    with app.app_context():  # the waiting kiosks' unchanged polls get their 304 below Flask
        app.wsgi_app = qr_kiosk.NotModifiedFastPath(app.wsgi_app, extensions.db.engine)
    kiosk.register_blueprint(catalog_kiosk.bp)
    from .applications import kiosk as applications_kiosk

    kiosk.register_blueprint(applications_kiosk.bp)  # 办件进度: lookup, my applications, receipts
    from .courier import kiosk as courier_kiosk

    kiosk.register_blueprint(courier_kiosk.bp)  # 邮寄材料 / 结果寄回家: book a pickup, cover sheet
    from .courier import timeline  # noqa: F401  (the postal legs on applications' timelines)
    app.register_blueprint(kiosk)

    # Admin console (/admin): server-side staff sessions, CSRF, roles.
    from .catalog import admin as catalog_admin
    from .fleet import admin as fleet_admin
    from .identity import admin as identity_admin
    from .sites import admin as sites_admin

    console = admin_surface()
    console.before_request(identity_admin.require_staff_session)
    console.context_processor(identity_admin.admin_context)
    console.register_blueprint(identity_admin.bp)
    console.register_blueprint(sites_admin.bp)
    console.register_blueprint(fleet_admin.bp)
    console.register_blueprint(catalog_admin.bp)
    console.register_blueprint(jobs_admin.bp)
    from .applications import admin as applications_admin
    from .core import calendar_admin

    console.register_blueprint(applications_admin.bp)  # applications, overdue, department clients
    console.register_blueprint(calendar_admin.bp)  # the working-day calendar (holiday arrangements)
    from .courier import admin as courier_admin

    console.register_blueprint(courier_admin.bp)  # bookings, pickup slots, carrier accounts, reconciliation
    app.register_blueprint(console)

    # Phone pages (/m): a resident's server-side session (cookie resident_session) when logged in.
    from .identity import mobile as identity_mobile

    mobile = mobile_surface()
    mobile.before_request(identity_mobile.load_resident)
    mobile.context_processor(identity_mobile.mobile_context)
    mobile.register_blueprint(identity_mobile.bp)
    mobile.register_blueprint(qr_mobile.bp)  # a kiosk's QR login code opened on the phone
    mobile.register_blueprint(catalog_mobile.bp)
    from .applications import mobile as applications_mobile

    mobile.register_blueprint(applications_mobile.bp)  # /m/applications: mine, and one by number
    from .courier import mobile as courier_mobile

    mobile.register_blueprint(courier_mobile.bp)  # /m/bookings: my bookings, their timeline, cancel
    app.register_blueprint(mobile)

    app.add_url_rule("/", "root", lambda: redirect(url_for("kiosk.catalog.home")))
    return app
