"""Configuration: defaults, then ``KIOSK_*`` environment variables, then explicit overrides.

| variable | meaning | default |
|---|---|---|
| KIOSK_DATABASE_URL | SQLAlchemy URL; ``postgresql://`` is read as psycopg 3 | SQLite file ``instance/kiosk.db`` |
| KIOSK_SECRET_KEY | signs CSRF tokens and cookies | generated once into ``instance/secret_key`` |
| KIOSK_REDIS_URL | shared store for rate limits and caches across app servers | in-process |
| KIOSK_RATELIMIT_ENABLED | rate limits on; switch off for benchmarks only | 1 |
| KIOSK_RATELIMIT_LOGIN_USERNAME, KIOSK_RATELIMIT_LOGIN_IP | console login POSTs per username from one IP, per IP | 10/minute;50/hour, 30/minute;300/hour |
| KIOSK_RATELIMIT_ENROLMENT_IP | enrolment-code claims (browser and API) per IP | 10/minute;50/hour |
| KIOSK_RATELIMIT_SEARCH_KIOSK, KIOSK_RATELIMIT_SEARCH_IP | catalog search and suggest per kiosk, per IP | 120/minute, 600/minute |
| KIOSK_RATELIMIT_TOKEN_IP, KIOSK_RATELIMIT_TOKEN_RESIDENT | resident logins (ID-token exchange: mini-app API and phone pages) per IP, and per resident after the token is verified | 20/minute;200/hour, 10/minute;50/hour |
| KIOSK_RATELIMIT_QR_KIOSK | QR login codes a kiosk may show (login screen opens and refreshes) | 20/minute;300/hour |
| KIOSK_RATELIMIT_QR_RESIDENT, KIOSK_RATELIMIT_QR_IP | QR login scans, confirms and denials (phone pages and mini-app API) per resident, per IP | 20/minute;200/hour, 60/minute |
| KIOSK_RATELIMIT_LOOKUP_KIOSK, KIOSK_RATELIMIT_LOOKUP_IP, KIOSK_RATELIMIT_LOOKUP_NUMBER | progress lookups without login (number + last 4; kiosk, phone pages and mini-app API share one budget) per kiosk, per IP, per application number | 30/minute;300/hour, 30/minute;300/hour, 5/minute;20/hour |
| KIOSK_RATELIMIT_STRATEGY | fixed-window, moving-window or sliding-window-counter | fixed-window |
| KIOSK_RATELIMIT_KEY_PREFIX | prefix of the counters in Redis (deployments sharing a Redis) | kiosk-ratelimit |
| KIOSK_IDLE_SECONDS | kiosk idle time before the countdown | 120 |
| KIOSK_IDLE_WARNING_SECONDS | length of the full-screen countdown | 25 |
| KIOSK_KIOSK_SESSION_MAX_MINUTES | absolute limit of a resident's (or helper's) session at a kiosk, however active | 15 |
| KIOSK_QR_TTL_SECONDS | lifetime of a kiosk's QR login code (at most 120; the screen shows a new one before) | 120 |
| KIOSK_QR_POLL_MS | how often the login screen asks whether its code was confirmed (ETag, 304 while unchanged) | 500 |
| KIOSK_PUBLIC_URL | base URL phones use for QR codes on printouts; required in production (kiosk_backend.wsgi refuses to start without it) | the request's host, in the demo and tests only |
| KIOSK_MAX_UPLOAD_MB | largest catalog import accepted over HTTP (413 beyond) | 64 |
| KIOSK_IMPORT_MAX_ROWS | most rows a catalog import may hold (API, console, CLI; 422 beyond) | 20000 |
| KIOSK_IMPORT_MAX_PROBLEMS | problems listed in an import report; all are counted | 200 |
| KIOSK_MAX_JSON_KB | largest JSON request body (413 beyond) | 1024 |
| KIOSK_PROFILE_DIR | device profile files, validated at start-up | the project's device_profiles/ |
| KIOSK_OFFLINE_ALERT_MINUTES | silence after which an offline alert opens | 10 |
| KIOSK_JOB_MAX_ATTEMPTS | attempts of an outbox message before it is dead | 8 |
| KIOSK_JOB_BACKOFF_BASE_SECONDS, KIOSK_JOB_BACKOFF_CAP_SECONDS | retry backoff: base doubled per attempt, capped, jittered | 10, 3600 |
| KIOSK_JOB_LEASE_SECONDS | how long a worker holds a message before another may take it | 300 |
| KIOSK_WORKERS | worker threads of `kiosk worker` | 2 |
| KIOSK_QUEUE_NAME | task queue name (the Redis key prefix) | kiosk |
| KIOSK_OUTBOX_KEEP_DAYS | days done outbox messages are kept | 7 |
| KIOSK_DB_CONNECT_TIMEOUT | seconds to wait for a PostgreSQL connection to open | 5 |
| KIOSK_DB_STATEMENT_TIMEOUT_MS | PostgreSQL statement_timeout: longer statements are cancelled (503) | 15000 |
| KIOSK_DB_POOL_TIMEOUT | whole seconds a request waits for a free pooled connection (503 after) | 5 |
| KIOSK_DATA_KEY | key for residents' personal data (keyed hashes of ID and mobile numbers, encrypted mobile numbers); at least 32 characters, set once, required in production | derived from the secret key, in the demo and tests only |
| KIOSK_IDENTITY_PROVIDERS | resident identity providers offered, comma-separated: oidc, demo (demo only in demo mode and tests) | oidc when KIOSK_OIDC_ISSUER is set, demo in the demo |
| KIOSK_OIDC_ISSUER, KIOSK_OIDC_AUDIENCE | the identity platform's issuer (`iss`) and this service's client id (`aud`) in its ID tokens | none |
| KIOSK_OIDC_JWKS_URL, KIOSK_OIDC_JWKS_FILE | where the platform's signing keys are: a JWKS URL (fetched with a 5 s timeout, cached 5 min) or a JWKS file; one of them | none |
| KIOSK_OIDC_LEEWAY_SECONDS | clock skew allowed on exp/nbf/iat of ID tokens | 30 |
| KIOSK_OIDC_ID_NUMBER_CLAIM | the ID-token claim carrying the ID number (name, phone_number are standard) | id_number |
| KIOSK_PHONE_SESSION_IDLE_SECONDS, KIOSK_PHONE_SESSION_MAX_SECONDS | idle and absolute limits of residents' sessions on the phone pages and in the mini-app | 1800, 43200 |
| KIOSK_PROXY_COUNT | trusted reverse proxies in front (their X-Forwarded-* are believed) | 0 |
| KIOSK_SMS_PROVIDER | who sends SMS to residents (core.sms): log (written to the log only: demo, tests) or tencent | log |
| KIOSK_SMS_SIGN_NAME | the approved SMS signature (签名) | none |
| KIOSK_SMS_TEMPLATES | our template names → the provider's approved template ids, a JSON object: {"application_state": "1234567"} | none |
| KIOSK_SMS_PARAM_MAX_CHARS | longest template parameter, longer ones are cut with … (Tencent: 12 for personally certified accounts; 0 is no limit, as for organisations) | 0 |
| KIOSK_SMS_TIMEOUT_SECONDS | timeout of each call to the SMS provider | 10 |
| KIOSK_SMS_TENCENT_SECRET_ID, KIOSK_SMS_TENCENT_SECRET_KEY | Tencent Cloud API key pair; required with tencent (production refuses to start without) | none |
| KIOSK_SMS_TENCENT_SDK_APP_ID | the SMS application's SdkAppId; required with tencent | none |
| KIOSK_SMS_TENCENT_REGION, KIOSK_SMS_TENCENT_ENDPOINT | X-TC-Region and the API's base URL (https) | ap-guangzhou, https://sms.tencentcloudapi.com |
| KIOSK_COURIER_CARRIER | the carrier new bookings go to (courier.carriers): demo (moves parcels on a schedule, calls nobody) or kuaidi100 (needs its account in the console) | demo |
| KIOSK_DEMO_CARRIER_STEP_MINUTES | minutes between two states of a demo parcel (已收寄, 运输中, 派送中, 已签收), unless the demo account sets step_minutes | 2 |
| KIOSK_KUAIDI100_ENDPOINT, KIOSK_KUAIDI100_TIMEOUT_SECONDS | 快递100's API base URL (https; a local fake in tests) and the timeout of each call | https://poll.kuaidi100.com, 10 |
| KIOSK_CALENDAR_WARN_MONTH | from this month on the console warns that next year's holiday arrangement (放假安排) is not entered yet | 11 |
| KIOSK_IDEMPOTENCY_HOURS | how long an Idempotency-Key and its stored response are kept (at least 24) | 24 |
| KIOSK_IDEMPOTENCY_LEASE_SECONDS | how long a request holds its Idempotency-Key before a retry may take it over (the request died) | 60 |
| KIOSK_COURIER_POLL_QUIET_MINUTES | a parcel not heard of (push or poll) for this long is polled at its carrier | 120 |
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from . import __version__


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste and pin PostgreSQL to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _secret_key(instance_path: Path) -> str:
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written once, readable by the owner only: the embedded default must survive restarts.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


# The department API's signature (core/signing.py), as the OpenAPI document explains it.
DEPARTMENT_SIGNING = (
    "Department systems sign every request with the key id and secret an admin issued "
    "(`kiosk department create-client NAME`, or the console); `kiosk department send` signs for you. "
    "Four headers: `X-Kiosk-Key-Id` (the key id), `X-Kiosk-Timestamp` (Unix seconds; at most 300 s "
    "from the server's clock), `X-Kiosk-Nonce` (8–64 of `A-Za-z0-9._~-`, never reused with the key) and "
    "`X-Kiosk-Signature`: lowercase hex HMAC-SHA256(secret, canonical string). The canonical string is "
    "seven lines joined by `\\n`, no trailing newline: `KIOSK-HMAC-SHA256`; the method in upper case; "
    "the path, percent-decoded (`/api/v1/departments/applications`); the query, pairs sorted and RFC 3986 "
    "encoded (an empty line if none); the timestamp; the nonce; the hex SHA-256 of the exact body bytes "
    "(of the empty string for a GET). A refused signature is a 401 whose `errors.signature` (or "
    "`errors.headers`) names the reason: missing_header, malformed_header, unknown_key (also a disabled "
    "client), stale_timestamp, bad_signature, replayed_nonce. After a secret rotation the previous secret "
    "keeps working for 24 hours. A correctly signed request uses up its nonce whether it is applied or "
    "refused for another reason (4xx): the same signed request sent again is a replayed_nonce, so sign it "
    "again with a new nonce (`kiosk department send` does). Only a server failure (5xx) leaves the nonce "
    "unused.")


CARRIER_SIGNING = (
    "A carrier's own signature on its pushes to /api/v1/courier/callbacks/<carrier> (courier.callbacks). 快递100 "
    "posts application/x-www-form-urlencoded fields `param` (JSON text) and `sign` = upper-case hex MD5(param + "
    "salt), the salt we gave with the order or subscription; the signature travels in the form body, not the query "
    "(OpenAPI 3.0 has no body location for a key; `in: query` is the nearest it allows). 快递100's scheme has no "
    "timestamp or nonce: a push sent again is answered as received and its events are recorded once. A refused "
    "signature is a 401 whose `errors.signature` names the reason: bad_signature, or unknown_carrier for a carrier "
    "that pushes nothing here or has no active account; WWW-Authenticate: Carrier-Signature.")


def load_config(instance_path: str | Path, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    instance = Path(instance_path)
    cfg: dict[str, Any] = {
        "API_TITLE": "kiosk-backend",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {"description": "JSON API of kiosk-backend: catalog search and service guides "
                                    "(政务服务事项与办事指南)."},
            # Operations name theirs (catalog/api.py, fleet/api.py); the public catalog needs none.
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A staff member's API token (`kiosk token create USERNAME`): "
                                          "'Authorization: Bearer <token>'."},
                "kiosk": {"type": "http", "scheme": "Kiosk",
                          "description": "An enrolled kiosk's credential (from POST /api/v1/kiosk/activate): "
                                         "'Authorization: Kiosk <credential>'."},
                "resident": {"type": "http", "scheme": "Resident",
                             "description": "A resident's session token from POST /api/v1/auth/token (the mini-app): "
                                            "'Authorization: Resident <token>'. A different scheme from staff "
                                            "tokens (Bearer), so neither is ever taken for the other."},
                "kiosk_cookie": {"type": "apiKey", "in": "cookie", "name": "kiosk_credential",
                                 "description": "The same credential as the cookie a kiosk browser gets at "
                                                "activation (/kiosk/activate)."},
                "department_hmac": {"type": "apiKey", "in": "header", "name": "X-Kiosk-Signature",
                                    "description": DEPARTMENT_SIGNING},
                "carrier_signature": {"type": "apiKey", "in": "query", "name": "sign",
                                      "description": CARRIER_SIGNING},
            }},
        },
        # Database timeouts: a database that stops answering gives 503 + Retry-After
        # (core.errors) within seconds instead of hanging every worker (engine_options below).
        "KIOSK_DB_CONNECT_TIMEOUT": int(env.get("KIOSK_DB_CONNECT_TIMEOUT", 5)),
        "KIOSK_DB_STATEMENT_TIMEOUT_MS": int(env.get("KIOSK_DB_STATEMENT_TIMEOUT_MS", 15000)),
        "KIOSK_DB_POOL_TIMEOUT": int(env.get("KIOSK_DB_POOL_TIMEOUT", 5)),
        "KIOSK_PROXY_COUNT": int(env.get("KIOSK_PROXY_COUNT", 0)),
        "KIOSK_IDLE_SECONDS": int(env.get("KIOSK_IDLE_SECONDS", 120)),
        "KIOSK_IDLE_WARNING_SECONDS": int(env.get("KIOSK_IDLE_WARNING_SECONDS", 25)),
        "KIOSK_KIOSK_SESSION_MAX_MINUTES": int(env.get("KIOSK_KIOSK_SESSION_MAX_MINUTES", 15)),
        "KIOSK_QR_TTL_SECONDS": int(env.get("KIOSK_QR_TTL_SECONDS", 120)),
        "KIOSK_QR_POLL_MS": int(env.get("KIOSK_QR_POLL_MS", 500)),
        "KIOSK_PUBLIC_URL": env.get("KIOSK_PUBLIC_URL", ""),
        "KIOSK_DEMO": False,  # set by `kiosk demo`: QR codes may then fall back to the request's host
        # Residents: personal data keys (identity.residents), identity providers (identity.providers).
        "KIOSK_DATA_KEY": env.get("KIOSK_DATA_KEY", ""),
        "KIOSK_IDENTITY_PROVIDERS": env.get("KIOSK_IDENTITY_PROVIDERS", ""),
        "KIOSK_OIDC_ISSUER": env.get("KIOSK_OIDC_ISSUER", ""),
        "KIOSK_OIDC_AUDIENCE": env.get("KIOSK_OIDC_AUDIENCE", ""),
        "KIOSK_OIDC_JWKS_URL": env.get("KIOSK_OIDC_JWKS_URL", ""),
        "KIOSK_OIDC_JWKS_FILE": env.get("KIOSK_OIDC_JWKS_FILE", ""),
        "KIOSK_OIDC_LEEWAY_SECONDS": int(env.get("KIOSK_OIDC_LEEWAY_SECONDS", 30)),
        "KIOSK_OIDC_ID_NUMBER_CLAIM": env.get("KIOSK_OIDC_ID_NUMBER_CLAIM", "id_number"),
        "KIOSK_PHONE_SESSION_IDLE_SECONDS": int(env.get("KIOSK_PHONE_SESSION_IDLE_SECONDS", 1800)),
        "KIOSK_PHONE_SESSION_MAX_SECONDS": int(env.get("KIOSK_PHONE_SESSION_MAX_SECONDS", 43200)),
        # SMS to residents (core.sms), sent by outbox handlers; KIOSK_SMS_TEMPLATES stays text here
        # and is read by core.sms, which names what is wrong with it.
        "KIOSK_SMS_PROVIDER": env.get("KIOSK_SMS_PROVIDER", "log"),
        "KIOSK_SMS_SIGN_NAME": env.get("KIOSK_SMS_SIGN_NAME", ""),
        "KIOSK_SMS_TEMPLATES": env.get("KIOSK_SMS_TEMPLATES", ""),
        "KIOSK_SMS_PARAM_MAX_CHARS": int(env.get("KIOSK_SMS_PARAM_MAX_CHARS", 0)),
        "KIOSK_SMS_TIMEOUT_SECONDS": float(env.get("KIOSK_SMS_TIMEOUT_SECONDS", 10)),
        "KIOSK_SMS_TENCENT_SECRET_ID": env.get("KIOSK_SMS_TENCENT_SECRET_ID", ""),
        "KIOSK_SMS_TENCENT_SECRET_KEY": env.get("KIOSK_SMS_TENCENT_SECRET_KEY", ""),
        "KIOSK_SMS_TENCENT_SDK_APP_ID": env.get("KIOSK_SMS_TENCENT_SDK_APP_ID", ""),
        "KIOSK_SMS_TENCENT_REGION": env.get("KIOSK_SMS_TENCENT_REGION", "ap-guangzhou"),
        "KIOSK_SMS_TENCENT_ENDPOINT": env.get("KIOSK_SMS_TENCENT_ENDPOINT", "https://sms.tencentcloudapi.com"),
        # Carriers of courier bookings (courier.carriers); accounts and credentials are kept in the database.
        "KIOSK_COURIER_CARRIER": env.get("KIOSK_COURIER_CARRIER", "demo"),
        "KIOSK_DEMO_CARRIER_STEP_MINUTES": float(env.get("KIOSK_DEMO_CARRIER_STEP_MINUTES", 2)),
        "KIOSK_KUAIDI100_ENDPOINT": env.get("KIOSK_KUAIDI100_ENDPOINT", "https://poll.kuaidi100.com"),
        "KIOSK_KUAIDI100_TIMEOUT_SECONDS": float(env.get("KIOSK_KUAIDI100_TIMEOUT_SECONDS", 10)),
        # Flask's signed session cookie carries one-time console notices only (a new enrolment
        # code between a POST and the page it redirects to); staff sessions are server-side.
        "SESSION_COOKIE_NAME": "kiosk_admin_notice",
        "SESSION_COOKIE_PATH": "/admin",
        "SESSION_COOKIE_SAMESITE": "Strict",
        "KIOSK_REDIS_URL": env.get("KIOSK_REDIS_URL", ""),
        # Rate limits (core.ratelimit): limits strings "N per minute;M per hour", counted in Redis when set.
        "KIOSK_RATELIMIT_ENABLED": env.get("KIOSK_RATELIMIT_ENABLED", "1").lower() not in ("0", "false", "no", "off"),
        "KIOSK_RATELIMIT_LOGIN_USERNAME": env.get("KIOSK_RATELIMIT_LOGIN_USERNAME", "10/minute;50/hour"),
        "KIOSK_RATELIMIT_LOGIN_IP": env.get("KIOSK_RATELIMIT_LOGIN_IP", "30/minute;300/hour"),
        "KIOSK_RATELIMIT_ENROLMENT_IP": env.get("KIOSK_RATELIMIT_ENROLMENT_IP", "10/minute;50/hour"),
        "KIOSK_RATELIMIT_SEARCH_KIOSK": env.get("KIOSK_RATELIMIT_SEARCH_KIOSK", "120/minute"),
        "KIOSK_RATELIMIT_SEARCH_IP": env.get("KIOSK_RATELIMIT_SEARCH_IP", "600/minute"),
        "KIOSK_RATELIMIT_TOKEN_IP": env.get("KIOSK_RATELIMIT_TOKEN_IP", "20/minute;200/hour"),
        "KIOSK_RATELIMIT_TOKEN_RESIDENT": env.get("KIOSK_RATELIMIT_TOKEN_RESIDENT", "10/minute;50/hour"),
        "KIOSK_RATELIMIT_QR_KIOSK": env.get("KIOSK_RATELIMIT_QR_KIOSK", "20/minute;300/hour"),
        "KIOSK_RATELIMIT_QR_RESIDENT": env.get("KIOSK_RATELIMIT_QR_RESIDENT", "20/minute;200/hour"),
        "KIOSK_RATELIMIT_QR_IP": env.get("KIOSK_RATELIMIT_QR_IP", "60/minute"),
        "KIOSK_RATELIMIT_LOOKUP_KIOSK": env.get("KIOSK_RATELIMIT_LOOKUP_KIOSK", "30/minute;300/hour"),
        "KIOSK_RATELIMIT_LOOKUP_IP": env.get("KIOSK_RATELIMIT_LOOKUP_IP", "30/minute;300/hour"),
        "KIOSK_RATELIMIT_LOOKUP_NUMBER": env.get("KIOSK_RATELIMIT_LOOKUP_NUMBER", "5/minute;20/hour"),
        "RATELIMIT_STRATEGY": env.get("KIOSK_RATELIMIT_STRATEGY", "fixed-window"),
        "RATELIMIT_STORAGE_URI": env.get("KIOSK_REDIS_URL") or "memory://",
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": env.get("KIOSK_RATELIMIT_KEY_PREFIX", "kiosk-ratelimit")} if env.get("KIOSK_REDIS_URL") else {},
        "MAX_CONTENT_LENGTH": int(env.get("KIOSK_MAX_UPLOAD_MB", 64)) * 1024 * 1024,
        # Bounds of the catalog import (catalog.importer) and of JSON bodies (core.payloads).
        "KIOSK_IMPORT_MAX_ROWS": int(env.get("KIOSK_IMPORT_MAX_ROWS", 20_000)),
        "KIOSK_IMPORT_MAX_PROBLEMS": int(env.get("KIOSK_IMPORT_MAX_PROBLEMS", 200)),
        "KIOSK_MAX_JSON_KB": int(env.get("KIOSK_MAX_JSON_KB", 1024)),
        "KIOSK_PROFILE_DIR": env.get("KIOSK_PROFILE_DIR") or str(Path(__file__).resolve().parent.parent / "device_profiles"),
        "KIOSK_OFFLINE_ALERT_MINUTES": int(env.get("KIOSK_OFFLINE_ALERT_MINUTES", 10)),
        "KIOSK_CALENDAR_WARN_MONTH": int(env.get("KIOSK_CALENDAR_WARN_MONTH", 11)),  # core.calendar_store
        # Background work (core.outbox, core.tasks, `kiosk worker`).
        "KIOSK_JOB_MAX_ATTEMPTS": int(env.get("KIOSK_JOB_MAX_ATTEMPTS", 8)),
        "KIOSK_JOB_BACKOFF_BASE_SECONDS": float(env.get("KIOSK_JOB_BACKOFF_BASE_SECONDS", 10)),
        "KIOSK_JOB_BACKOFF_CAP_SECONDS": float(env.get("KIOSK_JOB_BACKOFF_CAP_SECONDS", 3600)),
        "KIOSK_JOB_LEASE_SECONDS": float(env.get("KIOSK_JOB_LEASE_SECONDS", 300)),
        "KIOSK_WORKERS": int(env.get("KIOSK_WORKERS", 2)),
        "KIOSK_QUEUE_NAME": env.get("KIOSK_QUEUE_NAME", "kiosk"),
        "KIOSK_OUTBOX_KEEP_DAYS": int(env.get("KIOSK_OUTBOX_KEEP_DAYS", 7)),
        "KIOSK_OUTBOX_SWEEP_GRACE_SECONDS": 60,
        # Idempotency-Key of booking POSTs (core.idempotency).
        "KIOSK_IDEMPOTENCY_HOURS": float(env.get("KIOSK_IDEMPOTENCY_HOURS", 24)),
        "KIOSK_IDEMPOTENCY_LEASE_SECONDS": float(env.get("KIOSK_IDEMPOTENCY_LEASE_SECONDS", 60)),
        "KIOSK_COURIER_POLL_QUIET_MINUTES": float(env.get("KIOSK_COURIER_POLL_QUIET_MINUTES", 120)),  # courier.jobs
        "KIOSK_APP_VERSION": __version__,
    }
    url = overrides.pop("DATABASE_URL", None) or env.get("KIOSK_DATABASE_URL")
    if not url:
        instance.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{instance / 'kiosk.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(url)
    cfg["SECRET_KEY"] = overrides.pop("SECRET_KEY", None) or env.get("KIOSK_SECRET_KEY") or _secret_key(instance)
    cfg.update(overrides)
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(
        cfg["SQLALCHEMY_DATABASE_URI"], connect_timeout=cfg["KIOSK_DB_CONNECT_TIMEOUT"],
        statement_timeout_ms=cfg["KIOSK_DB_STATEMENT_TIMEOUT_MS"], pool_timeout=cfg["KIOSK_DB_POOL_TIMEOUT"]))
    return cfg


class ConfigError(RuntimeError):
    """A setting production cannot run without; the message says which and why."""


def check_production_config(config: Mapping[str, Any]) -> None:
    """Refuse settings that only the demo and tests may leave out (the WSGI entry point calls
    this before serving). Raises ConfigError."""
    if config.get("TESTING") or config.get("KIOSK_DEMO"):
        return
    public = str(config.get("KIOSK_PUBLIC_URL") or "").strip()
    if not public:
        raise ConfigError("KIOSK_PUBLIC_URL is not set. Printed and on-screen QR codes need the address phones use "
                          "to reach this server, e.g. KIOSK_PUBLIC_URL=https://zwfw.example.gov.cn "
                          "(without it they would point at whatever host name a kiosk used).")
    if not public.startswith(("http://", "https://")):
        raise ConfigError(f"KIOSK_PUBLIC_URL must start with http:// or https://, got {public!r}.")
    if len(str(config.get("KIOSK_DATA_KEY") or "")) < 32:
        raise ConfigError("KIOSK_DATA_KEY is not set (or shorter than 32 characters). Residents' ID and mobile numbers "
                          "are kept as keyed hashes and encrypted with it; generate one once, e.g. "
                          "python -c 'import secrets; print(secrets.token_urlsafe(32))', and keep it with the "
                          "database's backups (without it stored mobile numbers cannot be read).")
    chosen = str(config.get("KIOSK_IDENTITY_PROVIDERS") or "")
    if "oidc" in [name.strip() for name in chosen.split(",")] or (not chosen and config.get("KIOSK_OIDC_ISSUER")):
        missing = [name for name in ("KIOSK_OIDC_ISSUER", "KIOSK_OIDC_AUDIENCE") if not config.get(name)]
        if not (config.get("KIOSK_OIDC_JWKS_URL") or config.get("KIOSK_OIDC_JWKS_FILE")):
            missing.append("KIOSK_OIDC_JWKS_URL or KIOSK_OIDC_JWKS_FILE")
        if missing:
            raise ConfigError(f"The oidc identity provider is enabled but {', '.join(missing)} is not set.")
    # The SMS sender is built once here so that incomplete Tencent settings stop start-up, not the first SMS.
    from .core.sms import SmsConfigError, sender_from_config
    try:
        sender_from_config(config)
    except SmsConfigError as exc:
        raise ConfigError(str(exc)) from None


def engine_options(url: str, *, connect_timeout: int, statement_timeout_ms: int,
                   pool_timeout: int) -> dict[str, Any]:
    """create_engine() options for ``url``: pre-ping, and timeouts wherever the dialect has them.

    PostgreSQL gets libpq's ``connect_timeout`` and a server-side ``statement_timeout``
    passed in the startup packet (no extra round trip). ``options`` given in connect_args
    *replace* the URL's ``options`` (SQLAlchemy updates the URL's parameters with them), so
    the URL's own ``options`` (a search_path, say) are kept by appending to them.
    Flask-SQLAlchemy builds the engine with engine_from_config, which truncates
    ``pool_timeout`` to whole seconds.
    """
    parsed = make_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        url_options = parsed.query.get("options", "")
        if isinstance(url_options, tuple):  # ?options=a&options=b
            url_options = " ".join(url_options)
        statement = f"-c statement_timeout={int(statement_timeout_ms)}"
        options["connect_args"] = {"connect_timeout": int(connect_timeout),
                                   "options": f"{url_options} {statement}".strip()}
    if not (parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")):
        # In-memory SQLite uses a StaticPool, which has no timeout to configure.
        options["pool_timeout"] = pool_timeout
    return options
