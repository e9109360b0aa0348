"""The ``kiosk`` command: a Flask CLI group bound to create_app.

    kiosk demo                       create/upgrade the database, load demo data once, serve
    kiosk db upgrade                 apply migrations (Flask-Migrate)
    kiosk catalog import FILE        import items (JSON array, JSON lines, CSV)
    kiosk catalog generate N --out F synthetic items for benchmarks
    kiosk create-admin USERNAME      an admin account
    kiosk token create USERNAME      an API bearer token for an admin's scripts
    kiosk department send …          sign and send a department API request from a JSON file
    kiosk bench search               search latency at 1,500 / 15,000 / 150,000 items
    kiosk bench http                 search throughput under gunicorn vs. a bare hello
    kiosk bench import               catalog import time
    kiosk bench heartbeat            heartbeat throughput under gunicorn
    kiosk bench qr                   QR login: confirm → kiosk latency, cost of 200 kiosks waiting
    kiosk bench progress             progress lookup latency with 100,000 applications
    kiosk bench courier              booking and tracking lookup latency with 100,000 bookings
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

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
    from .applications.department_cli import department_cli
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
    group.add_command(department_cli)


# ------------------------------------------------------------------ demo

@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the database and data, then exit.")
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, no_serve: bool):
    """Create or upgrade the database, load the demo data once and serve the demo."""
    # The first start takes half a minute (loading the app, migrations, then the catalog's
    # search data): say so before any of it, the app included.
    click.echo("Preparing the database… (the first start takes about half a minute) / 正在准备数据库…")
    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        _run_demo(app, host, port, no_serve)


def _run_demo(app: Flask, host: str, port: int, no_serve: bool) -> None:
    from .catalog import services as catalog

    app.config["KIOSK_DEMO"] = True  # QR codes may fall back to the request's host (with a warning)
    if "KIOSK_COURIER_POLL_QUIET_MINUTES" not in os.environ:
        # The demo carrier moves a parcel every KIOSK_DEMO_CARRIER_STEP_MINUTES: the worker asks
        # after parcels as often, so that a booking made in the demo is seen moving.
        app.config["KIOSK_COURIER_POLL_QUIET_MINUTES"] = float(app.config.get("KIOSK_DEMO_CARRIER_STEP_MINUTES") or 2)
    # The demo has said it is preparing the database: alembic's line per revision (with its
    # description) is for `kiosk db upgrade`, not for someone trying the demo.
    upgrade_database(quiet=True)
    has_items = db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("catalog_item")))
    if not has_items:
        click.echo("Loading the demo catalog (first start only)… / 正在载入演示事项…")
        result = catalog.load_demo_catalog(db.session)
        db.session.commit()
        click.echo(f"Loaded demo catalog: {result.created} items.")
    else:
        click.echo(f"Demo data already present ({has_items} items); left as it is.")
    from .fleet.cli import prepare_demo_fleet

    click.echo("Setting up the demo sites, kiosks and accounts… / 正在准备演示网点、终端和账号…")
    base = f"http://{_shown_host(host)}:{port}"
    kiosk_lines = prepare_demo_fleet(base)
    _demo_staff()
    _demo_applications()
    courier_line = _demo_courier(base)
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
    for line in _demo_lookup_lines(base):
        click.echo(line)
    click.echo(courier_line)
    click.echo(f"Database: {current_app.config['SQLALCHEMY_DATABASE_URI']}")
    for line in _public_url_notes(current_app.config.get("KIOSK_PUBLIC_URL") or "", host, port):
        click.secho(line, fg="yellow")
    if no_serve:
        return
    click.echo("This is Flask's development server, fine for a demo; run gunicorn in production (see README).")
    # Flask's app.run() refuses to run inside its own CLI; werkzeug's server is what it uses.
    import werkzeug.serving
    from werkzeug.serving import run_simple

    from .core.worker import start_embedded

    # werkzeug colours its banner and request lines whatever the output is; a log file or a
    # pipe gets plain text (click.echo/secho strip their own styles there already).
    werkzeug.serving._log_add_style = _is_terminal(sys.stderr)
    consumer = start_embedded(app)  # one background worker beside the server: outbox and periodic jobs
    click.echo(f"Background worker: 1 thread on {type(app.extensions['huey'].storage).__name__} (see `kiosk worker`).")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        consumer.stop(graceful=True)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _shown_host(host: str) -> str:
    """The host to print in links: a wildcard address is not one a browser can open."""
    if host in ("0.0.0.0", "::", ""):
        return lan_address() or "127.0.0.1"
    return host


def lan_address() -> str | None:
    """This machine's address on its local network, or None.

    Connecting a UDP socket only picks the route and the source address; no packet is
    sent, so this works offline and behind firewalls. 10.255.255.255 is a private
    address: the answer is the interface a LAN peer (a phone on the same Wi-Fi) would reach.
    """
    import ipaddress
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return None if parsed.is_loopback or parsed.is_unspecified else address


def _public_url_notes(public_url: str, host: str, port: int) -> list[str]:
    """What the demo says about the address in its QR codes (a phone must be able to open it)."""
    if public_url:
        return [f"QR codes point at KIOSK_PUBLIC_URL={public_url} / 二维码使用 KIOSK_PUBLIC_URL 的地址。"]
    lan = lan_address()
    shown = _shown_host(host)
    lines = [f"Warning: KIOSK_PUBLIC_URL is not set, so QR codes point at the address the kiosk browser uses "
             f"(here http://{shown}:{port}/ …), which a phone may not be able to open. / "
             f"未设置 KIOSK_PUBLIC_URL：二维码使用终端浏览器访问的地址，手机可能打不开。"]
    if lan:
        lines.append(f"  For phones on the same network, start the demo as: KIOSK_PUBLIC_URL=http://{lan}:{port} "
                     f"kiosk demo --host 0.0.0.0 --port {port}")
    else:
        lines.append(f"  For phones on the same network, start the demo as: KIOSK_PUBLIC_URL=http://<this computer's "
                     f"LAN address>:{port} kiosk demo --host 0.0.0.0 --port {port}")
    return lines


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


def _demo_applications() -> None:
    """The demo residents' applications (once), after the catalog and the sites they name."""
    from .applications import demo as applications_demo

    if applications_demo.already_loaded(db.session):
        click.echo("Demo applications already present; left as they are.")
        return
    click.echo("Loading the demo applications (first start only)… / 正在载入演示办件…")
    created = applications_demo.load_demo_applications(db.session)
    click.echo(f"Loaded demo applications: {created} (every state; local, online, proxy and joint; "
               f"跨省通办 ones handled in 深圳, 杭州 and 北京朝阳).")
    for year, count in applications_demo.waiting_for_calendar(db.session).items():
        click.echo(f"  {count} of them run into {year}, which has no working-day calendar yet (hence the warnings): "
                   f"they show 期限待定 until an admin adds {year}'s holiday arrangement in the console.")


def _demo_courier(base: str) -> str:
    """Pickup slots, authorities' addresses and the demo residents' bookings (courier/demo.py),
    after the applications they are for; returns the line saying how to try booking."""
    from .courier import demo as courier_demo

    click.echo("Preparing the courier demo (slots, addresses, bookings)… / 正在准备寄递演示数据…")
    loaded = courier_demo.load_demo_courier(db.session)
    if loaded.booked:
        states = ", ".join(f"{count} {state}" for state, count in sorted(loaded.bookings.items()))
        click.echo(f"Loaded demo bookings: {loaded.booked} ({states}); {loaded.slots} pickup slots, "
                   f"{loaded.authorities} handling authorities' addresses.")
    else:
        click.echo(f"Demo bookings already present; {loaded.slots} new pickup slots for the next "
                   f"{courier_demo.DAYS_AHEAD} days.")
    example = courier_demo.to_try(db.session)
    start = (f"log in at a kiosk as {example[0]} and open {base}/kiosk/courier/new?application={example[1]}&leg=result"
             if example else f"log in at a kiosk as a demo resident and open {base}/kiosk/courier/new")
    return (f"Courier (结果寄回家 / 邮寄材料): {start} (or 结果寄回家 on the application's 办件进度 screen); the demo carrier "
            f"moves parcels every few minutes; console: {base}/admin/courier/")


def _demo_lookup_lines(base: str) -> list[str]:
    """A few demo applications to look up at once: number, applicant, last 4 of ID and phone."""
    from .applications import demo as applications_demo
    from .core.i18n import translate

    found = applications_demo.examples(db.session)
    if not found:
        return []
    pages = sorted((rule.rule for rule in current_app.url_map.iter_rules()
                    if rule.endpoint.startswith("kiosk.progress.") and not rule.arguments), key=len)
    where = f" at {base}{pages[0]}" if pages else ""
    lines = [f"Progress lookup without login (办件查询){where}: a number plus the last 4 characters of the "
             "applicant's ID or phone, e.g."]
    for example in found:
        said = [translate(f"application.state.{example.state}")]
        if example.deadline["key"] != "deadline.finished":
            said.append(translate(example.deadline["key"], count=example.deadline["count"]))
        if example.cross_province:
            said.append("跨省通办")
        lines.append(f"  {example.number:<22} ID …{example.id_tail} / phone …{example.phone_tail}  "
                     f"{example.resident}: {example.item_name}（{'，'.join(said)}）")
    lines.append("  A demo resident who logs in (kiosk QR login or phone) sees all their applications (我的办件).")
    return lines


# ------------------------------------------------------------------ catalog

@click.group("catalog")
def catalog_cli():
    """Service-item catalog."""


@catalog_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "csv"]), help="Default: from the file name.")
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if some are invalid.")
@click.option("--max-rows", type=click.IntRange(1), default=None,
              help="Refuse files with more rows. Default: KIOSK_IMPORT_MAX_ROWS (20,000).")
@with_appcontext
def catalog_import(file: Path, fmt: str | None, dry_run: bool, skip_invalid: bool, max_rows: int | None):
    """Import items from FILE (upsert by task_code). Nothing is written if any row is
    invalid, unless --skip-invalid. The file is read as a stream; the first
    KIOSK_IMPORT_MAX_PROBLEMS problems (200) are printed and all are counted."""
    import itertools

    from .catalog import services as catalog
    from .catalog.importer import detect_format, import_limits, read_rows
    from .core.errors import DomainError

    limits = import_limits(current_app.config)
    if max_rows is not None:
        limits["max_rows"] = max_rows
    with open(file, "rb") as stream:
        try:
            # Counting rows first costs a parse; worth it only when a bar is worth showing.
            total = None
            if file.stat().st_size > 256 * 1024:
                fmt = fmt or detect_format(file.name, stream.read(64))
                stream.seek(0)
                total = sum(1 for _ in itertools.islice(read_rows(stream, fmt), limits["max_rows"] + 1))
                stream.seek(0)
            with click.progressbar(length=total or 1, label="Checking", file=sys.stderr, show_pos=True) as bar:
                checked = catalog.check_file(stream, filename=file.name, fmt=fmt,
                                             progress=bar.update if total else None, **limits)
        except DomainError as exc:
            raise click.ClickException(f"{exc.message} / {exc.message_zh}") from None
    for p in checked.problems:
        click.echo(f"line {p.line}: {p.field}: {p.message} / {p.message_zh}", err=True)
    if checked.more_problems:
        click.echo(f"... and {checked.more_problems} more problems / 另有 {checked.more_problems} 处问题未列出", err=True)
    with click.progressbar(length=len(checked.valid) or 1, label="Writing ", file=sys.stderr, show_pos=True) as bar:
        result = catalog.import_items(db.session, checked, actor=actors.cli(), source=file.name,
                                      dry_run=dry_run, skip_invalid=skip_invalid,
                                      progress=bar.update)
    db.session.commit()
    r = result.report()
    click.echo(f"rows {r['rows']}, valid {r['valid']}, problems {r['problems_total']}, "
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


@bench_cli.command("qr")
@click.option("--kiosks", default=200, show_default=True, help="Kiosks waiting at their login screens at once.")
@click.option("--wait-seconds", default=15.0, show_default=True, help="Measured waiting with nobody confirming.")
@click.option("--login-seconds", default=30.0, show_default=True, help="Over which every kiosk's resident confirms once.")
@click.option("--poll-ms", default=500, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--threads", default=4, show_default=True)
@click.option("--keep-alive/--no-keep-alive", default=False, show_default=True,
              help="Kiosks keep their connection open (it then stays with one gunicorn worker).")
def bench_qr(kiosks: int, wait_seconds: float, login_seconds: float, poll_ms: int, workers: int, threads: int,
             keep_alive: bool):
    """QR login: confirm → kiosk latency with N kiosks polling, and the cost of their waiting."""
    from .benchmarks.qr import run_qr_benchmark

    run_qr_benchmark(kiosks, wait_seconds=wait_seconds, login_seconds=login_seconds, poll_ms=poll_ms,
                     workers=workers, threads=threads, keep_alive=keep_alive, echo=click.echo,
                     database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


@bench_cli.command("import")
@click.option("--items", default=15000, show_default=True)
def bench_import(items: int):
    """Time `catalog import` of N generated items into a scratch database."""
    from .benchmarks.catalog import run_import_benchmark

    run_import_benchmark(items, echo=click.echo, database_url=os.environ.get("KIOSK_BENCH_DATABASE_URL"))


@bench_cli.command("progress")
@click.option("--count", default="100000", show_default=True,
              help="Applications in the database; several sizes comma-separated (10000,100000) show the growth.")
@click.option("--lookups", default=2000, show_default=True, help="Measured calls per kind.")
@click.option("--database-url", envvar="KIOSK_BENCH_DATABASE_URL",
              help="PostgreSQL to work in (a scratch schema, dropped afterwards); default a temporary SQLite file.")
def bench_progress(count: str, lookups: int, database_url: str | None):
    """Progress lookup (number + last 4), my applications and the progress view, in-process."""
    from .benchmarks.progress import run_progress_benchmark

    run_progress_benchmark([int(c) for c in count.split(",")], lookups, echo=click.echo, database_url=database_url)


@bench_cli.command("courier")
@click.option("--count", default="100000", show_default=True,
              help="Bookings in the database; several sizes comma-separated (10000,100000) show the growth.")
@click.option("--calls", default=2000, show_default=True, help="Measured calls per kind.")
@click.option("--applications", default=100000, show_default=True,
              help="Applications in the database beside the bookings (0: none; the legs are then standalone).")
@click.option("--database-url", envvar="KIOSK_BENCH_DATABASE_URL",
              help="PostgreSQL to work in (a scratch schema, dropped afterwards); default a temporary SQLite file.")
def bench_courier(count: str, calls: int, applications: int, database_url: str | None):
    """Booking (services.book) and tracking lookups with 100,000 bookings, in-process."""
    from .benchmarks.courier import run_courier_benchmark

    run_courier_benchmark([int(c) for c in count.split(",")], calls, applications=applications, echo=click.echo,
                          database_url=database_url)


@bench_cli.command("relevance")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the tables.")
@click.option("--part", type=click.Choice(["tuning", "heldout", "both"]), default="both", show_default=True,
              help="Which queries: the tuning part, the held-out third, or both side by side.")
@click.option("--show-misses", is_flag=True, help="Print the tuning part's misses (never the held-out part's).")
@click.option("--config", "configs", default="full,no-dictionary,names-only,plain-bm25", show_default=True,
              help="Comma-separated: full (dictionaries on), no-dictionary (pipeline alone), names-only (dictionaries "
                   "on, the catalog stripped to item names and departments), plain-bm25 (baseline).")
@click.option("--database-url", envvar="KIOSK_BENCH_DATABASE_URL",
              help="PostgreSQL to work in (a scratch schema, dropped afterwards); default a temporary SQLite file.")
def bench_relevance(as_json: bool, part: str, show_misses: bool, configs: str, database_url: str | None):
    """Search relevance on the demo catalog: recall@1, recall@5, MRR@10 and empty results per kind of query."""
    from .benchmarks.relevance import CONFIGS, run_relevance_benchmark

    chosen = [c.strip() for c in configs.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown or not chosen:
        raise click.BadParameter(f"unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONFIGS)}",
                                 param_hint="--config")
    run_relevance_benchmark(chosen, part=part, show_misses=show_misses, as_json=as_json, echo=click.echo,
                            database_url=database_url)


register(main)
