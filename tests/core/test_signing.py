"""Signed requests: HMAC over the canonical string, timestamp window, single-use nonces."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from kiosk_backend.core import signing
from kiosk_backend.core.signing import RequestNonce, SignatureRejected, purge_expired_nonces, sign, verify

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRETS = {"dept-gongan": "s3cret-of-the-public-security-bureau", "courier": b"\x00binary\xffsecret"}
REQUEST = dict(method="POST", path="/api/v1/departments/events", query="b=2&a=1", body='{"status":"受理"}'.encode())


def at(moment: datetime):
    return lambda: moment


def signed(key_id="dept-gongan", *, now=NOW, nonce=None, **overrides):
    request = {**REQUEST, **overrides}
    return request, sign(SECRETS[key_id], key_id=key_id, now=at(now), nonce=nonce, **request)


def check(session, request, headers, *, now=NOW, window=signing.WINDOW_SECONDS):
    return verify(session, headers=headers, secret_for=SECRETS.get, now=at(now), window=window, **request)


def reason_of(session, request, headers, **kw) -> str:
    with pytest.raises(SignatureRejected) as caught:
        check(session, request, headers, **kw)
    assert caught.value.status_code == 401 and caught.value.message and caught.value.message_zh
    return caught.value.reason


def test_sign_and_verify_round_trip(db):
    request, headers = signed()
    assert set(headers) == set(signing.HEADERS)
    verified = check(db.session, request, headers)
    assert verified.key_id == "dept-gongan" and verified.timestamp == int(NOW.timestamp())
    db.session.commit()
    assert db.session.scalar(sa.select(RequestNonce.nonce)) == headers[signing.HEADER_NONCE]


def test_binary_secrets_and_empty_bodies_work(db):
    request, headers = signed("courier", method="GET", query="", body=b"")
    assert check(db.session, request, headers).key_id == "courier"


def test_the_query_may_arrive_in_any_order_and_encoding(db):
    request, headers = signed(query="q=%E8%BA%AB%E4%BB%BD%E8%AF%81&page=2")
    assert check(db.session, {**request, "query": "page=2&q=身份证"}, headers)


@pytest.mark.parametrize("field, value", [
    ("body", '{"status":"办结"}'.encode()),
    ("path", "/api/v1/departments/other"),
    ("method", "PUT"),
    ("query", "b=2&a=2"),
])
def test_a_tampered_request_fails(db, field, value):
    request, headers = signed()
    assert reason_of(db.session, {**request, field: value}, headers) == "bad_signature"


def test_a_tampered_timestamp_fails(db):
    request, headers = signed()
    headers[signing.HEADER_TIMESTAMP] = str(int(headers[signing.HEADER_TIMESTAMP]) + 1)
    assert reason_of(db.session, request, headers) == "bad_signature"


def test_a_tampered_nonce_or_another_key_fails(db):
    request, headers = signed()
    assert reason_of(db.session, request, {**headers, signing.HEADER_NONCE: "another-nonce-123"}) == "bad_signature"
    assert reason_of(db.session, request, {**headers, signing.HEADER_KEY_ID: "courier"}) == "bad_signature"


def test_a_stale_or_far_future_timestamp_fails(db):
    request, headers = signed(now=NOW - timedelta(seconds=301))
    assert reason_of(db.session, request, headers) == "stale_timestamp"
    request, headers = signed(now=NOW + timedelta(seconds=301))
    assert reason_of(db.session, request, headers) == "stale_timestamp"
    request, headers = signed(now=NOW - timedelta(seconds=299))
    assert check(db.session, request, headers)


@pytest.mark.parametrize("timestamp", ["999999999999", "253402300800", "0", "000000000001"])
def test_an_absurd_timestamp_is_stale_not_a_500(db, timestamp):
    """Twelve digits pass the pattern but lie past datetime's year 9999: a 401 all the same."""
    request, headers = signed()
    with pytest.raises(SignatureRejected) as caught:
        check(db.session, request, {**headers, signing.HEADER_TIMESTAMP: timestamp})
    assert caught.value.reason == "stale_timestamp" and caught.value.status_code == 401
    assert "clock" in caught.value.message and "时钟" in caught.value.message_zh


def test_the_window_is_configurable(db):
    request, headers = signed(now=NOW - timedelta(seconds=30))
    assert reason_of(db.session, request, headers, window=10) == "stale_timestamp"
    assert check(db.session, request, headers, window=60)


def test_a_replay_fails_the_second_time(db):
    request, headers = signed()
    check(db.session, request, headers)
    db.session.commit()
    assert reason_of(db.session, request, headers, now=NOW + timedelta(seconds=5)) == "replayed_nonce"


def test_the_same_nonce_under_another_key_is_another_nonce(db):
    request, headers = signed(nonce="shared-nonce-0001")
    other_request, other_headers = signed("courier", nonce="shared-nonce-0001")
    check(db.session, request, headers)
    check(db.session, other_request, other_headers)
    db.session.commit()


def test_a_rolled_back_request_does_not_use_up_its_nonce(db):
    request, headers = signed()
    check(db.session, request, headers)
    db.session.rollback()
    assert check(db.session, request, headers)


def test_a_refused_request_consumes_its_nonce_after_its_rollback(db):
    """A receiver refusing a verified request claims its nonce again in a transaction of its
    own: the rollback gave it back, and the request must not pass a second time."""
    request, headers = signed()
    verified = check(db.session, request, headers)
    assert verified.expires_at == NOW + timedelta(seconds=signing.WINDOW_SECONDS)
    db.session.rollback()
    with Session(db.engine) as side:
        assert signing.consume_nonce(side, verified) is True
        side.commit()
    assert reason_of(db.session, request, headers, now=NOW + timedelta(seconds=5)) == "replayed_nonce"
    db.session.rollback()
    with Session(db.engine) as side:
        assert signing.consume_nonce(side, verified) is False  # claimed once; a second claim changes nothing
        side.commit()
    assert db.session.scalar(sa.select(RequestNonce.expires_at)).replace(tzinfo=UTC) == verified.expires_at


@pytest.mark.parametrize("missing", signing.HEADERS)
def test_a_missing_header_is_named(db, missing):
    request, headers = signed()
    del headers[missing]
    with pytest.raises(SignatureRejected) as caught:
        check(db.session, request, headers)
    assert caught.value.reason == "missing_header"
    assert missing in caught.value.message and missing in caught.value.message_zh
    assert missing in caught.value.errors["headers"]


@pytest.mark.parametrize("name, value", [
    (signing.HEADER_NONCE, "short"),
    (signing.HEADER_NONCE, "has spaces in it"),
    (signing.HEADER_TIMESTAMP, "yesterday"),
    (signing.HEADER_KEY_ID, "x" * 65),
])
def test_malformed_headers_are_refused(db, name, value):
    request, headers = signed()
    assert reason_of(db.session, request, {**headers, name: value}) == "malformed_header"


def test_an_unknown_key_is_refused(db):
    request, headers = signed()
    assert reason_of(db.session, request, {**headers, signing.HEADER_KEY_ID: "nobody"}) == "unknown_key"


def test_bad_signatures_write_no_nonce(db):
    request, headers = signed()
    reason_of(db.session, {**request, "body": b"other"}, headers)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestNonce)) == 0


def test_a_refusal_is_a_401_in_the_error_shape(app, db):
    """verify_request inside a route: the one error shape with the reason in both languages."""
    from flask import request as flask_request

    from kiosk_backend.core.errors import handle_domain_error

    body, path = b'{"event":1}', "/api/v1/departments/events"
    headers = sign(SECRETS["dept-gongan"], key_id="dept-gongan", method="POST", path=path, body=body, now=at(NOW))
    with app.test_request_context(path, method="POST", data=body, headers=headers):
        with pytest.raises(SignatureRejected) as caught:
            signing.verify_request(db.session, flask_request, secret_for=SECRETS.get)  # NOW is long past
        payload = handle_domain_error(caught.value).get_json()
    assert payload["code"] == 401 and payload["status"] == "Unauthorized"
    assert "clock" in payload["message"] and "时钟" in payload["message_zh"]
    with app.test_request_context(path, method="POST", data=body, headers=headers):
        assert signing.verify_request(db.session, flask_request, secret_for=SECRETS.get, now=at(NOW)).key_id == "dept-gongan"


def test_expired_nonces_are_purged_and_live_ones_kept(db):
    old_request, old_headers = signed(now=NOW - timedelta(minutes=4))
    new_request, new_headers = signed()
    check(db.session, old_request, old_headers)
    check(db.session, new_request, new_headers)
    db.session.commit()
    assert purge_expired_nonces(db.session, now=at(NOW + timedelta(minutes=2))) == 1
    db.session.commit()
    assert db.session.scalar(sa.select(RequestNonce.nonce)) == new_headers[signing.HEADER_NONCE]
    # The purged nonce's request would be stale anyway.
    assert reason_of(db.session, old_request, old_headers, now=NOW + timedelta(minutes=2)) == "stale_timestamp"


def test_two_concurrent_verifications_of_one_nonce_exactly_one_wins(app, db):
    """Two app servers receive the same request at once: one transaction each, one winner."""
    request, headers = signed()
    engine = db.engine
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def receive():
        with Session(engine) as session:
            barrier.wait()
            try:
                check(session, request, headers)
                session.commit()
                result = "accepted"
            except SignatureRejected as exc:
                session.rollback()
                result = exc.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=receive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["accepted", "replayed_nonce"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestNonce)) == 1
