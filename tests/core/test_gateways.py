"""The real HTTP transport against a local server, and the recording fake."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiosk_backend.core import signing
from kiosk_backend.core.gateways import (
    HttpRequest,
    HttpResponse,
    HttpTransport,
    RecordingTransport,
    TransportError,
    UrllibTransport,
)


class Handler(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Handler.received.append((self.command, self.path, dict(self.headers.items()), body))
        if self.path.startswith("/slow"):
            time.sleep(2)
        status = {"/missing": 404, "/broken": 503, "/moved": 302}.get(self.path, 200)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "application/json")
        payload = b'{"ok": true}' if status == 200 else b'{"ok": false}'
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_post_arrives_with_its_headers_and_body(server):
    body = '{"status": "受理"}'.encode()
    answer = UrllibTransport().send(HttpRequest("POST", server + "/events?x=1", {"Content-Type": "application/json"}, body))
    assert answer.ok and answer.status == 200 and answer.body == b'{"ok": true}'
    method, path, headers, received = Handler.received[-1]
    assert (method, path, received) == ("POST", "/events?x=1", body)
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "kiosk-backend"


def test_error_statuses_and_redirects_are_answers_not_exceptions(server):
    transport = UrllibTransport()
    assert transport.send(HttpRequest("GET", server + "/missing")).status == 404
    assert transport.send(HttpRequest("GET", server + "/broken")).status == 503
    moved = transport.send(HttpRequest("GET", server + "/moved"))
    assert moved.status == 302 and moved.headers["Location"] == "/elsewhere"
    assert Handler.received[-1][1] == "/moved"  # not followed


def test_a_slow_server_is_a_transport_error_after_the_timeout(server):
    started = time.monotonic()
    with pytest.raises(TransportError):
        UrllibTransport(timeout=0.3).send(HttpRequest("GET", server + "/slow"))
    assert time.monotonic() - started < 1.5


def test_a_refused_connection_is_a_transport_error():
    with pytest.raises(TransportError):
        UrllibTransport(timeout=1).send(HttpRequest("GET", "http://127.0.0.1:9/"))


def test_a_signed_request_sent_over_the_wire_verifies(server, db):
    """What a department adapter will do: sign, send, and the receiver verifies what arrived."""
    body = b'{"event": "accepted"}'
    headers = signing.sign("secret", key_id="dept", method="POST", path="/events", query="b=1&a=2", body=body)
    UrllibTransport().send(HttpRequest("POST", server + "/events?b=1&a=2", headers, body))
    method, path, received_headers, received_body = Handler.received[-1]
    route, _, query = path.partition("?")
    verified = signing.verify(db.session, method=method, path=route, query=query, headers=received_headers,
                              body=received_body, secret_for={"dept": "secret"}.get)
    assert verified.key_id == "dept"


def test_the_fake_records_requests_and_plays_its_script():
    fake = RecordingTransport([HttpResponse(503, {}, b""), TransportError("down"), HttpResponse(200, {}, b"ok")])
    transport: HttpTransport = fake  # the fake satisfies the Protocol
    request = HttpRequest("POST", "https://courier.example/book", {}, b"{}")
    assert transport.send(request).status == 503
    with pytest.raises(TransportError):
        transport.send(request)
    assert transport.send(request).body == b"ok"
    assert transport.send(request).body == b"ok"  # the last answer repeats
    assert fake.requests == [request] * 4


def test_the_fake_can_answer_from_a_function():
    fake = RecordingTransport(respond=lambda request: HttpResponse(201, {}, request.url.encode()))
    assert fake.send(HttpRequest("GET", "https://sms.example/x")).body == b"https://sms.example/x"
