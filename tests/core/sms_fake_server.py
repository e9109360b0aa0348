"""A local stand-in for sms.tencentcloudapi.com: a real HTTP server on 127.0.0.1 that speaks
SendSms 2021-01-11 and checks every request's TC3-HMAC-SHA256 signature the way the
documentation ("签名方法 v3") describes it, from the request as received.

The verification here is written apart from kiosk_backend.core.sms (nothing is imported
from it), so a signing mistake in the adapter cannot pass by being made twice; the tests
check this verifier against the documentation's worked example too.

Answers follow the API 3.0 shapes: ``{"Response": {"SendStatusSet": [...], "RequestId": ...}}``
on success, ``{"Response": {"Error": {"Code", "Message"}, "RequestId": ...}}`` on a refusal.
A test scripts what comes after a request passed the checks with :meth:`FakeTencentSms.script`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUTHORIZATION = re.compile(r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s]+)"
                           r"/tc3_request, SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$")
MAX_SKEW_SECONDS = 300  # "如果相差超过五分钟则必定失败"


def derive_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """SecretDate, SecretService, SecretSigning, as the documentation's pseudocode has them."""
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(*, secret_key: str, method: str, headers: dict[str, str], signed: list[str], body: bytes,
                       timestamp: str, date: str, service: str) -> tuple[str, str]:
    """(CanonicalRequest, Signature) a server computes for a request: the signed headers'
    values are taken from the request as received (``headers``: lowercase names)."""
    lines = [method, "/", ""]  # API 3.0: CanonicalURI "/", POST: empty query string
    lines.append("".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed))
    lines.append(";".join(signed))
    lines.append(hashlib.sha256(body).hexdigest())
    canonical = "\n".join(lines)
    to_sign = "TC3-HMAC-SHA256\n" + timestamp + "\n" + f"{date}/{service}/tc3_request\n" \
        + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(derive_signing_key(secret_key, date, service), to_sign.encode(), hashlib.sha256).hexdigest()
    return canonical, signature


@dataclass
class FakeTencentSms:
    """Accounts (SecretId → SecretKey), the application, the approved signature and
    templates; ``accepted`` holds the bodies of messages it "sent", ``refused`` the codes
    it answered with."""

    secrets: dict[str, str]
    sdk_app_id: str = "1400006666"
    sign_names: tuple[str, ...] = ("九江政务服务",)
    template_ids: tuple[str, ...] = ("1234567",)
    clock: object = time.time
    accepted: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    _script: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *answers) -> None:
        """What to answer to the next requests that pass the checks, in order (then "ok"):
        "ok"; ("error", code): refuse the whole request; ("status", code): a send status
        other than Ok; ("http", status): a bare HTTP status; ("slow", seconds): answer "ok"
        late; ("garbled",): a 200 that is not JSON."""
        with self._lock:
            self._script.extend(answers)

    def _next(self):
        with self._lock:
            return self._script.pop(0) if self._script else "ok"

    # ------------------------------------------------------------ checks

    def check_signature(self, method: str, headers: dict[str, str], body: bytes) -> tuple[str, str] | None:
        """(code, message) of the authentication failure, or None if the request is signed right."""
        match = AUTHORIZATION.match(headers.get("authorization", ""))
        if match is None:
            return "AuthFailure.InvalidAuthorization", "Authorization in the request header is invalid."
        secret_key = self.secrets.get(match["id"])
        if secret_key is None:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found."
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit():
            return "MissingParameter", "X-TC-Timestamp is missing."
        if abs(self.clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            return "AuthFailure.SignatureExpire", "Signature expired. Timestamp and server time differ by more than five minutes."
        signed = match["headers"].split(";")
        if "content-type" not in signed or "host" not in signed or signed != sorted(signed):
            return "AuthFailure.SignatureFailure", "content-type and host must be signed, in order."
        date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        if match["date"] != date or match["service"] != "sms":
            return "AuthFailure.SignatureFailure", "The credential scope does not match the request."
        _, signature = expected_signature(secret_key=secret_key, method=method, headers=headers, signed=signed,
                                          body=body, timestamp=timestamp, date=date, service="sms")
        if not hmac.compare_digest(signature, match["signature"]):
            return "AuthFailure.SignatureFailure", ("The provided credentials could not be validated. "
                                                    "Please check your signature is correct.")
        return None

    def check_request(self, headers: dict[str, str], body: bytes) -> tuple[tuple[str, str] | None, dict]:
        if headers.get("x-tc-action") != "SendSms":
            return ("InvalidAction", "The action does not exist."), {}
        if headers.get("x-tc-version") != "2021-01-11":
            return ("NoSuchVersion", "The API version does not exist."), {}
        if not headers.get("x-tc-region"):
            return ("MissingParameter", "The Region parameter is missing."), {}
        if not headers.get("content-type", "").startswith("application/json"):
            return ("InvalidParameter", "Content-Type must be application/json."), {}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return ("FailedOperation.JsonParseFail", "The request body is not JSON."), {}
        numbers = data.get("PhoneNumberSet")
        if not isinstance(numbers, list) or not numbers:
            return ("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty."), data
        if not all(isinstance(n, str) and re.fullmatch(r"\+861[3-9]\d{9}", n) for n in numbers):
            return ("InvalidParameterValue.IncorrectPhoneNumber", "The phone number format is wrong."), data
        if data.get("SmsSdkAppId") != self.sdk_app_id:
            return ("InvalidParameterValue.SdkAppIdNotExist", "The SdkAppId does not exist."), data
        if data.get("SignName") not in self.sign_names:
            return ("FailedOperation.SignatureIncorrectOrUnapproved", "The signature is not approved."), data
        if data.get("TemplateId") not in self.template_ids:
            return ("FailedOperation.TemplateIncorrectOrUnapproved", "The template is not approved."), data
        params = data.get("TemplateParamSet", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return ("InvalidParameter", "TemplateParamSet must be a list of strings."), data
        context = data.get("SessionContext", "")
        if not isinstance(context, str) or len(context.encode()) >= 512:
            return ("InvalidParameter", "SessionContext must be under 512 bytes."), data
        return None, data

    # ------------------------------------------------------------ answering

    def answer(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, float]:
        """(HTTP status, body, seconds to wait before answering)."""
        request_id = str(uuid.uuid4())
        self.requests.append({"headers": headers, "body": body})
        problem = self.check_signature(method, headers, body)
        data = {}
        if problem is None:
            problem, data = self.check_request(headers, body)
        if problem is not None:
            self.refused.append(problem[0])
            return 200, _json({"Error": {"Code": problem[0], "Message": problem[1]}, "RequestId": request_id}), 0
        behaviour = self._next()
        kind = behaviour if isinstance(behaviour, str) else behaviour[0]
        if kind == "error":
            self.refused.append(behaviour[1])
            return 200, _json({"Error": {"Code": behaviour[1], "Message": "scripted refusal"},
                               "RequestId": request_id}), 0
        if kind == "http":
            return behaviour[1], b"", 0
        if kind == "garbled":
            return 200, b"<html>gateway</html>", 0
        statuses = []
        for number in data["PhoneNumberSet"]:
            if kind == "status":
                self.refused.append(behaviour[1])
                statuses.append({"SerialNo": "", "PhoneNumber": number, "Fee": 0,
                                 "SessionContext": data.get("SessionContext", ""), "Code": behaviour[1],
                                 "Message": f"scripted refusal for {number}", "IsoCode": "CN"})
            else:
                self.accepted.append(data)
                statuses.append({"SerialNo": f"5000:{uuid.uuid4().int % 10**28:028d}", "PhoneNumber": number,
                                 "Fee": 1, "SessionContext": data.get("SessionContext", ""), "Code": "Ok",
                                 "Message": "send success", "IsoCode": "CN"})
        delay = behaviour[1] if kind == "slow" else 0
        return 200, _json({"SendStatusSet": statuses, "RequestId": request_id}), delay


def _json(response: dict) -> bytes:
    return json.dumps({"Response": response}, ensure_ascii=False).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTencentSms  # set per server

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, payload, delay = self.server.fake.answer("POST", headers, body)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            pass


class FakeServer:
    """Runs a FakeTencentSms on 127.0.0.1 (a free port) in a thread; ``url`` is its base URL."""

    def __init__(self, fake: FakeTencentSms):
        self.fake = fake
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = fake
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
