"""External systems sit behind ``typing.Protocol``: the convention, and the shared pieces.

Convention for every adapter (SMS sender, department webhook, courier gateway, identity
provider):

1. The domain declares what it needs as a small Protocol in its own module
   (``class CourierGateway(Protocol): def book(self, pickup: Pickup, *, idempotency_key: str) -> Booking``),
   in domain words, not HTTP words.
2. A real adapter implements it on top of an :class:`HttpTransport` (below), signs with
   ``core.signing`` where the partner expects it, and turns transport failures into the
   domain's own error. A fake adapter implements it in memory for tests and the demo.
3. Whatever is swapped in tests is a keyword default: ``gateway=None`` (meaning "the
   configured one"), ``transport=None``, ``now=utcnow``. Nothing is monkeypatched.
4. Calls to the outside happen in outbox handlers (core.outbox), never inside a request's
   transaction; they pass the outbox key as the idempotency key.

:class:`UrllibTransport` is the real transport (standard library, explicit timeouts, no
redirects followed silently); :class:`RecordingTransport` is the fake that records
requests and answers from a script.
"""
from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    """``core.clock.utcnow`` or a test's settable clock: returns an aware UTC datetime."""

    def __call__(self) -> datetime: ...


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class TransportError(Exception):
    """The request did not get an HTTP answer (refused, timed out, bad URL). Adapters map it
    to their domain's error; the outbox retries with backoff."""


class HttpTransport(Protocol):
    def send(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        """Send and return the answer, whatever its status; raise TransportError if none came."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a partner that redirects is misconfigured: say so
        return None


class UrllibTransport:
    """HTTP(S) with the standard library. Every call has a timeout (connect and each read);
    4xx/5xx are answers, not exceptions; redirects are returned, not followed."""

    def __init__(self, *, timeout: float = 10.0, user_agent: str = "kiosk-backend"):
        self.timeout = timeout
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        headers = {"User-Agent": self.user_agent, **request.headers}
        raw = urllib.request.Request(request.url, data=request.body or None, headers=headers,
                                     method=request.method.upper())
        try:
            with self._opener.open(raw, timeout=timeout or self.timeout) as answer:
                return HttpResponse(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as answer:  # 4xx/5xx and unfollowed redirects carry an answer
            with answer:
                return HttpResponse(answer.code, dict(answer.headers.items()), answer.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("%s %s failed: %s", request.method, request.url, exc)
            raise TransportError(f"{request.method} {request.url}: {exc}") from exc


class RecordingTransport:
    """The fake: records every request and answers from ``responses`` (in order; the last
    one repeats), or with ``respond(request)``. An Exception in the script is raised."""

    def __init__(self, responses: list[HttpResponse | Exception] | None = None, *,
                 respond: Callable[[HttpRequest], HttpResponse] | None = None):
        self.requests: list[HttpRequest] = []
        self._responses = list(responses or [HttpResponse(200, {}, b"")])
        self._respond = respond

    def send(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        self.requests.append(request)
        if self._respond is not None:
            return self._respond(request)
        answer = self._responses.pop(0) if len(self._responses) > 1 else self._responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer
