"""Rate limits on both storages: each limit trips at its number, keys are independent, and a
refused request is a 429 in the one error shape with Retry-After.

Redis: KIOSK_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), keys under a prefix unique
to this run, removed afterwards. Skipped when Redis is unreachable, unless CI=true.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from kiosk_backend.core import ratelimit
from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.i18n import http_message
from kiosk_backend.extensions import db, limiter
from tests.conftest import RELAXED_RATE_LIMITS, SITE

REDIS_URL = os.environ.get("KIOSK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HIGH = "1000/minute"


def redis_or_skip() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is needed in CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} unreachable: {exc}")
    return REDIS_URL


def storage_config(kind: str) -> dict:
    if kind == "memory":
        return {"RATELIMIT_STORAGE_URI": "memory://"}
    return {"RATELIMIT_STORAGE_URI": redis_or_skip(),
            "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": f"kiosk-test-{uuid.uuid4().hex[:12]}"}}


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited_app(request, make_app):
    """An app with small limits on the given storage, an authorized kiosk and its credential."""
    from kiosk_backend.fleet import services as fleet

    try:  # sites are moving out of fleet
        from kiosk_backend.sites.services import create_site
    except ImportError:
        create_site = fleet.create_site

    app = make_app(**{**RELAXED_RATE_LIMITS, **storage_config(request.param)})
    with app.app_context():
        site = create_site(db.session, actor=SYSTEM, **SITE)
        credentials = []
        for _ in range(2):
            code, _ = fleet.create_enrolment_code(db.session, site=site, actor="test", pre_authorized=True)
            credentials.append(fleet.activate(db.session, code=code, profile="post-office-portrait")[1])
        db.session.commit()
    app.credentials = credentials
    with app.app_context():
        assert type(limiter.storage).__name__ == {"memory": "MemoryStorage", "redis": "RedisStorage"}[request.param]
    app.storage_kind = request.param
    yield app
    with app.app_context():
        limiter.reset()  # removes this run's keys from Redis


@pytest.fixture
def limited(limited_app):
    """The app with relaxed limits and zeroed counters; a test sets the limits it checks."""
    limited_app.config.update({k: v for k, v in RELAXED_RATE_LIMITS.items() if k.startswith("KIOSK_")})
    limited_app.config["KIOSK_RATELIMIT_ENABLED"] = True
    with limited_app.app_context():
        limiter.reset()
        yield limited_app


def client_at(app, ip: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def login(client, username: str):
    return client.post("/admin/login", data={"username": username, "password": "not the password"})


def assert_refused_json(response):
    assert response.status_code == 429
    assert response.get_json() == {"code": 429, "status": "Too Many Requests", "message": http_message(429, None)[0],
                                   "message_zh": http_message(429, None)[1], "errors": {}}
    assert_retry_after(response)


def assert_retry_after(response):
    value = response.headers.get("Retry-After")
    assert value is not None and value.isdigit() and 0 <= int(value) <= 3600, value


# ---------------------------------------------------------------- console login

def test_login_is_limited_per_username_from_one_address(limited):
    limited.config["KIOSK_RATELIMIT_LOGIN_USERNAME"] = "3/minute"
    client = client_at(limited, "10.0.0.1")
    for _ in range(3):
        assert login(client, "wang").status_code == 401
    refused = login(client, "Wang ")  # case and spaces do not make a new account
    assert refused.status_code == 429
    assert login(client, "li").status_code == 401  # another username is not touched
    # Guesses from one address never shut the account's owner out elsewhere (issue 7, 1.1).
    assert login(client_at(limited, "10.0.0.9"), "wang").status_code == 401


def test_login_is_limited_per_address_across_usernames(limited):
    limited.config["KIOSK_RATELIMIT_LOGIN_IP"] = "4/minute"
    client = client_at(limited, "10.0.1.1")
    for n in range(4):
        assert login(client, f"user{n}").status_code == 401
    assert login(client, "user-new").status_code == 429
    assert login(client_at(limited, "10.0.1.2"), "user-new").status_code == 401  # another address is not touched


def test_username_and_address_limits_are_independent(limited):
    limited.config.update(KIOSK_RATELIMIT_LOGIN_USERNAME="2/minute", KIOSK_RATELIMIT_LOGIN_IP="5/minute")
    client = client_at(limited, "10.0.2.1")
    assert [login(client, "zhao").status_code for _ in range(3)] == [401, 401, 429]
    # The address has used 3 of its 5 (the refused attempt counts): two more usernames, then no more.
    assert [login(client, name).status_code for name in ("qian", "sun", "zhou")] == [401, 401, 429]


def test_only_login_posts_count(limited):
    limited.config.update(KIOSK_RATELIMIT_LOGIN_USERNAME="1/minute", KIOSK_RATELIMIT_LOGIN_IP="1/minute")
    client = client_at(limited, "10.0.3.1")
    assert all(client.get("/admin/login").status_code == 200 for _ in range(5))
    assert login(client, "wu").status_code == 401


def test_a_refused_console_login_is_an_html_page_that_says_when_to_retry(limited):
    limited.config["KIOSK_RATELIMIT_LOGIN_USERNAME"] = "1/minute"
    client = client_at(limited, "10.0.4.1")
    login(client, "zheng")
    refused = login(client, "zheng")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert http_message(429, None)[1] in refused.text
    assert_retry_after(refused)
    assert int(refused.headers["Retry-After"]) > 0


# ---------------------------------------------------------------- enrolment codes

def test_enrolment_claims_are_limited_per_address_on_the_page_and_the_api_together(limited):
    limited.config["KIOSK_RATELIMIT_ENROLMENT_IP"] = "3/minute"
    client = client_at(limited, "10.0.5.1")
    assert client.post("/api/v1/kiosk/activate", json={"code": "ABCD-EFGH-JKLM"}).status_code == 422
    assert client.post("/api/v1/kiosk/activate", json={"code": "ABCD-EFGH-JKLN"}).status_code == 422
    assert client.post("/kiosk/activate", data={"code": "ABCD-EFGH-JKLP"}).status_code == 422
    page = client.post("/kiosk/activate", data={"code": "ABCD-EFGH-JKLQ"})
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert_retry_after(page)
    assert_refused_json(client.post("/api/v1/kiosk/activate", json={"code": "ABCD-EFGH-JKLR"}))
    assert client.get("/kiosk/activate").status_code == 200  # showing the form is not a claim
    other = client_at(limited, "10.0.5.2")
    assert other.post("/api/v1/kiosk/activate", json={"code": "ABCD-EFGH-JKLS"}).status_code == 422


# ---------------------------------------------------------------- catalog search

def test_search_is_limited_per_kiosk_across_api_suggest_and_the_kiosk_page(limited):
    limited.config["KIOSK_RATELIMIT_SEARCH_KIOSK"] = "3/minute"
    first, second = limited.credentials
    kiosk = client_at(limited, "10.0.6.1")
    kiosk.set_cookie("kiosk_credential", first)
    assert kiosk.get("/api/v1/catalog/items?q=身份证").status_code == 200
    assert kiosk.get("/api/v1/catalog/suggest?q=身份").status_code == 200
    assert kiosk.get("/kiosk/search?q=身份证").status_code == 200
    page = kiosk.get("/kiosk/search?q=护照")
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert_retry_after(page)
    # The same kiosk through its device header is the same kiosk.
    agent = client_at(limited, "10.0.6.2")
    assert_refused_json(agent.get("/api/v1/catalog/items?q=护照", headers={"Authorization": f"Kiosk {first}"}))
    # Another kiosk at the same address, and a phone without a credential, go on.
    assert client_at(limited, "10.0.6.1").get("/api/v1/catalog/items?q=护照",
                                               headers={"Authorization": f"Kiosk {second}"}).status_code == 200
    assert client_at(limited, "10.0.6.1").get("/api/v1/catalog/items?q=护照").status_code == 200


def test_search_is_limited_per_address_with_or_without_a_credential(limited):
    limited.config["KIOSK_RATELIMIT_SEARCH_IP"] = "4/minute"
    first, second = limited.credentials
    phone = client_at(limited, "10.0.7.1")
    assert [phone.get("/api/v1/catalog/items?q=社保").status_code for _ in range(3)] == [200] * 3
    assert phone.get("/api/v1/catalog/items?q=社保", headers={"Authorization": f"Kiosk {first}"}).status_code == 200
    assert_refused_json(phone.get("/api/v1/catalog/suggest?q=社", headers={"Authorization": f"Kiosk {second}"}))
    assert client_at(limited, "10.0.7.2").get("/api/v1/catalog/items?q=社保").status_code == 200


def test_an_invented_credential_does_not_escape_the_address_limit(limited):
    limited.config.update(KIOSK_RATELIMIT_SEARCH_IP="2/minute", KIOSK_RATELIMIT_SEARCH_KIOSK="100/minute")
    client = client_at(limited, "10.0.8.1")
    codes = [client.get("/api/v1/catalog/items?q=户口", headers={"Authorization": f"Kiosk made-up-{n}"}).status_code
             for n in range(3)]
    assert codes == [200, 200, 429]


# ---------------------------------------------------------------- configuration, reset, cost

def test_limits_are_read_from_the_config_on_every_request(limited):
    client = client_at(limited, "10.0.9.1")
    limited.config["KIOSK_RATELIMIT_SEARCH_IP"] = "2/minute"
    assert [client.get("/api/v1/catalog/suggest?q=a").status_code for _ in range(3)] == [200, 200, 429]
    limited.config["KIOSK_RATELIMIT_SEARCH_IP"] = "5/minute"  # a new limit counts on its own
    assert client.get("/api/v1/catalog/suggest?q=a").status_code == 200


def test_resetting_the_limiter_clears_the_counters(limited):
    limited.config["KIOSK_RATELIMIT_LOGIN_IP"] = "1/minute"
    client = client_at(limited, "10.0.10.1")
    assert [login(client, "feng").status_code for _ in range(2)] == [401, 429]
    limiter.reset()
    assert login(client, "feng").status_code == 401


def test_the_switch_turns_every_limit_off(limited):
    limited.config.update(KIOSK_RATELIMIT_LOGIN_IP="1/minute", KIOSK_RATELIMIT_ENABLED=False)
    client = client_at(limited, "10.0.11.1")
    assert [login(client, "chen").status_code for _ in range(3)] == [401] * 3


def test_limits_do_not_add_database_queries(limited):
    """Key functions use the request only: the search answers with the same statements either way."""
    statements = []

    def count(*_args):
        statements.append(1)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        client = client_at(limited, "10.0.12.1")
        client.set_cookie("kiosk_credential", limited.credentials[0])
        client.get("/api/v1/catalog/items?q=warm-up")  # the search index loads once
        counts = []
        for enabled in (True, False, True):
            limited.config["KIOSK_RATELIMIT_ENABLED"] = enabled
            statements.clear()
            assert client.get("/api/v1/catalog/items?q=身份证").status_code == 200
            counts.append(len(statements))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert counts[0] == counts[1] == counts[2]


def test_counters_of_one_app_are_not_seen_by_another(limited, make_app):
    """Each app has its own storage (tests build many apps; a process normally serves one)."""
    other = make_app(**RELAXED_RATE_LIMITS)
    limited.config["KIOSK_RATELIMIT_LOGIN_IP"] = "1/minute"
    other.config["KIOSK_RATELIMIT_LOGIN_IP"] = "1/minute"
    assert login(client_at(limited, "10.0.13.1"), "han").status_code == 401
    assert login(client_at(other, "10.0.13.1"), "han").status_code == 401
    assert login(client_at(limited, "10.0.13.1"), "han").status_code == 429


# ---------------------------------------------------------------- plain functions

def test_the_kiosk_key_is_a_digest_not_the_credential(make_app):
    app = make_app(create_schema=False)
    with app.test_request_context("/api/v1/catalog/items", headers={"Authorization": "Kiosk s3cret-credential"}):
        key = ratelimit.by_kiosk()
    with app.test_request_context("/api/v1/catalog/items", headers={"Cookie": "kiosk_credential=s3cret-credential"}):
        assert ratelimit.by_kiosk() == key
    assert key.startswith("kiosk:") and "s3cret" not in key


def test_too_many_requests_is_explained_in_both_languages():
    en, zh = http_message(429, None)
    assert "Too many" in en and "频繁" in zh


# ---------------------------------------------------------------- residents' token exchange

def exchange(client, subject: str = "demo-1"):
    return client.post("/api/v1/auth/token", json={"provider": "demo", "id_token": subject})


def phone_login(client, subject: str = "demo-1"):
    return client.post("/m/login/demo", data={"subject": subject})


def test_token_exchange_is_limited_per_address_on_the_api_and_the_phone_pages_together(limited):
    limited.config["KIOSK_RATELIMIT_TOKEN_IP"] = "3/minute"
    client = client_at(limited, "10.0.20.1")
    assert [exchange(client, f"demo-{n}").status_code for n in (1, 2)] == [201, 201]
    assert phone_login(client, "demo-3").status_code == 302
    assert_refused_json(exchange(client, "demo-4"))
    assert phone_login(client, "demo-5").status_code == 429
    assert exchange(client_at(limited, "10.0.20.2"), "demo-4").status_code == 201  # another address


def test_refused_tokens_count_against_the_address(limited):
    limited.config["KIOSK_RATELIMIT_TOKEN_IP"] = "2/minute"
    client = client_at(limited, "10.0.21.1")
    assert [exchange(client, "nobody").status_code for _ in range(3)] == [401, 401, 429]


def test_token_exchange_is_limited_per_resident_across_addresses(limited):
    limited.config["KIOSK_RATELIMIT_TOKEN_RESIDENT"] = "2/minute"
    answers = [exchange(client_at(limited, f"10.0.22.{n}"), "demo-1") for n in range(3)]
    assert [answer.status_code for answer in answers[:2]] == [201, 201]
    assert_refused_json(answers[2])
    assert phone_login(client_at(limited, "10.0.22.9"), "demo-1").status_code == 429  # one budget per resident
    assert exchange(client_at(limited, "10.0.22.10"), "demo-2").status_code == 201  # another resident


def test_the_resident_limit_counts_verified_tokens_only(limited):
    """Nobody can use up a resident's budget with tokens that do not verify."""
    limited.config["KIOSK_RATELIMIT_TOKEN_RESIDENT"] = "1/minute"
    for n in range(3):
        assert exchange(client_at(limited, f"10.0.23.{n}"), "demo-999").status_code == 401
    assert exchange(client_at(limited, "10.0.23.9"), "demo-1").status_code == 201


def test_the_switch_turns_the_resident_limit_off_too(limited):
    limited.config.update(KIOSK_RATELIMIT_TOKEN_RESIDENT="1/minute", KIOSK_RATELIMIT_ENABLED=False)
    assert [exchange(client_at(limited, "10.0.24.1")).status_code for _ in range(3)] == [201] * 3
