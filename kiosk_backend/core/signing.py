"""Signed server-to-server requests: HMAC-SHA256 with a timestamp and a single-use nonce.

Departments push application status events and the courier gateway pushes tracking
events to us; we call them back the same way. Every such request carries four headers:

====================  ===================================================================
``X-Kiosk-Key-Id``     which shared secret signed it (one per partner, rotatable)
``X-Kiosk-Timestamp``  Unix time in seconds when it was signed
``X-Kiosk-Nonce``      8-64 characters of ``A-Z a-z 0-9 . _ ~ -``, never reused per key
``X-Kiosk-Signature``  lowercase hex HMAC-SHA256(secret, canonical string)
====================  ===================================================================

The canonical string is seven lines joined by ``\\n`` (no trailing newline)::

    KIOSK-HMAC-SHA256
    POST                                  method, upper case
    /api/v1/departments/events            path, percent-decoded
    a=1&b=%E4%B8%AD                       query: pairs sorted, RFC 3986 encoded, "" if none
    1767225600                            the timestamp header
    3q2-7wEAAAA_nonce                     the nonce header
    e3b0c44298fc1c149afbf4c8996fb924...   hex SHA-256 of the exact body bytes

:func:`verify` refuses a request whose headers are missing or malformed, whose key is
unknown, whose timestamp is more than ``window`` seconds (default 300) away from our
clock, whose signature does not match (compared in constant time), or whose nonce was
seen before for that key. Nonces are rows of ``core_request_nonce`` with a unique
(key_id, nonce): the first INSERT wins on every app server, on PostgreSQL and SQLite
alike. :func:`verify` claims the nonce in the request's transaction, so a refused request's
rollback would give it back: a captured request refused now (a ``start`` before 受理) could
then be replayed within the window once the state allows it. A receiver that refuses a
correctly signed request (4xx) therefore consumes its nonce again with :func:`consume_nonce`
in a transaction of its own after the rollback (core.requests.record_after_request); only a
server failure (5xx) leaves it unused, so that the sender may resend the request as it was.
Rows are needed only while their timestamp is acceptable; :func:`purge_expired_nonces` (a
periodic job) deletes the rest.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .clock import utcnow
from .errors import Unauthorized

ALGORITHM = "KIOSK-HMAC-SHA256"
HEADER_KEY_ID = "X-Kiosk-Key-Id"
HEADER_TIMESTAMP = "X-Kiosk-Timestamp"
HEADER_NONCE = "X-Kiosk-Nonce"
HEADER_SIGNATURE = "X-Kiosk-Signature"
HEADERS = (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
WINDOW_SECONDS = 300

_NONCE = re.compile(r"^[A-Za-z0-9._~-]{8,64}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class RequestNonce(db.Model):
    """A nonce seen with a valid signature, kept until its timestamp could no longer pass."""

    __tablename__ = "core_request_nonce"
    __table_args__ = (sa.UniqueConstraint("key_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(64))
    nonce: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<RequestNonce {self.key_id}:{self.nonce} until {self.expires_at:%Y-%m-%d %H:%M:%S}>"


class SignatureRejected(Unauthorized):
    """401 for a signed request we refuse; ``reason`` is one of missing_header,
    malformed_header, unknown_key, stale_timestamp, bad_signature, replayed_nonce."""

    def __init__(self, reason: str, message: str, message_zh: str, *, field: str | None = None):
        errors = {"headers": {field: [f"{message} / {message_zh}"]}} if field else {"signature": [reason]}
        super().__init__(message, message_zh, errors=errors)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    key_id: str
    nonce: str
    timestamp: int
    window: int = WINDOW_SECONDS

    @property
    def expires_at(self) -> datetime:
        """When the request's timestamp stops passing :func:`verify`: its nonce is kept until then."""
        return datetime.fromtimestamp(self.timestamp, tz=UTC) + timedelta(seconds=self.window)


# ---------------------------------------------------------------- canonical form

def canonical_query(query: str | Mapping[str, str] | Iterable[tuple[str, str]] | None) -> str:
    """Pairs sorted by name then value, each RFC 3986 encoded: the same string whichever way
    a client encoded or ordered its query."""
    if not query:
        return ""
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else \
        list(query.items()) if isinstance(query, Mapping) else list(query)
    return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(pairs))


def canonical_string(*, method: str, path: str, query, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([
        ALGORITHM,
        method.upper(),
        unquote(path or "/"),
        canonical_query(query),
        timestamp,
        nonce,
        hashlib.sha256(body or b"").hexdigest(),
    ]).encode("utf-8")


def signature(secret: str | bytes, message: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- sending

def sign(secret: str | bytes, *, key_id: str, method: str, path: str, query=None, body: bytes = b"",
         now: Callable[[], datetime] = utcnow, nonce: str | None = None) -> dict[str, str]:
    """The four headers for an outgoing request. Send ``body`` byte for byte as signed."""
    nonce = nonce or secrets.token_urlsafe(18)
    timestamp = str(int(now().timestamp()))
    message = canonical_string(method=method, path=path, query=query, timestamp=timestamp, nonce=nonce, body=body)
    return {HEADER_KEY_ID: key_id, HEADER_TIMESTAMP: timestamp, HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature(secret, message)}


# ---------------------------------------------------------------- receiving

def verify(session: Session, *, method: str, path: str, query, headers: Mapping[str, str], body: bytes,
           secret_for: Callable[[str], str | bytes | Iterable[str | bytes] | None], now: Callable[[], datetime] = utcnow,
           window: int = WINDOW_SECONDS) -> Verified:
    """Check a signed request and consume its nonce (in ``session``; the caller commits).

    Raises SignatureRejected (401) naming the reason, in English and Chinese.
    """
    values = {}
    for name in HEADERS:
        value = headers.get(name)
        if not value:
            raise SignatureRejected("missing_header", f"Missing signature header {name}.",
                                    f"缺少签名请求头 {name}。", field=name)
        values[name] = value.strip()
    key_id, timestamp, nonce, sent = (values[name] for name in HEADERS)
    for name, pattern in ((HEADER_KEY_ID, _KEY_ID), (HEADER_TIMESTAMP, _TIMESTAMP), (HEADER_NONCE, _NONCE)):
        if not pattern.match(values[name]):
            raise SignatureRejected("malformed_header", f"Malformed signature header {name}.",
                                    f"签名请求头 {name} 格式不正确。", field=name)

    secret = secret_for(key_id)
    if not secret:
        raise SignatureRejected("unknown_key", "Unknown signing key.", "未知的签名密钥。")

    # Compared as numbers: the pattern lets through timestamps (up to 12 digits) that are
    # past datetime's year 9999; any of those is simply stale, never a 500.
    if abs(now().timestamp() - int(timestamp)) > window:
        raise SignatureRejected(
            "stale_timestamp",
            f"The request timestamp is more than {window} s from the server's clock; check the sender's clock.",
            f"请求时间戳与服务器时间相差超过 {window} 秒，请校准发送方时钟。")

    # A partner rotating its secret signs with the new one while we still accept the old one
    # for a while: ``secret_for`` may give several, and any of them may match.
    message = canonical_string(method=method, path=path, query=query, timestamp=timestamp, nonce=nonce, body=body)
    candidates = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(signature(candidate, message).encode(), sent.lower().encode())
    if not matched:
        raise SignatureRejected("bad_signature", "The signature does not match the request.", "签名与请求内容不符。")

    # Checked last, so that only correctly signed requests can write nonces.
    verified = Verified(key_id=key_id, nonce=nonce, timestamp=int(timestamp), window=window)
    if not _claim_nonce(session, key_id=key_id, nonce=nonce, expires_at=verified.expires_at):
        raise SignatureRejected("replayed_nonce", "This request was received before (its nonce was used).",
                                "该请求已经收到过（随机数已被使用）。")
    return verified


def verify_request(session: Session, request, *, secret_for, now=utcnow, window: int = WINDOW_SECONDS) -> Verified:
    """:func:`verify` for a Flask request (inside a route or before_request)."""
    return verify(session, method=request.method, path=request.path, query=request.query_string.decode("latin-1"),
                  headers=request.headers, body=request.get_data(cache=True), secret_for=secret_for, now=now,
                  window=window)


def _claim_nonce(session: Session, *, key_id: str, nonce: str, expires_at: datetime) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: True for the first claimant only. On PostgreSQL a
    concurrent claimant waits for the first transaction and then finds the row."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RequestNonce).values(key_id=key_id, nonce=nonce, expires_at=expires_at) \
        .on_conflict_do_nothing(index_elements=["key_id", "nonce"]).returning(RequestNonce.id)
    return session.execute(statement).first() is not None


def consume_nonce(session: Session, verified: Verified) -> bool:
    """Use up the nonce of a verified request whose own transaction was rolled back (a request
    refused after its signature was checked), so that it cannot be replayed; the caller
    commits, in a transaction other than the refused request's. True if this claimed it, False
    if it was taken already (a concurrent copy of the request claimed it first)."""
    return _claim_nonce(session, key_id=verified.key_id, nonce=verified.nonce, expires_at=verified.expires_at)


def purge_expired_nonces(session: Session, *, now: Callable[[], datetime] = utcnow) -> int:
    """Delete nonces whose timestamps can no longer pass :func:`verify`; returns how many.

    For the task queue's periodic jobs; the caller commits.
    """
    result = session.execute(sa.delete(RequestNonce).where(RequestNonce.expires_at < now()))
    return result.rowcount or 0
