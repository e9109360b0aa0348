"""`kiosk department …`: department clients, and signed requests to try the department API.

    kiosk department create-client NAME [--region 360400]   a key id and secret (the secret shown once)
    kiosk department clients                                the registered clients
    kiosk department send --create FILE                     POST /api/v1/departments/applications
    kiosk department send --event NUMBER FILE               POST /api/v1/departments/applications/NUMBER/events
    kiosk department show NUMBER                            GET  /api/v1/departments/applications/NUMBER

``send`` and ``show`` are HTTP clients: they need no database, only the server's URL
(``--url``, KIOSK_DEPARTMENT_URL; the demo's by default), the key id (``--key-id``,
KIOSK_DEPARTMENT_KEY_ID) and the secret (KIOSK_DEPARTMENT_SECRET, else asked for without
echo; ``--secret`` works too but leaves it in the shell's history). FILE is the JSON body,
sent byte for byte as signed (core/signing.py). They print the status and the answer, and
exit with 1 when the server refused (4xx/5xx) or could not be reached.

Examples that work against ``kiosk demo`` ship in applications/data/department_examples/.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, urlsplit

import click
from flask.cli import with_appcontext
from werkzeug.http import HTTP_STATUS_CODES

from ..core import actors, signing
from ..core.errors import DomainError
from ..core.gateways import HttpRequest, HttpResponse, HttpTransport, TransportError, UrllibTransport
from ..extensions import db
from . import departments

EXAMPLES = Path(__file__).resolve().parent / "data" / "department_examples"
DEFAULT_URL = "http://127.0.0.1:8000"  # `kiosk demo`
API = "/api/v1/departments/applications"


def send_signed(method: str, url: str, path: str, *, key_id: str, secret: str, body: bytes = b"",
                transport: HttpTransport | None = None, timeout: float = 15.0) -> HttpResponse:
    """One signed request to ``url`` + ``path``; the answer whatever its status. Raises
    TransportError when no answer came."""
    base = url.rstrip("/")
    full_path = urlsplit(base).path + path  # what the server sees as the path (no proxy prefix stripped)
    headers = signing.sign(secret, key_id=key_id, method=method, path=full_path, body=body)
    if body:
        headers["Content-Type"] = "application/json"
    transport = transport or UrllibTransport(timeout=timeout, user_agent="kiosk-department-cli")
    return transport.send(HttpRequest(method, base + path, headers, body))


@click.group("department")
def department_cli():
    """Department systems: clients and signed requests to the department API."""


# ---------------------------------------------------------------- clients (need the database)

@department_cli.command("create-client")
@click.argument("name")
@click.option("--region", default=None, help="The department's 6-digit division code (GB/T 2260), e.g. 360400.")
@with_appcontext
def create_client(name: str, region: str | None):
    """Register a department system: prints its key id and secret (shown only this once)."""
    try:
        client, secret = departments.create_client(db.session, name=name, region_code=region, actor=actors.cli())
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.message} / {exc.message_zh}") from None
    click.echo(f"Department client created: {client.name}" + (f" ({client.region_code})" if client.region_code else ""))
    click.echo(f"  key id:  {client.key_id}")
    click.echo(f"  secret:  {secret}")
    click.echo("The secret is shown only this once; give it to the department's system over a safe channel.")
    click.echo("Try it (the secret from the environment is never echoed):")
    click.echo(f"  export KIOSK_DEPARTMENT_KEY_ID={client.key_id} KIOSK_DEPARTMENT_SECRET=<the secret>")
    click.echo(f"  kiosk department send --create {EXAMPLES / 'create.json'}")


@department_cli.command("clients")
@with_appcontext
def list_clients():
    """The registered department clients (never their secrets)."""
    clients = departments.list_clients(db.session)
    if not clients:
        click.echo("No department clients yet: kiosk department create-client NAME")
        return
    for client in clients:
        seen = f"{client.last_seen_at:%Y-%m-%d %H:%M} UTC" if client.last_seen_at else "never"
        click.echo(f"{client.key_id:<20} {'active' if client.active else 'disabled':<8} "
                   f"{client.region_code or '-':<6} last seen {seen:<20} {client.name}")


# ---------------------------------------------------------------- signed requests (HTTP only)

def _connection(command):
    """The options every signed request needs."""
    command = click.option("--secret", envvar="KIOSK_DEPARTMENT_SECRET", prompt="Secret", hide_input=True,
                           show_envvar=True, help="The client's secret; better from the environment.")(command)
    command = click.option("--key-id", envvar="KIOSK_DEPARTMENT_KEY_ID", required=True, show_envvar=True,
                           help="The client's key id (kiosk department create-client).")(command)
    command = click.option("--url", envvar="KIOSK_DEPARTMENT_URL", default=DEFAULT_URL, show_default=True,
                           show_envvar=True, help="The server's base URL.")(command)
    return command


def _body_of(file: Path) -> bytes:
    body = file.read_bytes()
    try:
        parsed = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise click.BadParameter(f"{file} is not UTF-8 JSON: {exc}", param_hint="FILE") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"{file} must hold one JSON object (the request body)", param_hint="FILE")
    return body


def _report(method: str, path: str, answer: HttpResponse) -> None:
    """The status and the answer; exit 1 unless the server accepted."""
    click.echo(f"{method} {path} → {answer.status} {HTTP_STATUS_CODES.get(answer.status, '')}".rstrip())
    text = answer.body.decode("utf-8", "replace")
    try:
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        pass
    if text:
        click.echo(text)
    if not answer.ok:
        raise click.exceptions.Exit(1)


def _send(method: str, path: str, *, url: str, key_id: str, secret: str, body: bytes = b"") -> None:
    try:
        answer = send_signed(method, url, path, key_id=key_id, secret=secret, body=body)
    except TransportError as exc:
        raise click.ClickException(f"no answer from {url}: {exc}") from None
    _report(method, path, answer)


@department_cli.command("send")
@click.option("--create", "create_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Create an application: FILE is its JSON.")
@click.option("--event", "event", type=(str, click.Path(exists=True, dir_okay=False, path_type=Path)),
              metavar="NUMBER FILE", help="Push an event to application NUMBER: FILE is the event's JSON.")
@_connection
def send(create_file: Path | None, event: tuple[str, Path] | None, url: str, key_id: str, secret: str):
    """Sign a JSON file and send it to the department API.

    \b
    kiosk department send --create create.json
    kiosk department send --event EXAMPLE-2026-000001 accept.json
    """
    if (create_file is None) == (event is None):
        raise click.UsageError("Give one of --create FILE or --event NUMBER FILE.")
    if create_file is not None:
        path, body = API, _body_of(create_file)
    else:
        number, file = event
        path, body = f"{API}/{quote(number, safe='')}/events", _body_of(file)
    _send("POST", path, url=url, key_id=key_id, secret=secret, body=body)


@department_cli.command("show")
@click.argument("number")
@_connection
def show(number: str, url: str, key_id: str, secret: str):
    """The application NUMBER (state and timeline), as its department sees it."""
    _send("GET", f"{API}/{quote(number, safe='')}", url=url, key_id=key_id, secret=secret)
