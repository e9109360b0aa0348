"""SMS to residents: one small interface, a logging sender for the demo and tests, and
Tencent Cloud SMS.

Outbox handlers (core.outbox) call a sender; nothing else does. The handler passes the
outbox key, and the sender answers with an :class:`SmsReceipt` or raises:

- :class:`SmsTemporaryError`: not sent this time (provider down, throttled, network) —
  let the outbox retry with backoff;
- :class:`SmsRejected`: refused for good (unknown template, bad number, blacklisted,
  wrong credentials, unapproved signature, no balance) — retrying the same message
  cannot help; the caller marks it dead, and an administrator retries it once the cause
  is fixed (credentials, top-up).

Nothing sent twice: the outbox runs a message until one attempt succeeds, and every
attempt that raises was refused as a whole by the provider, except where
``SmsTemporaryError.maybe_sent`` is true: the request reached Tencent but no answer came
back (read timeout, a 5xx from its gateway, a garbled body). Tencent's SendSms takes no
idempotency key, so a retry after such an attempt may deliver a second copy; the outbox
key travels as ``SessionContext``, which Tencent echoes in its delivery reports, so a
duplicate can be traced to its message. A refused connection is ``maybe_sent=False``.

Tencent Cloud SMS (:class:`TencentCloudSender`), written to Tencent Cloud's public API
documentation (no SDK):

- "签名方法 v3" (TC3-HMAC-SHA256), https://cloud.tencent.com/document/api/213/30654 — the
  same page appears under every product's API documentation; English: "Signature v3",
  e.g. https://www.tencentcloud.com/document/api/1084/39391. :func:`tc3_sign` follows its
  four steps; the tests reproduce its worked example (DescribeInstances at 1551113065)
  byte for byte, derived keys and signature included.
- "发送短信" SendSms, version 2021-01-11, https://cloud.tencent.com/document/product/382/55981
  (English: https://www.tencentcloud.com/document/api/382/40536) and its data type
  SendStatus (SerialNo, PhoneNumber, Fee, SessionContext, Code, Message, IsoCode).
- The common error codes ("公共错误码" / "Error Codes", e.g.
  https://www.tencentcloud.com/document/api/1140/51177) and SMS's own error codes (as
  listed with their explanations in Tencent's SDK, tencentcloud/sms/v20210111/errorcodes.py).
- "正文模板审核标准" (Body Template Review Standards),
  https://www.tencentcloud.com/zh/document/product/382/40659: a message (signature and
  variables included) is at most 500 characters, no 【】, no links in variables; variables
  of personally certified accounts are at most 12 characters, enterprise accounts have no
  per-variable limit (KIOSK_SMS_PARAM_MAX_CHARS).

How Tencent's codes are classified (:func:`classify`; the first matching row wins):

| code | outcome | why |
|---|---|---|
| InternalError, InternalError.* | temporary | Tencent's own fault or timeout |
| RequestLimitExceeded, RequestLimitExceeded.* | temporary | API call rate |
| LimitExceeded.PhoneNumberCountLimit | rejected | more than 200 numbers (never: we send one) |
| LimitExceeded.* (30 s / 1 h / daily / same-content / app daily / frequency) | temporary | the limit passes with time |
| AuthFailure.SignatureExpire | temporary | our clock is off by over 5 minutes; fixable without touching the message |
| AuthFailure.* | rejected | wrong SecretId/SecretKey or signing: configuration |
| UnauthorizedOperation.* | rejected | SdkAppId disabled or wrong, IP not allowed, service suspended for arrears |
| FailedOperation.MarketingSendTimeConstraint | temporary | marketing only 8:00–22:00 |
| FailedOperation.InsufficientBalanceInSmsPackage | rejected | needs a top-up; dead at once, retried by an admin after it |
| FailedOperation.* | rejected | unapproved signature or template, blacklisted number, sensitive words, bad request |
| InvalidParameter*, MissingParameter*, UnknownParameter, UnsupportedOperation*, UnsupportedRegion, InvalidAction, NoSuchVersion, NoSuchProduct, ActionOffline, RequestSizeLimitExceeded, IpInBlacklist, IpNotInWhitelist | rejected | the request itself is wrong (bad number, template parameters, SdkAppId…) |
| ServiceUnavailable, ResourceUnavailable, ResourceInsufficient | temporary | Tencent's side |
| anything else | temporary | unknown: a bounded number of retries, then dead |

Settings (config.py): KIOSK_SMS_PROVIDER, KIOSK_SMS_SIGN_NAME, KIOSK_SMS_TEMPLATES,
KIOSK_SMS_PARAM_MAX_CHARS, KIOSK_SMS_TIMEOUT_SECONDS, KIOSK_SMS_TENCENT_SECRET_ID,
KIOSK_SMS_TENCENT_SECRET_KEY, KIOSK_SMS_TENCENT_SDK_APP_ID, KIOSK_SMS_TENCENT_REGION,
KIOSK_SMS_TENCENT_ENDPOINT.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import urllib.error
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit

from .clock import utcnow
from .gateways import Clock, HttpRequest, HttpResponse, HttpTransport, TransportError, UrllibTransport

log = logging.getLogger(__name__)

PHONE = re.compile(r"^1[3-9]\d{9}$")  # mainland mobile, as DOMAIN.md has it
PROVIDERS = ("log", "tencent")

TENCENT_ENDPOINT = "https://sms.tencentcloudapi.com"
TENCENT_SERVICE = "sms"          # the credential scope's service: the product's domain name
TENCENT_ACTION = "SendSms"
TENCENT_VERSION = "2021-01-11"
TENCENT_REGION = "ap-guangzhou"
TENCENT_CONTENT_TYPE = "application/json; charset=utf-8"
TC3_ALGORITHM = "TC3-HMAC-SHA256"
SESSION_CONTEXT_MAX_BYTES = 511  # "长度需小于512字节"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# ------------------------------------------------------------------ the interface

@dataclass(frozen=True)
class SmsMessage:
    """One SMS to one resident: ``phone`` is an 11-digit mainland mobile number (the
    sender adds +86), ``template`` OUR template name (KIOSK_SMS_TEMPLATES maps it to the
    provider's approved template), ``params`` the template's variables in order, as text."""

    phone: str
    template: str
    params: tuple[str, ...] = ()

    def __post_init__(self):
        params = []
        for value in self.params:
            # Tencent's TemplateParamSet is a list of strings; numbers are written out, anything else is a bug.
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise TypeError(f"SMS template parameters are text, got {type(value).__name__}")
            params.append(str(value))
        object.__setattr__(self, "params", tuple(params))

    def __repr__(self) -> str:  # never the full number in a log line or traceback
        return f"SmsMessage(phone={mask_phone(self.phone)!r}, template={self.template!r}, params={self.params!r})"


@dataclass(frozen=True)
class SmsReceipt:
    """What the provider said when it took the message."""

    provider: str           # "log", "tencent"
    message_id: str         # the provider's id for this message (Tencent: SerialNo)
    code: str = "Ok"        # the provider's status code
    fee: int | None = None  # messages billed (a long SMS counts as several)
    request_id: str = ""    # the provider's request id, for its support desk


class SmsSender(Protocol):
    def send(self, message: SmsMessage, *, key: str) -> SmsReceipt:
        """Send ``message``; ``key`` is the outbox key (logs, SessionContext). Raises
        SmsTemporaryError (retry later) or SmsRejected (never retry as is)."""
        ...


class SmsError(Exception):
    """A message not sent. ``code`` is the provider's code (or ours: invalid_phone,
    unknown_template, http_404…); the text names the template and the masked number,
    never the full one (it ends up in the outbox's last_error and in logs)."""

    def __init__(self, text: str, *, code: str = "", request_id: str = "", provider: str = ""):
        super().__init__(text)
        self.code, self.request_id, self.provider = code, request_id, provider


class SmsTemporaryError(SmsError):
    """Not sent this time; the outbox retries with backoff. ``maybe_sent``: the request may
    have reached the provider and been accepted without our hearing so (see the module
    docstring); False when it certainly was not."""

    def __init__(self, text: str, *, maybe_sent: bool = False, **kwargs):
        super().__init__(text, **kwargs)
        self.maybe_sent = maybe_sent


class SmsRejected(SmsError):
    """Refused for good: the same message will be refused again. Mark it dead."""


class SmsConfigError(ValueError):
    """SMS settings that cannot work; the text names the setting."""


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000`` (and something as short for anything else)."""
    phone = str(phone or "")
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def fit_param(value: str, max_chars: int = 0) -> str:
    """A template variable as Tencent takes it: one line (whitespace runs become one
    space), no 【】 (they mark the signature; the review standard refuses them in a
    message, so they become [ ]), and at most ``max_chars`` characters (0: no limit) —
    a longer value is cut and ends with "…" inside the limit, because a variable over the
    limit is refused (InvalidParameterValue.TemplateParameterLengthLimit) and the whole
    message lost, while a shortened name still tells the resident which application."""
    text = " ".join(str(value).split()).replace("【", "[").replace("】", "]")
    if max_chars and len(text) > max_chars:
        text = text[:max_chars - 1] + "…" if max_chars > 1 else text[:max_chars]
    return text


def _checked_phone(message: SmsMessage) -> str:
    if not PHONE.match(message.phone or ""):
        raise SmsRejected(f"SMS {message.template!r} not sent: {mask_phone(message.phone)!r} is not an "
                          "11-digit mainland mobile number", code="invalid_phone")
    return message.phone


def _template_id(templates: Mapping[str, str], name: str) -> str:
    template_id = templates.get(name)
    if not template_id:
        known = ", ".join(sorted(templates)) or "none"
        raise SmsRejected(f"SMS template {name!r} is not configured (KIOSK_SMS_TEMPLATES has: {known})",
                          code="unknown_template")
    return template_id


# ------------------------------------------------------------------ the logging sender

class LoggingSender:
    """The demo's and tests' sender: logs the masked number, the template and its
    parameters, and keeps what it "sent" in ``sent`` (with the keys in ``keys``).

    ``templates`` (optional) makes it refuse template names the real sender would refuse;
    ``failures`` are raised one per call before anything is sent (tests of retries)."""

    provider = "log"

    def __init__(self, *, templates: Mapping[str, str] | None = None, param_max_chars: int = 0,
                 failures: Iterable[Exception] = ()):
        self.templates = dict(templates or {})
        self.param_max_chars = param_max_chars
        self.failures = list(failures)
        self.sent: list[SmsMessage] = []
        self.keys: list[str] = []

    def send(self, message: SmsMessage, *, key: str) -> SmsReceipt:
        if self.failures:
            raise self.failures.pop(0)
        _checked_phone(message)
        if self.templates:
            _template_id(self.templates, message.template)
        params = tuple(fit_param(value, self.param_max_chars) for value in message.params)
        sent = SmsMessage(message.phone, message.template, params)
        self.sent.append(sent)
        self.keys.append(key)
        log.info("SMS (logged, not sent) to %s: template %s, params %s, key %s",
                 mask_phone(message.phone), message.template, list(params), key)
        return SmsReceipt(provider=self.provider, message_id=f"log:{key}", code="Ok", fee=0)


# ------------------------------------------------------------------ TC3-HMAC-SHA256

@dataclass(frozen=True)
class Tc3Signature:
    canonical_request: str
    string_to_sign: str
    credential_scope: str
    signed_headers: str
    signature: str
    authorization: str


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """Step 3.1: SecretDate = HMAC("TC3" + SecretKey, Date), SecretService =
    HMAC(SecretDate, Service), SecretSigning = HMAC(SecretService, "tc3_request")."""
    secret_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac_sha256(secret_date, service)
    return _hmac_sha256(secret_service, "tc3_request")


def tc3_sign(*, secret_id: str, secret_key: str, service: str, headers: Mapping[str, str], payload: bytes,
             timestamp: int, method: str = "POST", canonical_uri: str = "/", query: str = "") -> Tc3Signature:
    """Sign a request with TC3-HMAC-SHA256, "签名方法 v3" step by step.

    ``headers`` are the headers to sign (at least content-type and host), exactly as sent;
    ``payload`` the body's bytes as sent; ``timestamp`` the X-TC-Timestamp (Unix seconds),
    whose UTC date is the credential scope's date.
    """
    # 1. CanonicalRequest: header names and values lowercased and trimmed, sorted by name.
    signed = sorted((name.strip().lower(), str(value).strip().lower()) for name, value in headers.items())
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in signed)
    signed_headers = ";".join(name for name, _ in signed)
    canonical_request = "\n".join([method.upper(), canonical_uri, query, canonical_headers, signed_headers,
                                   _sha256_hex(payload)])
    # 2. StringToSign, with the credential scope Date/service/tc3_request (Date in UTC).
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    credential_scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join([TC3_ALGORITHM, str(timestamp), credential_scope,
                                _sha256_hex(canonical_request.encode("utf-8"))])
    # 3. Signature = HexEncode(HMAC(SecretSigning, StringToSign)).
    signature = hmac.new(tc3_signing_key(secret_key, date, service), string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    # 4. Authorization.
    authorization = (f"{TC3_ALGORITHM} Credential={secret_id}/{credential_scope}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return Tc3Signature(canonical_request, string_to_sign, credential_scope, signed_headers, signature,
                        authorization)


# ------------------------------------------------------------------ Tencent's codes

TEMPORARY, REJECTED = "temporary", "rejected"
# Exact codes first, then whole categories (the part before the first dot); see the table
# in the module docstring.
_EXACT = {
    "AuthFailure.SignatureExpire": TEMPORARY,
    "LimitExceeded.PhoneNumberCountLimit": REJECTED,
    "FailedOperation.MarketingSendTimeConstraint": TEMPORARY,
    "FailedOperation.InsufficientBalanceInSmsPackage": REJECTED,
}
_CATEGORIES = {
    "InternalError": TEMPORARY,
    "RequestLimitExceeded": TEMPORARY,
    "LimitExceeded": TEMPORARY,
    "ServiceUnavailable": TEMPORARY,
    "ResourceUnavailable": TEMPORARY,
    "ResourceInsufficient": TEMPORARY,
    "AuthFailure": REJECTED,
    "UnauthorizedOperation": REJECTED,
    "FailedOperation": REJECTED,
    "InvalidParameter": REJECTED,
    "InvalidParameterValue": REJECTED,
    "MissingParameter": REJECTED,
    "UnknownParameter": REJECTED,
    "UnsupportedOperation": REJECTED,
    "UnsupportedRegion": REJECTED,
    "UnsupportedProtocol": REJECTED,
    "InvalidAction": REJECTED,
    "NoSuchVersion": REJECTED,
    "NoSuchProduct": REJECTED,
    "ActionOffline": REJECTED,
    "InvalidRequest": REJECTED,
    "RequestSizeLimitExceeded": REJECTED,
    "IpInBlacklist": REJECTED,
    "IpNotInWhitelist": REJECTED,
}


def classify(code: str) -> str:
    """TEMPORARY or REJECTED for a Tencent error code (top-level Error.Code or a
    SendStatus.Code other than "Ok"). Unknown codes are temporary."""
    return _EXACT.get(code) or _CATEGORIES.get(code.split(".", 1)[0]) or TEMPORARY


# ------------------------------------------------------------------ the Tencent sender

class TencentCloudSender:
    """Tencent Cloud SMS, SendSms 2021-01-11, signed with TC3-HMAC-SHA256, over an
    :class:`HttpTransport`. ``endpoint`` is the API's base URL (a local fake in tests)."""

    provider = "tencent"

    def __init__(self, *, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 templates: Mapping[str, str], region: str = TENCENT_REGION, endpoint: str = TENCENT_ENDPOINT,
                 param_max_chars: int = 0, timeout: float | None = None, transport: HttpTransport | None = None,
                 now: Clock = utcnow):
        self.secret_id, self._secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name, self.region = sdk_app_id, sign_name, region
        self.templates = dict(templates)
        self.url, self.host = _endpoint_url(endpoint)
        self.param_max_chars, self.timeout = param_max_chars, timeout
        # timeout None: the transport's own (UrllibTransport: 10 s).
        self.transport = transport or UrllibTransport(timeout=timeout or 10.0)
        self.now = now

    def __repr__(self) -> str:  # never the secret key
        return f"<TencentCloudSender {self.url} app={self.sdk_app_id} sign={self.sign_name!r}>"

    def send(self, message: SmsMessage, *, key: str) -> SmsReceipt:
        """Send one SMS; see SmsSender. Unknown templates and malformed numbers are rejected
        before anything goes out."""
        phone = _checked_phone(message)
        template_id = _template_id(self.templates, message.template)
        body = {
            "PhoneNumberSet": ["+86" + phone],  # E.164
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": [fit_param(value, self.param_max_chars) for value in message.params],
            "SessionContext": session_context(key),
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = self._signed_request(payload)
        try:
            answer = self.transport.send(request, timeout=self.timeout)
        except TransportError as exc:
            maybe_sent = _maybe_sent(exc)
            raise SmsTemporaryError(f"Tencent Cloud SMS unreachable for {self._about(message, key)}: "
                                    f"{_redact(str(exc), phone)}", code="transport", maybe_sent=maybe_sent,
                                    provider=self.provider) from None
        return self._receipt(answer, message, key)

    def _signed_request(self, payload: bytes) -> HttpRequest:
        timestamp = int(self.now().timestamp())
        signed = tc3_sign(secret_id=self.secret_id, secret_key=self._secret_key, service=TENCENT_SERVICE,
                          headers={"Content-Type": TENCENT_CONTENT_TYPE, "Host": self.host,
                                   "X-TC-Action": TENCENT_ACTION},
                          payload=payload, timestamp=timestamp)
        # Host is set here, not by urllib, so the host sent is the host signed.
        headers = {"Authorization": signed.authorization, "Content-Type": TENCENT_CONTENT_TYPE, "Host": self.host,
                   "X-TC-Action": TENCENT_ACTION, "X-TC-Version": TENCENT_VERSION,
                   "X-TC-Timestamp": str(timestamp), "X-TC-Region": self.region}
        return HttpRequest("POST", self.url, headers, payload)

    def _about(self, message: SmsMessage, key: str) -> str:
        return f"{message.template} to {mask_phone(message.phone)} (key {key})"

    def _receipt(self, answer: HttpResponse, message: SmsMessage, key: str) -> SmsReceipt:
        about, phone = self._about(message, key), message.phone
        response = _response_of(answer)
        if response is None:
            status = answer.status
            if answer.ok or status >= 500 or status in (408, 429):
                raise SmsTemporaryError(f"Tencent Cloud SMS gave no usable answer for {about}: HTTP {status}",
                                        code=f"http_{status}", maybe_sent=status not in (408, 429),
                                        provider=self.provider)
            raise SmsRejected(f"Tencent Cloud SMS answered HTTP {status} for {about}; "
                              "check KIOSK_SMS_TENCENT_ENDPOINT", code=f"http_{status}", provider=self.provider)
        request_id = str(response.get("RequestId") or "")
        error = response.get("Error")
        if isinstance(error, Mapping):  # the whole request was refused: nothing was sent
            self._refuse(str(error.get("Code") or "unknown"), _redact(str(error.get("Message") or ""), phone),
                         about, request_id)
        statuses = response.get("SendStatusSet")
        status = next((entry for entry in statuses if isinstance(entry, Mapping)), None) \
            if isinstance(statuses, list) else None
        if status is None:
            raise SmsTemporaryError(f"Tencent Cloud SMS answered without a send status for {about} "
                                    f"(RequestId {request_id})", code="no_status", maybe_sent=True,
                                    request_id=request_id, provider=self.provider)
        code = str(status.get("Code") or "unknown")
        if code != "Ok":
            self._refuse(code, _redact(str(status.get("Message") or ""), phone), about, request_id)
        fee = status.get("Fee")
        receipt = SmsReceipt(provider=self.provider, message_id=str(status.get("SerialNo") or ""), code=code,
                             fee=fee if isinstance(fee, int) else None, request_id=request_id)
        log.info("SMS %s sent by Tencent Cloud: SerialNo %s, fee %s, RequestId %s",
                 about, receipt.message_id, receipt.fee, request_id)
        return receipt

    def _refuse(self, code: str, text: str, about: str, request_id: str) -> NoReturn:
        outcome = classify(code)
        words = f"Tencent Cloud SMS refused {about}: {code}{': ' + text if text else ''} (RequestId {request_id})"
        log.warning("%s [%s]", words, outcome)
        if outcome == REJECTED:
            raise SmsRejected(words, code=code, request_id=request_id, provider=self.provider)
        raise SmsTemporaryError(words, code=code, request_id=request_id, maybe_sent=False, provider=self.provider)


def session_context(key: str) -> str:
    """The outbox key as SessionContext (echoed by Tencent in its reports), or its SHA-256
    if it is too long for the field (under 512 bytes)."""
    if len(key.encode("utf-8")) <= SESSION_CONTEXT_MAX_BYTES:
        return key
    return "sha256:" + _sha256_hex(key.encode("utf-8"))


def _response_of(answer: HttpResponse) -> Mapping[str, Any] | None:
    """The ``Response`` object of an API 3.0 answer, or None if there is none."""
    try:
        data = json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    response = data.get("Response") if isinstance(data, dict) else None
    return response if isinstance(response, Mapping) else None


def _maybe_sent(exc: TransportError) -> bool:
    """False when the request certainly never reached the provider (connection refused,
    unknown host, bad URL); True otherwise (a timeout may strike after it was accepted)."""
    cause = exc.__cause__
    reason = cause.reason if isinstance(cause, urllib.error.URLError) else cause
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror | ValueError)


def _redact(text: str, phone: str) -> str:
    """Provider messages may quote the number: keep only its masked form."""
    return text.replace(phone, mask_phone(phone)) if phone else text


def _endpoint_url(endpoint: str) -> tuple[str, str]:
    """(URL to POST to, Host header) for the API base URL. HTTPS, except on loopback (tests)."""
    parts = urlsplit(str(endpoint or "").strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise SmsConfigError(f"KIOSK_SMS_TENCENT_ENDPOINT must be a base URL such as {TENCENT_ENDPOINT}, "
                             f"got {endpoint!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise SmsConfigError("KIOSK_SMS_TENCENT_ENDPOINT must use https:// (messages carry residents' "
                             f"mobile numbers), got {endpoint!r}")
    return f"{parts.scheme}://{parts.netloc}/", parts.netloc.lower()


# ------------------------------------------------------------------ from configuration

def templates_from(setting: Any) -> dict[str, str]:
    """KIOSK_SMS_TEMPLATES: a dict, or a JSON object as text, of our template name →
    the provider's template id. Raises SmsConfigError naming what is wrong."""
    if setting in (None, ""):
        return {}
    value = setting
    if isinstance(setting, str):
        try:
            value = json.loads(setting)
        except ValueError as exc:
            raise SmsConfigError(f"KIOSK_SMS_TEMPLATES is not valid JSON ({exc}); expected an object such as "
                                 '{"application_state": "1234567"}') from None
    if not isinstance(value, Mapping):
        raise SmsConfigError('KIOSK_SMS_TEMPLATES must be a JSON object such as {"application_state": "1234567"}')
    templates = {}
    for name, template_id in value.items():
        if not isinstance(name, str) or not name.strip() or isinstance(template_id, bool) \
                or not isinstance(template_id, str | int) or not str(template_id).strip():
            raise SmsConfigError(f"KIOSK_SMS_TEMPLATES: {name!r} → {template_id!r} is not a template name "
                                 "and template id")
        templates[name.strip()] = str(template_id).strip()
    return templates


TENCENT_REQUIRED = ("KIOSK_SMS_TENCENT_SECRET_ID", "KIOSK_SMS_TENCENT_SECRET_KEY", "KIOSK_SMS_TENCENT_SDK_APP_ID",
                    "KIOSK_SMS_SIGN_NAME")
_warned_logging_only = False


def sender_from_config(config: Mapping[str, Any], *, transport: HttpTransport | None = None,
                       now: Clock = utcnow) -> SmsSender:
    """The sender KIOSK_SMS_PROVIDER names: ``log`` (default) or ``tencent``. Raises
    SmsConfigError for an unknown provider, unreadable templates, or Tencent settings
    that are incomplete (config.check_production_config calls this at start-up)."""
    global _warned_logging_only
    provider = str(config.get("KIOSK_SMS_PROVIDER") or "log").strip().lower()
    if provider not in PROVIDERS:
        raise SmsConfigError(f"KIOSK_SMS_PROVIDER must be one of {', '.join(PROVIDERS)}, got {provider!r}.")
    templates = templates_from(config.get("KIOSK_SMS_TEMPLATES"))
    param_max_chars = int(config.get("KIOSK_SMS_PARAM_MAX_CHARS") or 0)
    if param_max_chars < 0:
        raise SmsConfigError(f"KIOSK_SMS_PARAM_MAX_CHARS must be 0 (no limit) or more, got {param_max_chars}.")
    if provider == "log":
        if not (config.get("TESTING") or config.get("KIOSK_DEMO")) and not _warned_logging_only:
            _warned_logging_only = True
            log.warning("KIOSK_SMS_PROVIDER is 'log': SMS to residents are written to the log, not sent")
        return LoggingSender(templates=templates, param_max_chars=param_max_chars)
    missing = [name for name in TENCENT_REQUIRED if not str(config.get(name) or "").strip()]
    if not templates:
        missing.append("KIOSK_SMS_TEMPLATES")
    if missing:
        raise SmsConfigError(f"KIOSK_SMS_PROVIDER is tencent but {', '.join(missing)} is not set "
                             "(Tencent Cloud's API key pair, the SMS application's SdkAppId, the approved "
                             "signature and the template ids: see README, SMS to residents).")
    return TencentCloudSender(
        secret_id=str(config["KIOSK_SMS_TENCENT_SECRET_ID"]).strip(),
        secret_key=str(config["KIOSK_SMS_TENCENT_SECRET_KEY"]).strip(),
        sdk_app_id=str(config["KIOSK_SMS_TENCENT_SDK_APP_ID"]).strip(),
        sign_name=str(config["KIOSK_SMS_SIGN_NAME"]).strip(),
        templates=templates,
        region=str(config.get("KIOSK_SMS_TENCENT_REGION") or TENCENT_REGION).strip(),
        endpoint=str(config.get("KIOSK_SMS_TENCENT_ENDPOINT") or TENCENT_ENDPOINT),
        param_max_chars=param_max_chars,
        timeout=float(config.get("KIOSK_SMS_TIMEOUT_SECONDS") or 10),
        transport=transport, now=now)


# ------------------------------------------------------------------ one text per notice

NOTICE_FINAL = frozenset({"sent", "rejected", "uncertain", "skipped"})


def send_once(session, model, notice, *, phone: str | None, message: SmsMessage | None, key: str,
              sender: SmsSender, now: Clock = utcnow) -> str:
    """Send the text of ``notice`` (a row of ``model`` with id, state, attempts, last_error,
    provider_id and sent_at) at most once; returns its state. Commits its own steps.

    pending ─▶ sending ─▶ sent | rejected | uncertain, or back to failed (retried by the
    outbox). ``sending`` is committed before the provider is called, so a worker killed
    during the call leaves a trace: the next run marks the notice ``uncertain`` instead of
    sending a second text. Without a phone the notice is ``skipped``.

    Raises SmsTemporaryError when the text was certainly not sent (the caller's outbox retries)."""
    if notice.state in NOTICE_FINAL:
        return notice.state
    if notice.state == "sending":
        notice.state, notice.last_error = "uncertain", "worker stopped during the provider call; not resent"
        session.commit()
        log.warning("SMS %s: previous attempt interrupted; marked uncertain, not resent", key)
        return notice.state
    if not phone or message is None:
        notice.state = "skipped"
        session.commit()
        return notice.state
    # The trace before the call, in one conditional UPDATE: of two runners only one sends.
    import sqlalchemy as sa  # here: the rest of this module does not touch the database

    claimed = session.execute(sa.update(model)
                              .where(model.id == notice.id, model.state.in_(("pending", "failed")))
                              .values(state="sending", attempts=model.attempts + 1)
                              .execution_options(synchronize_session=False)).rowcount
    session.commit()
    if claimed != 1:
        session.refresh(notice)
        return notice.state

    def settle(state: str, *, error: str | None = None, **values) -> str:
        session.execute(sa.update(model).where(model.id == notice.id)
                        .values(state=state, last_error=(error or None) and error[:500], **values)
                        .execution_options(synchronize_session=False))
        session.commit()
        return state

    try:
        receipt = sender.send(message, key=key)
    except SmsRejected as exc:
        log.warning("SMS %s rejected: %s", key, exc)
        return settle("rejected", error=str(exc))
    except SmsTemporaryError as exc:
        if exc.maybe_sent:
            return settle("uncertain", error=str(exc))
        settle("failed", error=str(exc))
        raise
    return settle("sent", provider_id=receipt.message_id, sent_at=now())
