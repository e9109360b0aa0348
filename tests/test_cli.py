"""The `kiosk` command."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from kiosk_backend.catalog.models import Item
from kiosk_backend.cli import main
from kiosk_backend.extensions import db
from tests.conftest import item_row


@pytest.fixture
def runner(app):
    """Runs the ``kiosk`` group (commands live on it, not on app.cli) against the test app."""
    runner = app.test_cli_runner()
    invoke = runner.invoke
    runner.invoke = lambda cli=None, args=None, **kw: invoke(cli or main, args, **kw)
    return runner


def write(tmp_path, rows, name="items.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Item))


def test_catalog_import_writes_a_valid_file(runner, tmp_path):
    result = runner.invoke(args=["catalog", "import", str(write(tmp_path, [item_row(task_code="A1"), item_row(task_code="A2")]))])
    assert result.exit_code == 0, result.output
    assert "created 2" in result.output and count() == 2


def test_catalog_import_reports_problems_by_line_and_writes_nothing(runner, tmp_path):
    path = write(tmp_path, [item_row(task_code="A1"), item_row(task_code="A2", task_type="99")])
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 1
    assert "line 8: task_type" in result.output and "Nothing was written" in result.output
    assert count() == 0


def test_catalog_import_can_skip_invalid_rows(runner, tmp_path):
    path = write(tmp_path, [item_row(task_code="A1"), item_row(task_code="A2", task_type="99")])
    result = runner.invoke(args=["catalog", "import", "--skip-invalid", str(path)])
    assert result.exit_code == 0 and count() == 1


def test_catalog_import_dry_run_validates_only(runner, tmp_path):
    result = runner.invoke(args=["catalog", "import", "--dry-run", str(write(tmp_path, [item_row(task_code="A1")]))])
    assert result.exit_code == 0 and "written no" in result.output and count() == 0


def test_an_unreadable_file_is_a_clear_error(runner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"task_name": "x"}')
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code != 0 and "array" in result.output


def test_generated_items_are_plausible_and_import_cleanly(runner, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert runner.invoke(args=["catalog", "generate", "200", "--out", str(out)]).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200 and len({json.loads(line)["task_code"] for line in lines}) == 200
    result = runner.invoke(args=["catalog", "import", str(out)])
    assert result.exit_code == 0 and count() == 200


def test_create_admin_and_token(runner):
    result = runner.invoke(args=["create-admin", "admin", "--password", "a long passphrase"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["token", "create", "admin", "--name", "import script"])
    token = result.output.strip().splitlines()[-1]
    assert result.exit_code == 0 and len(token) >= 40
    assert runner.invoke(args=["create-admin", "admin", "--password", "a long passphrase"]).exit_code != 0
    assert "at least" in runner.invoke(args=["create-admin", "x", "--password", "short"]).output


def test_create_admin_and_token_create_are_audited_as_the_cli_without_the_token(runner):
    from kiosk_backend.core import audit

    assert runner.invoke(args=["create-admin", "admin", "--password", "a long passphrase"]).exit_code == 0
    token = runner.invoke(args=["token", "create", "admin", "--name", "import script"]).output.strip().splitlines()[-1]
    entries = list(reversed(audit.search(db.session)))
    assert [(e.actor, e.action, e.target) for e in entries] == [("system:cli", "staff.create", "staff:admin"),
                                                                ("system:cli", "token.create", "staff:admin")]
    assert token not in repr([e.details for e in entries])


def test_create_admin_without_a_terminal_says_how_to_pass_the_password(runner):
    result = runner.invoke(args=["create-admin", "admin"], input="")
    assert result.exit_code != 0 and "KIOSK_ADMIN_PASSWORD" in result.output


def test_demo_prepares_the_database_once_and_prints_the_urls(make_app):
    app = make_app(create_schema=False)
    runner = app.test_cli_runner()
    with app.app_context():
        first = runner.invoke(main, args=["demo", "--no-serve", "--port", "8123"])
        assert first.exit_code == 0, first.output
        assert "Loaded demo catalog: 350 items." in first.output
        assert "http://127.0.0.1:8123/kiosk/" in first.output and "/api/v1/openapi.json" in first.output
        second = runner.invoke(main, args=["demo", "--no-serve"])
        assert "already present" in second.output


def test_the_console_script_lists_its_commands(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "catalog", "create-admin", "token", "bench", "db"):
        assert f"  {command}" in result.output, command


def test_a_site_manager_is_created_for_named_sites(runner, make_site):
    from kiosk_backend.identity import services as identity
    from kiosk_backend.identity.models import StaffUser

    site = make_site()
    result = runner.invoke(args=["create-admin", "li", "--password", "a long passphrase", "--role", "site_manager",
                                 "--site", site.code])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == "li"))
    assert identity.site_scope(db.session, user) == {site.id}
    assert runner.invoke(args=["create-admin", "wu", "--password", "a long passphrase", "--site", "NOPE"]).exit_code != 0


def test_create_admin_names_only_the_unknown_site_codes(runner, make_site, site2):
    make_site()
    result = runner.invoke(args=["create-admin", "wu", "--password", "a long passphrase", "--role", "site_manager",
                                 "--site", "JZ01", "--site", "NOPE", "--site", "JZ02", "--site", "ALSO"])
    assert result.exit_code != 0 and "Unknown site code(s): ALSO, NOPE" in result.output


@pytest.mark.parametrize("module", ["cli.py", "fleet/cli.py"])
def test_the_commands_reach_sites_through_its_services_only(module):
    """DESIGN.md: a domain calls another only through its services (no Site queries here)."""
    from pathlib import Path

    import kiosk_backend

    source = (Path(kiosk_backend.__file__).parent / module).read_text(encoding="utf-8")
    assert "sites.models" not in source and "Site.code" not in source


def test_the_demo_says_what_it_is_doing_hints_at_a_lan_address_and_prints_no_colour_codes(make_app, monkeypatch):
    import werkzeug.serving

    from kiosk_backend import cli
    from kiosk_backend.core import worker

    app = make_app(create_schema=False, TESTING=False)
    runner = app.test_cli_runner()
    monkeypatch.setattr(cli, "lan_address", lambda: "192.168.1.23")
    with app.app_context():
        first = runner.invoke(main, args=["demo", "--no-serve", "--port", "8123"])
        assert first.exit_code == 0, first.output
        out = first.output
        # Progress before the long first start, in order.
        assert out.index("Preparing the database…") < out.index("Loading the demo catalog") < out.index(
            "Loaded demo catalog")
        # QR codes would point at 127.0.0.1: say so and how to give phones a reachable address.
        assert "KIOSK_PUBLIC_URL is not set" in out
        assert "KIOSK_PUBLIC_URL=http://192.168.1.23:8123 kiosk demo --host 0.0.0.0" in out
        assert app.config["KIOSK_DEMO"] is True

        # Serving, with its output not a terminal: werkzeug's banner and request lines are plain.
        styled = []

        class Consumer:
            def stop(self, graceful):
                pass

        monkeypatch.setattr(werkzeug.serving, "_log_add_style", True)
        monkeypatch.setattr(werkzeug.serving, "run_simple",
                            lambda *a, **kw: styled.append(werkzeug.serving._ansi_style("WARNING", "bold", "red")))
        monkeypatch.setattr(worker, "start_embedded", lambda app: Consumer())
        app.config["KIOSK_PUBLIC_URL"] = "http://192.168.1.23:8123"
        second = runner.invoke(main, args=["demo", "--host", "0.0.0.0", "--port", "8123"])
        assert second.exit_code == 0, second.output
        assert styled == ["WARNING"]                       # no ANSI escape around it
        assert "\x1b[" not in first.output + second.output
        assert "QR codes point at KIOSK_PUBLIC_URL=http://192.168.1.23:8123" in second.output
        assert "KIOSK_PUBLIC_URL is not set" not in second.output
        assert "http://192.168.1.23:8123/admin/" in second.output  # not 0.0.0.0, which no browser opens


def test_the_lan_hint_says_what_to_fill_in_when_no_lan_address_is_found(monkeypatch):
    from kiosk_backend import cli

    monkeypatch.setattr(cli, "lan_address", lambda: None)
    notes = "\n".join(cli._public_url_notes("", "127.0.0.1", 8000))
    assert "KIOSK_PUBLIC_URL=http://<this computer's LAN address>:8000 kiosk demo --host 0.0.0.0" in notes


def test_the_lan_address_is_found_without_sending_anything_or_is_none(monkeypatch):
    import socket

    from kiosk_backend import cli

    address = cli.lan_address()
    assert address is None or not address.startswith("127.")

    class Unroutable:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def connect(self, target):
            raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "socket", Unroutable)
    assert cli.lan_address() is None


def test_the_demo_prepares_the_database_without_the_migrations_log_lines(make_app, capfd):
    # It says "Preparing the database…"; alembic's line per revision is for `kiosk db upgrade`.
    app = make_app(create_schema=False, TESTING=False)
    with app.app_context():
        result = app.test_cli_runner().invoke(main, args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    out, err = capfd.readouterr()
    assert "Running upgrade" not in out + err + result.output
    assert "Loaded demo catalog" in result.output


def test_the_demo_says_it_is_preparing_before_the_app_loads(make_app):
    """Loading the app (imports, device profiles) is part of the wait: the first line comes before it."""
    import sys

    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    app = make_app(create_schema=False)
    printed_before_loading = []

    def load():
        sys.stdout.flush()
        printed_before_loading.append(sys.stdout.buffer.getvalue().decode())
        return app

    result = CliRunner().invoke(main, ["demo", "--no-serve"], obj=ScriptInfo(create_app=load))
    assert result.exit_code == 0, result.output
    assert "Preparing the database…" in printed_before_loading[0]
