"""The ``kiosk`` command: a Flask CLI group bound to create_app.

    kiosk demo                       create/upgrade the database, load demo data once, serve
    kiosk db upgrade                 apply migrations (Flask-Migrate)
    kiosk catalog import FILE        import items (JSON array, JSON lines, CSV)
    kiosk catalog generate N --out F synthetic items for benchmarks
    kiosk create-admin USERNAME      an admin account
    kiosk token create USERNAME      an API bearer token for an admin's scripts
    kiosk bench search               search latency at 1,500 / 15,000 / 150,000 items
    kiosk bench http                 search throughput under gunicorn vs. a bare hello
    kiosk bench import               catalog import time
    kiosk bench heartbeat            heartbeat throughput under gunicorn
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .core import actors
from .core.database import upgrade_database
from .core.logs import configure_logging
from .extensions import db


def _create_app(*_args, **_kwargs) -> Flask:
    from .app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def main():
    """kiosk-backend: government-service self-service kiosks (政务服务自助终端)."""
    configure_logging()


def register(group: click.Group) -> None:
    """Put every command on the ``kiosk`` group (called once, at the end of this module).

    The commands live on the group, not on ``app.cli``: the app does not import the CLI,
    so there is no app ↔ cli import cycle.
    """
    from .core.worker import worker
    from .fleet.cli import fleet_cli
    from .fleet.profiles import profiles_cli

    group.add_command(demo)
    group.add_command(fleet_cli)
    group.add_command(profiles_cli)
    group.add_command(catalog_cli)
    group.add_command(create_admin)
    group.add_command(token_cli)
    group.add_command(bench_cli)
    group.add_command(worker)


# ------------------------------------------------------------------ demo

@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the database and data, then exit.")
@with_appcontext
def demo(host: str, port: int, no_serve: bool):
    """Create or upgrade the database, load the demo data once and serve the demo."""
    from .catalog import services as catalog

    upgrade_database()
    has_items = db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("catalog_item")))
    if not has_items:
        result = catalog.load_demo_catalog(db.session)
        db.session.commit()
        click.echo(f"Loaded demo catalog: {result.created} items.")
    else:
        click.echo(f"Demo data already present ({has_items} items); left as it is.")
    from .fleet.cli import prepare_demo_fleet

    base = f"http://{host}:{port}"
    kiosk_lines = prepare_demo_fleet(base)
    _demo_staff()
    db.session.commit()
    click.echo("")
    click.echo("kiosk-backend demo is ready.")
    click.echo("Kiosks (one per device profile; each link makes the browser that opens it that kiosk, once):")
    for line in kiosk_lines:
        click.echo(line)
    click.echo(f"  Then: {base}/kiosk/ (elder mode: ?elder=1, English: ?lang=en, search: /kiosk/search?q=社保)")
    click.echo(f"Admin console:                  {base}/admin/  (admin / {DEMO_ADMIN[1]}; site manager: manager / {DEMO_MANAGER[1]})")
    click.echo(f"  Phone guide page example:     {base}/m/items/{_any_task_code()}")
    click.echo(f"  JSON API (OpenAPI document):  {base}/api/v1/openapi.json")
    click.echo(f"  Search API example:           {base}/api/v1/catalog/items?q=sfz")
    click.echo(f"Database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    if no_serve:
        return
    click.echo("This is Flask's development server, fine for a demo; run gunicorn in production (see README).")
    # Flask's app.run() refuses to run inside its own CLI; werkzeug's server is what it uses.
    from werkzeug.serving import run_simple

    from .core.worker import start_embedded

    app = current_app._get_current_object()
    consumer = start_embedded(app)  # one background worker beside the server: outbox and periodic jobs
    click.echo(f"Background worker: 1 thread on {type(app.extensions['huey'].storage).__name__} (see `kiosk worker`).")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        consumer.stop(graceful=True)


DEMO_ADMIN = ("admin", "kiosk-demo-admin")
DEMO_MANAGER = ("manager", "kiosk-demo-manager")


def _demo_staff() -> None:
    """The demo's admin and a site manager for site JZ01 (once). Lives here, not in the
    fleet: staff accounts belong to identity, which the fleet must not import."""
    from .identity import services as identity
    from .identity.models import StaffUser
    from .sites import services as sites

    for (username, password), role in ((DEMO_ADMIN, "admin"), (DEMO_MANAGER, "site_manager")):
        if not db.session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)):
            user = identity.create_staff(db.session, username=username, password=password, role=role,
                                         actor=actors.SYSTEM)
            if role == "site_manager":
                first = sites.get_site_by_code(db.session, "JZ01")
                identity.assign_sites(db.session, user, [first.id], actor=actors.SYSTEM)


def _any_task_code() -> str:
    from .catalog.models import Item

    return db.session.scalar(sa.select(Item.task_code).order_by(Item.popularity.desc()).limit(1)) or ""


# ------------------------------------------------------------------ catalog

@click.group("catalog")
def catalog_cli():
    """Service-item catalog."""


@catalog_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "csv"]), help="Default: from the file name.")
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if some are invalid.")
@with_appcontext
def catalog_import(file: Path, fmt: str | None, dry_run: bool, skip_invalid: bool):
    """Import items from FILE (upsert by task_code). Nothing is written if any row is
    invalid, unless --skip-invalid."""
    from .catalog import services as catalog
    from .catalog.importer import detect_format, read_rows
    from .core.errors import DomainError

    data = file.read_bytes()
    fmt = fmt or detect_format(file.name, data[:64])
    try:
        # Counting rows first costs a parse; worth it only when a bar is worth showing.
        total = sum(1 for _ in read_rows(data, fmt)) if len(data) > 256 * 1024 else None
        with click.progressbar(length=total or 1, label="Checking", file=sys.stderr, show_pos=True) as bar:
            checked = catalog.check_file(data, fmt=fmt, progress=bar.update if total else None)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_zh}") from None
    for p in checked.problems[:200]:
        click.echo(f"line {p.line}: {p.field}: {p.message} / {p.message_zh}", err=True)
    if len(checked.problems) > 200:
        click.echo(f"... and {len(checked.problems) - 200} more problems", err=True)
    with click.progressbar(length=len(checked.valid) or 1, label="Writing ", file=sys.stderr, show_pos=True) as bar:
        result = catalog.import_items(db.session, checked, actor=actors.cli(), source=file.name,
                                      dry_run=dry_run, skip_invalid=skip_invalid,
                                      progress=bar.update)
    db.session.commit()
    r = result.report()
    click.echo(f"rows {r['rows']}, valid {r['valid']}, problems {len(checked.problems)}, "
               f"created {r['created']}, updated {r['updated']}, written {'yes' if r['written'] else 'no'}")
    if checked.problems and not skip_invalid and not dry_run:
        click.echo("Nothing was written. Fix the rows above or use --skip-invalid. / 未写入任何内容。", err=True)
        sys.exit(1)
    if dry_run and checked.problems:
        sys.exit(1)


@catalog_cli.command("generate")
@click.argument("count", type=click.IntRange(1, 10_000_000))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", default=2260, show_default=True)
def catalog_generate(count: int, out: Path, seed: int):
    """Write COUNT synthetic items to --out (JSON lines if it ends in .jsonl, else a JSON array)."""
    from .catalog.generate import generate_items

    items = generate_items(count, seed=seed)
    with open(out, "w", encoding="utf-8") as fh:
        if out.suffix == ".jsonl":
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        else:
            json.dump(list(items), fh, ensure_ascii=False)
    click.echo(f"wrote {count} items to {out}")


# ------------------------------------------------------------------ staff

@click.command("create-admin")
@click.argument("username")
@click.option("--password", envvar="KIOSK_ADMIN_PASSWORD", help="Default: asked for (or $KIOSK_ADMIN_PASSWORD).")
@click.option("--role", type=click.Choice(["admin", "site_manager", "helper"]), default="admin", show_default=True)
@click.option("--site", "site_codes", multiple=True, help="Site code a site manager looks after (repeatable).")
@with_appcontext
def create_admin(username: str, password: str | None, role: str, site_codes: tuple[str, ...]):
    """Create a staff account (admin by default; site managers with --site)."""
    from .core.errors import DomainError
    from .identity import services as identity
    from .sites import services as site_services

    sites = site_services.sites_by_codes(db.session, site_codes)
    missing = set(site_codes) - sites.keys()
    if missing:
        raise click.ClickException(f"Unknown site code(s): {', '.join(sorted(missing))} / 网点编号不存在")

    actor = actors.cli()
    if not password:
        if not sys.stdin.isatty():
            raise click.UsageError("No terminal to ask for a password: pass --password or set KIOSK_ADMIN_PASSWORD.")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = identity.create_staff(db.session, username=username, password=password, role=role, actor=actor)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_zh}") from None
    if sites:
        identity.assign_sites(db.session, user, [site.id for site in sites.values()], actor=actor)
    db.session.commit()
    click.echo(f"created {role} {username}" + (f" for {', '.join(site_codes)}" if site_codes else ""))


@click.group("token")
def token_cli():
    """API bearer tokens for staff scripts and integrations."""


@token_cli.command("create")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--days", default=90, show_default=True, type=int, help="Lifetime; 0 = no expiry.")
@with_appcontext
def token_create(username: str, name: str, days: int):
    """Print a new bearer token for USERNAME (shown once)."""
    from .core.errors import DomainError
    from .identity import services as identity

    try:
        token = identity.issue_token(db.session, username=username, name=name, days=days or None, actor=actors.cli())
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} / {exc.message_zh}") from None
    db.session.commit()
    click.echo(token)


# ------------------------------------------------------------------ benchmarks

@click.group("bench")
def bench_cli():
    """Benchmarks that print numbers (budgets in the README)."""


@bench_cli.command("search")
@click.option("--sizes", default="1500,15000,150000", show_default=True, help="Catalog sizes to measure.")
@click.option("--queries", default=2000, show_default=True, help="Queries per size.")
def bench_search(sizes: str, queries: int):
    """Search latency (p50/p95/p99) for a mixed query set, in-process, on a scratch database."""
    from .benchmarks.catalog import run_search_benchmark

    run_search_benchmark([int(s) for s in sizes.split(",")], queries, echo=click.echo,
                         database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


@bench_cli.command("http")
@click.option("--items", default=15000, show_default=True)
@click.option("--seconds", default=10.0, show_default=True, help="Load time per endpoint.")
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True, help="Threads per worker; 1 = sync workers.")
@click.option("--connections", default=8, show_default=True)
def bench_http(items: int, seconds: float, workers: int, threads: int, connections: int):
    """Search endpoint throughput under gunicorn, side by side with a bare JSON hello."""
    from .benchmarks.catalog import run_http_benchmark

    run_http_benchmark(items, seconds, workers=workers, threads=threads, connections=connections, echo=click.echo,
                       database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


@bench_cli.command("heartbeat")
@click.option("--kiosks", default=500, show_default=True, help="Enrolled kiosks the load rotates over.")
@click.option("--seconds", default=15.0, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
@click.option("--connections", default=16, show_default=True)
def bench_heartbeat(kiosks: int, seconds: float, workers: int, threads: int, connections: int):
    """Heartbeat throughput under gunicorn (wrk as the load generator)."""
    from .benchmarks.heartbeat import run_heartbeat_benchmark

    run_heartbeat_benchmark(kiosks, seconds, workers=workers, threads=threads, connections=connections,
                            echo=click.echo, database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


@bench_cli.command("import")
@click.option("--items", default=15000, show_default=True)
def bench_import(items: int):
    """Time `catalog import` of N generated items into a scratch database."""
    from .benchmarks.catalog import run_import_benchmark

    run_import_benchmark(items, echo=click.echo, database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


register(main)
