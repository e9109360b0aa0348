"""`kiosk department …` (applications/department_cli.py): clients, and signed requests sent to a
live server, with the shipped example files."""
from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from kiosk_backend.applications import departments
from kiosk_backend.applications.department_cli import EXAMPLES, send_signed
from kiosk_backend.applications.models import Application, DepartmentClient
from kiosk_backend.cli import main
from kiosk_backend.core import signing
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.gateways import HttpResponse, RecordingTransport
from tests.browser.browser_support import LiveServer

EXAMPLE = "EXAMPLE-2026-000001"


@pytest.fixture
def runner(app):
    runner = app.test_cli_runner()
    invoke = runner.invoke
    runner.invoke = lambda args=None, **kw: invoke(main, args, **kw)
    return runner


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def credentials(db) -> tuple[str, str]:
    client, secret = departments.create_client(db.session, name="江州市公安局", region_code="360400", actor=SYSTEM)
    db.session.commit()
    return client.key_id, secret


def send(runner, live, key_id: str, secret: str, *args: str):
    return runner.invoke(["department", "send", "--url", live.url, "--key-id", key_id, *args],
                         env={"KIOSK_DEPARTMENT_SECRET": secret})


def test_create_client_prints_a_key_id_and_a_secret_that_work_with_the_examples(runner, db, live):
    created = runner.invoke(["department", "create-client", "江州市公安局", "--region", "360400"])
    assert created.exit_code == 0, created.output
    key_id = re.search(r"key id:\s+(\S+)", created.output).group(1)
    secret = re.search(r"secret:\s+(\S+)", created.output).group(1)
    assert db.session.scalar(sa.select(DepartmentClient.name).where(DepartmentClient.key_id == key_id)) == "江州市公安局"
    assert secret not in db.session.scalar(sa.select(DepartmentClient.secret_encrypted))  # kept sealed

    answer = send(runner, live, key_id, secret, "--create", str(EXAMPLES / "create.json"))
    assert answer.exit_code == 0, answer.output
    assert "→ 201 Created" in answer.output and f'"number": "{EXAMPLE}"' in answer.output
    for example, state in (("accept.json", "accepted"), ("conclude.json", "concluded")):
        answer = send(runner, live, key_id, secret, "--event", EXAMPLE, str(EXAMPLES / example))
        assert answer.exit_code == 0, answer.output
        assert "→ 201 Created" in answer.output and f'"state": "{state}"' in answer.output
    assert secret not in answer.output

    db.session.expire_all()
    application = db.session.scalar(sa.select(Application).where(Application.number == EXAMPLE))
    assert (application.state, application.outcome) == ("concluded", "approved")
    assert [(e.action, e.actor_name) for e in application.events] == [
        ("receive", "江州市公安局"), ("accept", "江州市公安局"), ("conclude", "江州市公安局")]

    shown = runner.invoke(["department", "show", EXAMPLE, "--url", live.url, "--key-id", key_id],
                          env={"KIOSK_DEPARTMENT_SECRET": secret})
    assert shown.exit_code == 0, shown.output
    assert f"GET /api/v1/departments/applications/{EXAMPLE} → 200 OK" in shown.output
    body = json.loads(shown.output.split("\n", 1)[1])
    assert [e["action"] for e in body["timeline"]] == ["receive", "accept", "conclude"]


def test_sending_a_file_again_is_harmless(runner, live, credentials):
    key_id, secret = credentials
    assert send(runner, live, key_id, secret, "--create", str(EXAMPLES / "create.json")).exit_code == 0
    assert send(runner, live, key_id, secret, "--event", EXAMPLE, str(EXAMPLES / "accept.json")).exit_code == 0
    again = send(runner, live, key_id, secret, "--event", EXAMPLE, str(EXAMPLES / "accept.json"))
    assert again.exit_code == 0 and "→ 200 OK" in again.output and '"applied": false' in again.output


def test_a_refused_request_prints_the_reason_and_exits_with_1(runner, live, credentials, tmp_path):
    key_id, secret = credentials
    assert send(runner, live, key_id, secret, "--create", str(EXAMPLES / "create.json")).exit_code == 0
    unknown = send(runner, live, key_id, secret, "--event", "EXAMPLE-2026-999999", str(EXAMPLES / "accept.json"))
    assert unknown.exit_code == 1
    assert "→ 404 Not Found" in unknown.output and "unknown_application" in unknown.output
    early = send(runner, live, key_id, secret, "--event", EXAMPLE, str(EXAMPLES / "conclude.json"))
    assert early.exit_code == 1  # conclude before accept
    assert "→ 409 Conflict" in early.output and "illegal_transition" in early.output
    wrong = send(runner, live, key_id, "not the secret", "--event", EXAMPLE, str(EXAMPLES / "accept.json"))
    assert wrong.exit_code == 1 and "→ 401 Unauthorized" in wrong.output and "bad_signature" in wrong.output


def test_the_secret_may_be_typed_without_echo(runner, live, credentials):
    key_id, secret = credentials
    answer = runner.invoke(["department", "send", "--url", live.url, "--key-id", key_id,
                            "--create", str(EXAMPLES / "create.json")], input=secret + "\n")
    assert answer.exit_code == 0, answer.output
    assert "Secret:" in answer.output and secret not in answer.output


def test_send_needs_exactly_one_request_and_a_json_object(runner, live, credentials, tmp_path):
    key_id, secret = credentials
    neither = send(runner, live, key_id, secret)
    assert neither.exit_code == 2 and "--create FILE or --event NUMBER FILE" in neither.output
    both = send(runner, live, key_id, secret, "--create", str(EXAMPLES / "create.json"),
                "--event", EXAMPLE, str(EXAMPLES / "accept.json"))
    assert both.exit_code == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert "is not UTF-8 JSON" in send(runner, live, key_id, secret, "--create", str(broken)).output
    array = tmp_path / "array.json"
    array.write_text("[]", encoding="utf-8")
    assert "one JSON object" in send(runner, live, key_id, secret, "--create", str(array)).output


def test_an_unreachable_server_is_an_error_not_a_traceback(runner, credentials):
    key_id, secret = credentials
    answer = runner.invoke(["department", "send", "--url", "http://127.0.0.1:9", "--key-id", key_id,
                            "--create", str(EXAMPLES / "create.json")], env={"KIOSK_DEPARTMENT_SECRET": secret})
    assert answer.exit_code == 1 and "no answer from http://127.0.0.1:9" in answer.output


def test_clients_lists_the_clients_without_their_secrets(runner, db, credentials):
    key_id, secret = credentials
    departments.set_active(db.session, departments.by_key_id(db.session, key_id).id, False, actor=SYSTEM)
    db.session.commit()
    listed = runner.invoke(["department", "clients"])
    assert listed.exit_code == 0
    assert key_id in listed.output and "disabled" in listed.output and "江州市公安局" in listed.output
    assert secret not in listed.output


def test_create_client_refuses_a_bad_region_code(runner, db):
    answer = runner.invoke(["department", "create-client", "江州市公安局", "--region", "3604"])
    assert answer.exit_code == 1 and "6-digit" in answer.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DepartmentClient)) == 0


def test_send_signed_signs_the_exact_bytes_and_the_path_under_the_base_url():
    transport = RecordingTransport([HttpResponse(201, {}, b"{}")])
    body = b'{"event_id": "e-1"}'
    send_signed("POST", "https://gov.example/kiosk/", "/api/v1/departments/applications/A-000001/events",
                key_id="dept-1", secret="s3cret", body=body, transport=transport)
    [request] = transport.requests
    assert request.url == "https://gov.example/kiosk/api/v1/departments/applications/A-000001/events"
    assert request.body == body and request.headers["Content-Type"] == "application/json"
    headers = request.headers
    message = signing.canonical_string(method="POST", path="/kiosk/api/v1/departments/applications/A-000001/events",
                                       query="", timestamp=headers[signing.HEADER_TIMESTAMP],
                                       nonce=headers[signing.HEADER_NONCE], body=body)
    assert headers[signing.HEADER_SIGNATURE] == signing.signature("s3cret", message)
    assert headers[signing.HEADER_KEY_ID] == "dept-1"


def test_the_examples_are_valid_requests_for_one_application():
    create = json.loads((EXAMPLES / "create.json").read_text(encoding="utf-8"))
    events = [json.loads((EXAMPLES / name).read_text(encoding="utf-8")) for name in ("accept.json", "conclude.json")]
    assert create["number"] == EXAMPLE
    times = [create["received_at"]] + [event["occurred_at"] for event in events]
    assert times == sorted(times)  # in order, one offset throughout
    assert len({create["event_id"], *(event["event_id"] for event in events)}) == 3
