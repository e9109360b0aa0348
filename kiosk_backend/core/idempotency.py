"""``Idempotency-Key`` for POSTs that create something a client must not get twice (bookings).

SECURITY.md ("Money-like resources"). A client sends ``Idempotency-Key: <1–255 printable
ASCII characters>`` with the POST, and the same key again when it retries (an answer lost on
a flaky network, a double tap on the kiosk's confirm button):

- same key, same request (method, path, query and canonical body) → the stored response of
  the first one (same status, same body, its ``Location``) with ``Idempotent-Replayed: true``;
- same key, another request → 422 (``errors.headers.Idempotency-Key``);
- same key while the first request still runs → 409 with ``Retry-After``;
- a malformed key → 400 naming the header;
- keys are scoped per client: the view says whose key it is ("resident:12", "kiosk:5",
  "staff:li"), so two clients never see each other's keys or answers;
- keys are kept KIOSK_IDEMPOTENCY_HOURS (default 24) hours; the periodic job
  ``idempotency.purge`` (core.tasks) deletes older ones.

Why it holds under races and crashes:

1. **Claim.** The key is INSERTed as ``in_progress`` with a lease (KIOSK_IDEMPOTENCY_LEASE_SECONDS,
   default 60) and a random claim token, committed at once in a transaction of its own
   (core.requests.independent_session). The unique (scope, key) lets exactly one request in;
   the others find the row: in progress (409), or done (replayed).
2. **Work.** The view runs in the request's own transaction, as any view does.
3. **Complete.** Still in that transaction, one conditional UPDATE (our claim token, still
   in progress) stores the response, so it commits together with the booking or not at all.
   A request whose lease ran out and whose key another request took over matches nothing
   there and is refused (409): its booking is rolled back, never committed beside the other.
4. **Release.** A request that fails (status ≥ 400, an exception, a commit that fails) stores
   nothing: nothing was done, so its claim is deleted once its transaction has ended and the
   client may send the key again. A process that dies mid-request leaves its claim, which
   the next retry takes over when the lease has run out.

On a view (under ``@blp.route`` and above flask-smorest's ``@blp.arguments``/``@blp.response``,
so that it stores the finished response; ``scope`` runs first and may raise 401)::

    @blp.route("/bookings", methods=["POST"])
    @idempotency.idempotent(scope=lambda: f"resident:{current_resident().id}")
    @blp.arguments(BookingSchema)
    @blp.response(201, BookingOut)
    def create(data): ...

Document the header with ``@blp.doc(parameters=[idempotency.OPENAPI_PARAMETER])``. Without a
key the view simply runs (``required=True`` makes the header mandatory: 400 without it).
Only text responses are stored (JSON, HTML, redirects).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Request, Response, current_app, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .clock import utcnow
from .errors import Conflict, DomainError, Invalid
from .requests import independent_session, record_after_request

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_PROGRESS = "in_progress"
DONE = "done"
KEY = re.compile(r"^[\x20-\x7e]{1,255}$")  # printable ASCII
SCOPE = re.compile(r"^[\x21-\x7e]{1,64}$")
STORED_HEADERS = ("Location",)  # replayed with the body: a kiosk's POST answered by a redirect
IGNORED_FORM_FIELDS = frozenset({"csrf_token"})  # a form's CSRF token is not part of what it asks for
DEFAULT_HOURS = 24
DEFAULT_LEASE_SECONDS = 60
CLAIM_ATTEMPTS = 5

OPENAPI_PARAMETER = {
    "in": "header", "name": HEADER, "required": False,
    "description": "A key of your choice (1–255 printable ASCII characters), the same on every retry of this "
                   "request: the same key with the same body replays the first response "
                   f"(with `{REPLAYED_HEADER}: true`), with another body gives 422, while the first is still "
                   "running gives 409 (Retry-After). Kept at least 24 hours, per client.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
REPLAYED_HEADER_DOC = {REPLAYED_HEADER: {"description": "true when this is the stored response of an earlier "
                                                        "request with the same Idempotency-Key",
                                         "schema": {"type": "string", "enum": ["true"]}}}


class IdempotencyKey(db.Model):
    """One client's key: claimed (in progress, under a lease) or done (with the response)."""

    __tablename__ = "core_idempotency_key"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(64))  # whose key: "resident:12", "kiosk:5", "staff:li"
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))  # sha256 of method, path, query, canonical body
    state: Mapped[str] = mapped_column(sa.String(12))  # in_progress | done
    claim: Mapped[str] = mapped_column(sa.String(32))  # random token of the request that holds (held) it
    lease_until: Mapped[datetime | None]  # while in progress: another request may take it over after
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    content_type: Mapped[str | None] = mapped_column(sa.String(128))
    headers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # STORED_HEADERS of the response
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<IdempotencyKey {self.scope} {self.key!r} {self.state}>"


# ---------------------------------------------------------------- errors

def _header_errors(text: str) -> dict:
    return {"headers": {HEADER: [text]}}


class KeyMalformed(DomainError):
    """400: the header is there but is not 1–255 printable ASCII characters (or is missing
    where it is required)."""

    status_code = 400

    def __init__(self, message: str, message_zh: str):
        super().__init__(message, message_zh, errors=_header_errors(message))


class KeyReused(Invalid):
    """422: the key was used for another request (another body, path or method)."""

    def __init__(self) -> None:
        text = "This Idempotency-Key was used for a different request; use a new key for a new request."
        super().__init__(text, "该 Idempotency-Key 已用于另一个不同的请求，新请求请使用新的键。",
                         errors=_header_errors("reused with a different request"))


class KeyInProgress(Conflict):
    """409: the first request with this key is still running; Retry-After says when to ask again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("A request with this Idempotency-Key is still in progress; retry shortly.",
                         "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。",
                         errors=_header_errors("in progress"), headers={"Retry-After": str(max(1, retry_after))})


class KeyTakenOver(Conflict):
    """409: this request ran past its lease and a retry took the key over; this request's
    work is rolled back (the retry's counts)."""

    def __init__(self) -> None:
        super().__init__("This request took too long and was superseded by a retry with the same Idempotency-Key.",
                         "该请求处理超时，已由使用同一 Idempotency-Key 的重试请求接替。",
                         errors=_header_errors("superseded by a retry"))


# ---------------------------------------------------------------- the request's identity

def parse_key(value: str | None, *, required: bool = False) -> str | None:
    """The key of a header value, None when absent (and not required). Raises KeyMalformed."""
    if value is None or value == "":
        if required:
            raise KeyMalformed(f"The {HEADER} header is required for this request.",
                               f"此请求须提供 {HEADER} 请求头。")
        return None
    if not KEY.match(value):
        raise KeyMalformed(f"The {HEADER} header must be 1 to 255 printable ASCII characters.",
                           f"{HEADER} 请求头须为 1 到 255 个可打印 ASCII 字符。")
    return value


def request_hash(req: Request | None = None) -> str:
    """sha256 (hex) of the request's method, path, sorted query and canonical body: JSON
    re-serialised with sorted keys (so key order and spacing do not matter), form fields sorted
    without the CSRF token (uploaded files by name and content digest), else the raw bytes."""
    req = req or request
    query = "&".join(f"{k}={v}" for k, v in sorted(req.args.items(multi=True)))
    digest = hashlib.sha256("\n".join((req.method, req.path, query, "")).encode())
    digest.update(_canonical_body(req))
    return digest.hexdigest()


def _canonical_body(req: Request) -> bytes:
    if req.is_json:
        raw = req.get_data(cache=True)
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw  # the view will refuse it; its bytes are its identity meanwhile
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        pairs = sorted((k, v) for k, v in req.form.items(multi=True) if k not in IGNORED_FORM_FIELDS)
        for name, upload in sorted(req.files.items(multi=True), key=lambda item: item[0]):
            content = upload.stream.read()
            upload.stream.seek(0)
            pairs.append((f"file:{name}", f"{upload.filename}:{hashlib.sha256(content).hexdigest()}"))
        return json.dumps(pairs, ensure_ascii=False).encode()
    return req.get_data(cache=True)


# ---------------------------------------------------------------- claim, complete, release

@dataclass(frozen=True)
class Claim:
    """This request holds the key: run the work, then :func:`complete` in its transaction."""

    scope: str
    key: str
    token: str
    lease_until: datetime


@dataclass(frozen=True)
class Stored:
    """The response of the request that used the key first: answer with it again."""

    status_code: int
    body: str
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


def settings(config=None) -> tuple[timedelta, timedelta]:
    """(how long keys are kept, how long a claim's lease runs), from the configuration."""
    config = config if config is not None else current_app.config
    keep = timedelta(hours=float(config.get("KIOSK_IDEMPOTENCY_HOURS", DEFAULT_HOURS)))
    lease = timedelta(seconds=float(config.get("KIOSK_IDEMPOTENCY_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))
    return max(keep, timedelta(hours=DEFAULT_HOURS)), lease  # SECURITY.md: kept at least 24 h


def begin(scope: str, key: str, fingerprint: str, *, keep: timedelta, lease: timedelta,
          now=utcnow) -> Claim | Stored:
    """Claim ``key`` of ``scope`` for the request ``fingerprint`` (:func:`request_hash`), or
    find the stored answer. Commits in transactions of its own (never the caller's).

    Returns a Claim (run the work) or Stored (replay it). Raises KeyReused (422), KeyInProgress
    (409). An expired key, or a claim whose lease ran out (its request died), is taken over.
    """
    if not SCOPE.match(scope or ""):
        raise ValueError(f"an idempotency scope is 1 to 64 printable characters without blanks, got {scope!r}")
    for _ in range(CLAIM_ATTEMPTS):
        with independent_session() as side:
            outcome = _claim_once(side, scope, key, fingerprint, keep=keep, lease=lease, now=now)
        if outcome is not None:
            return outcome
    # Only reached when the row changed under us at every attempt: someone is busy with it.
    raise KeyInProgress(int(lease.total_seconds()))


def _claim_once(side: Session, scope: str, key: str, fingerprint: str, *, keep: timedelta, lease: timedelta,
                now) -> Claim | Stored | None:
    """One attempt; None when another request changed the row between our read and our write."""
    moment = now()
    token = secrets.token_hex(16)
    fresh = dict(request_hash=fingerprint, state=IN_PROGRESS, claim=token, lease_until=moment + lease,
                 status_code=None, response_body=None, content_type=None, headers={}, created_at=moment,
                 expires_at=moment + keep)
    claim = Claim(scope, key, token, moment + lease)
    row = side.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
    if row is None:
        try:
            side.execute(sa.insert(IdempotencyKey).values(scope=scope, key=key, **fresh))
            side.commit()
        except IntegrityError:
            side.rollback()  # another request inserted it first: read it again
            return None
        return claim
    abandoned = row.state == IN_PROGRESS and row.lease_until is not None and row.lease_until <= moment
    if row.expires_at <= moment or abandoned:
        taken = side.execute(sa.update(IdempotencyKey)
                             .where(IdempotencyKey.id == row.id, IdempotencyKey.claim == row.claim,
                                    IdempotencyKey.state == row.state)
                             .values(**fresh)
                             .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            side.rollback()
            return None
        side.commit()
        return claim
    if not hmac.compare_digest(row.request_hash, fingerprint):
        raise KeyReused()
    if row.state == IN_PROGRESS:
        raise KeyInProgress(math.ceil((row.lease_until - moment).total_seconds()) if row.lease_until else 1)
    return Stored(row.status_code or 200, row.response_body or "", row.content_type, dict(row.headers or {}))


def complete(session: Session, claim: Claim, response: Response) -> None:
    """Store ``response`` as the answer to ``claim`` in ``session``'s transaction (the
    request's own: it commits with the work or not at all). Raises KeyTakenOver when the key
    is no longer ours (our lease ran out and a retry took it over)."""
    headers = {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}
    stored = session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.scope == claim.scope, IdempotencyKey.key == claim.key,
               IdempotencyKey.claim == claim.token, IdempotencyKey.state == IN_PROGRESS)
        .values(state=DONE, lease_until=None, status_code=response.status_code,
                response_body=response.get_data(as_text=True), content_type=response.content_type, headers=headers)
        .execution_options(synchronize_session=False)).rowcount
    if stored != 1:
        raise KeyTakenOver()


def release(session: Session, claim: Claim) -> int:
    """Give the key back if this claim still holds it unfinished (the request failed: nothing
    was done, the client may try again with it). Run after the request's transaction ended;
    the caller commits. Returns 1 if a claim was released."""
    return session.execute(sa.delete(IdempotencyKey).where(
        IdempotencyKey.scope == claim.scope, IdempotencyKey.key == claim.key,
        IdempotencyKey.claim == claim.token, IdempotencyKey.state == IN_PROGRESS)).rowcount or 0


def replay(stored: Stored) -> Response:
    response = Response(stored.body, status=stored.status_code, content_type=stored.content_type)
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def purge_expired(session: Session, *, now=utcnow) -> int:
    """Delete keys past their keeping time; returns how many. The caller commits."""
    return session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.expires_at < now())).rowcount or 0


# ---------------------------------------------------------------- the decorator

def _check_no_write_yet() -> None:
    """The claim commits on a connection of its own: on SQLite it would wait (busy timeout,
    then 503) for a write lock the request itself already holds. Say so at once instead: the
    claim comes before the request's first write (a session's pending touch is not written
    until the next query, so the surfaces' hooks are fine)."""
    if not db.session.registry.has() or not db.session().in_transaction():
        return
    connection = db.session().connection()
    if connection.dialect.name == "sqlite" and connection.connection.dbapi_connection.in_transaction:
        raise RuntimeError("Idempotency-Key claimed after the request wrote to SQLite: claim it first")



def idempotent(scope: Callable[[], str], *, required: bool = False, now=utcnow):
    """Make a view honour ``Idempotency-Key`` (see the module's docstring). ``scope()`` says
    whose key it is (called after the header is checked, before the claim; it may raise 401).
    The view's response below 400 is stored in the request's transaction; anything else
    releases the key once the request's transaction has ended."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = parse_key(request.headers.get(HEADER), required=required)
            if key is None:
                return view(*args, **kwargs)
            who = scope()
            _check_no_write_yet()
            keep, lease = settings()
            outcome = begin(who, key, request_hash(), keep=keep, lease=lease, now=now)
            if isinstance(outcome, Stored):
                return replay(outcome)
            # Registered before the work: whatever happens to the request (an error, an
            # exception, a failing commit), the claim is given back unless it was completed.
            record_after_request(functools.partial(release, claim=outcome))
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                complete(db.session, outcome, response)
            return response

        return wrapper

    return decorator
