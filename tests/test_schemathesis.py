"""The standing proof of the JSON API: schemathesis generates requests for every operation in
/api/v1/openapi.json and sends them to the app in-process (WSGI, no network), as an enrolled,
authorized kiosk and as an admin with a bearer token, on the suite's database (SQLite, or
PostgreSQL under KIOSK_TEST_DATABASE_URL).

A run fails on any 5xx, any response whose status is not documented for its operation or whose
body or headers break the documented schema, any 405 without ``Allow``, and on the rest of
schemathesis' checks (invalid input must be refused, valid input accepted, authentication
enforced: with the credential removed or wrong, a kiosk or admin operation must answer 401).

Each operation gets two runs, reported as subtests: schemathesis' coverage phase (boundary
values, each constraint broken in turn, undeclared methods) and fuzzing (MAX_EXAMPLES valid and
invalid cases, some naming real items, bundles, synonyms, commands and enrolment codes).
Hypothesis runs derandomized, so a failure reproduces run after run; schemathesis prints the
request as a ``curl`` line (credentials unmasked: they are the run's throwaway ones).
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import positive_data_acceptance

from kiosk_backend.core.actors import SYSTEM
from tests.conftest import item_row

# Operations whose schema-valid requests may still be refused with 422 by a rule no schema can
# state: an import file's rows are checked line by line, and an enrolment code must exist and
# be unused. Every other check still runs on them.
DOMAIN_REFUSALS = {"POST /api/v1/admin/catalog/import", "POST /api/v1/kiosk/activate", "POST /api/v1/auth/token",
                   # 快递100 signs in the form body (sign = MD5(param + salt)); OpenAPI 3.0 can declare an
                   # apiKey only in a header, query or cookie, so the scheme says "query", and the fuzzer
                   # sends there values (NUL, lone surrogates) that every input is refused for (422).
                   "POST /api/v1/courier/callbacks/{carrier}"}

MAX_EXAMPLES = 100


class Credentials:
    """The credentials the run authenticates with; the kiosk's changes when a generated case
    rotates it (POST /api/v1/kiosk/credential), and the resident's when a case logs it out
    (POST /api/v1/auth/logout), so the next cases use a live one."""

    def __init__(self, kiosk_record, kiosk: str, bearer: str, new_resident_token):
        self.kiosk_record = kiosk_record
        self.kiosk = kiosk
        self.bearer = bearer
        self.new_resident_token = new_resident_token
        self.resident = new_resident_token()

    def header_for(self, path: str) -> str | None:
        if path.startswith("/api/v1/admin/"):
            return f"Bearer {self.bearer}"
        if path.startswith("/api/v1/kiosk/") and path != "/api/v1/kiosk/activate":
            return f"Kiosk {self.kiosk}"
        if path in ("/api/v1/me", "/api/v1/auth/logout") or path.startswith("/api/v1/qr-login/"):
            return f"Resident {self.resident}"
        return None  # the public catalog, activation and the token exchange take no credential

    def update(self, case, response) -> None:
        # (The coverage phase also sends this operation's path other methods: those get 405.)
        if case.method == "POST" and case.operation.path == "/api/v1/kiosk/credential" and response.status_code == 200:
            self.kiosk = response.json()["credential"]
        if case.method == "POST" and case.operation.path == "/api/v1/auth/logout" and response.status_code == 204:
            self.resident = self.new_resident_token()


@pytest.fixture
def credentials(db, make_kiosk, admin_token, make_resident) -> Credentials:
    from kiosk_backend.identity import sessions

    kiosk, credential = make_kiosk(authorized=True)
    resident = make_resident("张三")

    def new_resident_token() -> str:  # a mini-app session, as POST /api/v1/auth/token starts one
        _, token = sessions.start(db.session, channel="api", resident=resident, actor=SYSTEM, idle_seconds=3600,
                                  absolute_seconds=3600)
        db.session.commit()
        return token

    return Credentials(kiosk, credential, admin_token, new_resident_token)


@pytest.fixture
def known(db, demo_catalog, credentials, make_kiosk, clock) -> dict[str, list]:
    """Values that name real things, so that success answers (and their schemas) are checked
    too, not only 404s and 422s: items and bundles of the demo catalog, synonyms, the kiosk's
    commands (one pending, one expired: 409), another kiosk's command (404 for this one) and
    unused enrolment codes."""
    from kiosk_backend.catalog import services as catalog
    from kiosk_backend.catalog.models import Bundle, Item
    from kiosk_backend.fleet import commands
    from kiosk_backend.fleet import services as fleet

    synonyms = [catalog.add_synonym(db.session, term=term, expansion=expansion, kind="synonym", actor=SYSTEM)
                for term, expansion in (("医保卡", "社会保障卡"), ("户口", "户籍"), ("驾照", "机动车驾驶证"))]
    kiosk = credentials.kiosk_record
    other, _ = make_kiosk(authorized=True)
    issued = [commands.issue_command(db.session, kiosk, kind="show_message", actor=SYSTEM,
                                     payload={"text": "系统维护通知", "seconds": 30}),
              commands.issue_command(db.session, kiosk, kind="show_message", actor=SYSTEM, ttl_minutes=1,
                                     payload={"text": "已过期", "seconds": 30}, now=lambda: clock() - timedelta(days=1)),
              commands.issue_command(db.session, other, kind="show_message", actor=SYSTEM,
                                     payload={"text": "别的终端", "seconds": 30})]
    codes = [fleet.create_enrolment_code(db.session, site=kiosk.site, actor=SYSTEM, pre_authorized=n % 2 == 0)[0]
             for n in range(4)]
    db.session.commit()
    return {"enrolment_code": codes,
            "task_code": list(db.session.scalars(sa.select(Item.task_code).order_by(Item.id).limit(5))),
            "bundle_id": list(db.session.scalars(sa.select(Bundle.id).limit(3))),
            "synonym_id": [synonym.id for synonym in synonyms],
            "command_id": [command.id for command in issued]}


@pytest.fixture
def api_schema(app, credentials):
    """The app's own document, loaded through the app, with explicit credentials: schemathesis
    then also checks that each secured operation refuses a missing or wrong one."""
    # The credentials are throwaway test ones: failures show requests as sent (reproducible).
    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)

    @api.auth(refresh_interval=None)
    class _Auth:
        def get(self, case, ctx):
            return credentials.header_for(ctx.operation.path)

        def set(self, case, data, ctx):
            if data is not None:
                case.headers = {**(case.headers or {}), "Authorization": data}

    return api


def allow_on_405(ctx, response, case):
    """RFC 9110: a 405 names the methods the resource has."""
    if response.status_code == 405:
        assert response.headers.get("allow"), f"405 without an Allow header for {case.operation.label}"


def strategy_for(api, operation, known: dict[str, list]):
    """Positive and negative cases, plus positive ones whose path names a real resource."""
    modes = [operation.as_strategy(generation_mode=mode, auth_storage=api.auth)
             for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    names = [parameter.name for parameter in operation.path_parameters]
    real = [operation.as_strategy(auth_storage=api.auth, path_parameters={name: value})
            for name in names for value in known.get(name, ())]
    if operation.label == "POST /api/v1/admin/catalog/import":
        rows = [item_row(task_code=f"ST{n}") for n in range(3)]
        real.append(operation.as_strategy(auth_storage=api.auth, query={"dry_run": False},
                                          body={"file": json.dumps(rows, ensure_ascii=False).encode()}))
    if operation.label == "POST /api/v1/auth/token":
        real += [operation.as_strategy(body={"provider": "demo", "id_token": f"demo-{n}"}) for n in (1, 2)]
    if operation.label == "POST /api/v1/kiosk/activate":
        real += [operation.as_strategy(body={"code": code, "profile": "community-tablet"})
                 for code in known["enrolment_code"]]
    return st.one_of(modes + real)


SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def phases(api, operation, credentials, known) -> dict:
    """The two runs for one operation, each sending generated cases and checking the answers:
    schemathesis' coverage phase (boundary values, each constraint broken in turn, every
    undeclared method) and fuzzing (random valid and invalid cases, and real resources)."""
    excluded = [positive_data_acceptance] if operation.label in DOMAIN_REFUSALS else []

    def check(case):
        response = case.call()
        credentials.update(case, response)
        case.validate_response(response, additional_checks=[allow_on_405], excluded_checks=excluded)

    # Built as schemathesis' own pytest integration builds it (its lazy from_fixture loader
    # does not run on pytest 9.2: it sets Node._nodeid).
    @SETTINGS
    def coverage_phase(case):
        check(case)

    @SETTINGS
    @given(case=strategy_for(api, operation, known))
    def fuzzing_phase(case):
        check(case)

    return {"coverage": create_test(operation=operation, test_func=coverage_phase, config=HypothesisTestConfig(
                project=api.config, modes=[HypothesisTestMode.COVERAGE], settings=SETTINGS)),
            "fuzzing": fuzzing_phase}


def test_every_operation_keeps_its_documented_contract(api_schema, credentials, known, subtests):
    operations = [result.ok() for result in api_schema.get_all_operations()]  # .ok(): none failed to load
    documented = [method for item in api_schema.raw_schema["paths"].values() for method in item
                  if method in ("get", "put", "post", "delete", "patch")]
    assert len(operations) == len(documented) >= 15
    for operation in operations:
        for phase, run in phases(api_schema, operation, credentials, known).items():
            with subtests.test(f"{operation.label} ({phase})"):
                run()
