"""A department system in tests: signs its requests to the department API as a real one would
(core.signing.sign over the exact body bytes), through the app's test client."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kiosk_backend.core import signing
from kiosk_backend.core.clock import utcnow

API = "/api/v1/departments/applications"
# Monday 2 March 2026, 09:00 in Shanghai; event n happens n days later.
RECEIVED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
DETAILS: dict[str, dict[str, Any]] = {
    "refuse": {"reason": "不属于本机关职权范围"},
    "request_supplement": {"missing": ["户口簿原件"]},
    "suspend": {"reason": "现场核查"},
    "conclude": {"outcome": "approved"},
    "deliver": {"delivery": "window"},
}
APPLICANT = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"}


def at(step: int) -> str:
    """The time of the ``step``-th event, ISO 8601 in China Standard Time."""
    return (RECEIVED + timedelta(days=step)).astimezone(CST).isoformat()


def application_body(number: str, **overrides) -> dict[str, Any]:
    body = {"number": number, "task_code": "TEST-ITEM", "item_name": "居民身份证换领", "mode": "proxy",
            "applicant": dict(APPLICANT),
            "receiving_org": {"name": "九江浔阳路邮政营业所", "region": "360403"},
            "handling_org": {"name": "九江市公安局", "region": "360400"},
            "received_at": "2026-03-02T09:00:00+08:00", "promise_days": 20, "note": "邮政代收"}
    body.update(overrides)
    return body


def event_body(action: str, *, step: int, event_id: str | None = None, **overrides) -> dict[str, Any]:
    body = {"event_id": event_id or f"{action}-{step}", "action": action, "occurred_at": at(step),
            **DETAILS.get(action, {})}
    body.update(overrides)
    return body


@dataclass(frozen=True)
class Department:
    """A registered department client and the test client it sends with."""

    http: Any
    key_id: str
    secret: str
    client_id: int
    name: str

    def using(self, http) -> Department:
        return replace(self, http=http)

    def signed_headers(self, method: str, path: str, data: bytes, *, secret: str | None = None,
                       key_id: str | None = None, now=utcnow, nonce: str | None = None) -> dict[str, str]:
        return signing.sign(secret or self.secret, key_id=key_id or self.key_id, method=method, path=path, body=data,
                            now=now, nonce=nonce)

    def send(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
             headers: dict[str, str] | None = None, **sign):
        if data is None:
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        signed = headers if headers is not None else self.signed_headers(method, path, data, **sign)
        return self.http.open(path, method=method, data=data, headers=signed,
                              content_type="application/json" if data else None)

    def create(self, number: str, **overrides):
        return self.send("POST", API, application_body(number, **overrides))

    def push(self, number: str, action: str, *, step: int, event_id: str | None = None, **overrides):
        return self.send("POST", f"{API}/{number}/events", event_body(action, step=step, event_id=event_id, **overrides))

    def get(self, number: str, **sign):
        return self.send("GET", f"{API}/{number}", **sign)

    def bring(self, number: str, path: list[tuple[str, dict]]) -> int:
        """Create ``number`` and push the events of ``path`` (tests.conftest.APPLICATION_PATHS);
        returns the step the next event may use."""
        assert self.create(number).status_code == 201
        for step, (action, details) in enumerate(path, start=1):
            answer = self.push(number, action, step=step, event_id=f"{number}-{step}",
                               **{k: list(v) if isinstance(v, tuple) else v for k, v in details.items()})
            assert answer.status_code == 201, answer.get_json()
        return len(path) + 1
