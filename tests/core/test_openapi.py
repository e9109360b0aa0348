"""The OpenAPI document at /api/v1/openapi.json: security schemes, error responses in the one
error shape, the device profile as an enum, the import upload, and 405 with Allow on every path.
tests/test_schemathesis.py checks that the running API keeps what this document says."""
from __future__ import annotations

import io
import json
import re

import pytest
import schemathesis

from kiosk_backend.core.errors import NO_NUL_PATTERN
from kiosk_backend.fleet.profiles import DEFAULT_PROFILE_DIR

KIOSK = [{"kiosk": []}, {"kiosk_cookie": []}]
STAFF = [{"bearer": []}]
RESIDENT = [{"resident": []}]
DEPARTMENT = [{"department_hmac": []}]
CARRIER = [{"carrier_signature": []}]
PUBLIC = None  # no security requirement at all

# Each operation: its credential and the error statuses it really gives.
OPERATIONS = {
    ("get", "/api/v1/catalog/items"): (PUBLIC, {422, 429, 503}),
    ("get", "/api/v1/catalog/suggest"): (PUBLIC, {422, 429, 503}),
    ("get", "/api/v1/catalog/items/{task_code}"): (PUBLIC, {404, 503}),
    ("get", "/api/v1/catalog/themes"): (PUBLIC, {422, 503}),
    ("get", "/api/v1/catalog/departments"): (PUBLIC, {503}),
    ("get", "/api/v1/catalog/bundles"): (PUBLIC, {503}),
    ("get", "/api/v1/catalog/bundles/{bundle_id}"): (PUBLIC, {404, 503}),
    ("post", "/api/v1/admin/catalog/import"): (STAFF, {400, 401, 403, 409, 413, 422, 503}),
    ("get", "/api/v1/admin/catalog/synonyms"): (STAFF, {401, 403, 503}),
    ("post", "/api/v1/admin/catalog/synonyms"): (STAFF, {400, 401, 403, 409, 413, 422, 503}),
    ("delete", "/api/v1/admin/catalog/synonyms/{synonym_id}"): (STAFF, {401, 403, 404, 503}),
    ("get", "/api/v1/admin/catalog/life-events"): (STAFF, {401, 403, 503}),
    ("post", "/api/v1/admin/catalog/life-events"): (STAFF, {400, 401, 403, 409, 413, 422, 503}),
    ("delete", "/api/v1/admin/catalog/life-events/{row_id}"): (STAFF, {401, 403, 404, 503}),
    ("post", "/api/v1/kiosk/heartbeat"): (KIOSK, {400, 401, 413, 422, 503}),
    ("post", "/api/v1/kiosk/commands/{command_id}/ack"): (KIOSK, {401, 403, 404, 409, 503}),
    ("post", "/api/v1/kiosk/credential"): (KIOSK, {401, 403, 503}),
    ("post", "/api/v1/kiosk/activate"): ([], {400, 409, 413, 422, 429, 503}),
    ("post", "/api/v1/auth/token"): ([], {400, 401, 413, 422, 429, 503}),
    ("get", "/api/v1/me"): (RESIDENT, {401, 503}),
    ("post", "/api/v1/auth/logout"): (RESIDENT, {401, 503}),
    ("post", "/api/v1/qr-login/scan"): (RESIDENT, {400, 401, 403, 404, 410, 413, 422, 429, 503}),
    ("post", "/api/v1/qr-login/confirm"): (RESIDENT, {400, 401, 403, 404, 409, 410, 413, 422, 429, 503}),
    ("post", "/api/v1/qr-login/deny"): (RESIDENT, {400, 401, 403, 404, 409, 410, 413, 422, 429, 503}),
    ("post", "/api/v1/departments/applications"): (DEPARTMENT, {400, 401, 409, 413, 422, 503}),
    ("post", "/api/v1/departments/applications/{number}/events"): (DEPARTMENT, {400, 401, 404, 409, 413, 422, 503}),
    ("get", "/api/v1/departments/applications/{number}"): (DEPARTMENT, {401, 404, 422, 503}),
    ("post", "/api/v1/departments/cover-scans"): (DEPARTMENT, {400, 401, 404, 409, 413, 422, 503}),
    ("get", "/api/v1/applications"): (RESIDENT, {401, 422, 503}),
    ("get", "/api/v1/applications/{number}"): (RESIDENT, {401, 404, 503}),
    ("post", "/api/v1/application-lookup"): (PUBLIC, {400, 404, 413, 422, 429, 503}),
    ("post", "/api/v1/bookings"): (RESIDENT, {400, 401, 404, 409, 413, 422, 503}),
    ("get", "/api/v1/bookings"): (RESIDENT, {401, 422, 503}),
    ("get", "/api/v1/bookings/{order_no}"): (RESIDENT, {401, 404, 503}),
    ("post", "/api/v1/bookings/{order_no}/cancel"): (RESIDENT, {400, 401, 404, 409, 413, 422, 503}),
    ("post", "/api/v1/bookings/{order_no}/slot"): (RESIDENT, {400, 401, 404, 409, 413, 422, 503}),
    ("get", "/api/v1/pickup-slots"): (RESIDENT, {401, 404, 422, 503}),
    ("get", "/api/v1/booking-prefill"): (RESIDENT, {401, 404, 422, 503}),
    ("get", "/api/v1/addresses"): (RESIDENT, {401, 503}),
    ("post", "/api/v1/addresses"): (RESIDENT, {400, 401, 409, 413, 422, 503}),
    ("delete", "/api/v1/addresses/{address_id}"): (RESIDENT, {401, 404, 503}),
    ("post", "/api/v1/addresses/{address_id}/default"): (RESIDENT, {401, 404, 503}),
    ("post", "/api/v1/courier/callbacks/{carrier}"): (CARRIER, {400, 401, 413, 422, 503}),
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def spec(_shared_app):
    return _shared_app.test_client().get("/api/v1/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def resolve(spec, obj):
    while "$ref" in obj:
        _, section, name = obj["$ref"].removeprefix("#/").split("/")
        obj = spec["components"][section][name]
    return obj


def test_the_document_lists_exactly_the_known_operations(spec):
    # A new operation must be added to OPERATIONS with its credential and errors.
    assert {(method, path) for method, path, _ in operations(spec)} == set(OPERATIONS)


def test_kiosk_and_staff_credentials_are_declared_security_schemes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["kiosk"] == {"type": "http", "scheme": "Kiosk", "description": schemes["kiosk"]["description"]}
    assert "Authorization: Kiosk <credential>" in schemes["kiosk"]["description"]
    assert schemes["kiosk_cookie"]["type"] == "apiKey"
    assert (schemes["kiosk_cookie"]["in"], schemes["kiosk_cookie"]["name"]) == ("cookie", "kiosk_credential")
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert "security" not in spec  # no global requirement: each operation names its own
    rotated = spec["paths"]["/api/v1/kiosk/credential"]["post"]["responses"]["200"]
    assert rotated["headers"]["Set-Cookie"]["required"] is True  # the new credential as the cookie too


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_each_operation_names_the_credential_it_checks(spec, method, path):
    expected, _ = OPERATIONS[(method, path)]
    assert spec["paths"][path][method].get("security") == expected


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_each_operation_documents_the_errors_it_gives_in_the_error_shape(spec, method, path):
    _, errors = OPERATIONS[(method, path)]
    responses = spec["paths"][path][method]["responses"]
    assert "default" not in responses  # a catch-all would make any status "documented"
    assert {int(code) for code in responses if not code.startswith("2")} == errors
    for code in errors:
        response = resolve(spec, responses[str(code)])
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert response["description"]
        if code in (429, 503):
            assert response["headers"]["Retry-After"]["required"] is True
        if code == 401:
            assert response["headers"]["WWW-Authenticate"]["required"] is True


def test_the_error_schema_requires_every_field_the_handlers_send(spec, client):
    schema = spec["components"]["schemas"]["Error"]
    body = client.get("/api/v1/catalog/items/NOPE").get_json()
    assert set(schema["required"]) == set(schema["properties"]) == set(body)
    assert schema["additionalProperties"] is False


def test_the_device_profile_is_an_enum_of_the_shipped_profiles(spec):
    shipped = sorted(p.stem for p in DEFAULT_PROFILE_DIR.glob("*.json"))
    assert len(shipped) >= 3
    schemas = spec["components"]["schemas"]
    assert schemas["ActivateIn"]["properties"]["profile"]["enum"] == shipped
    heartbeat = schemas["HeartbeatIn"]["properties"]["profile"]
    assert heartbeat["enum"] == [*shipped, None] and heartbeat["nullable"] is True  # null: "not reported"


def test_the_device_profile_enum_follows_the_profiles_the_app_loaded(make_app, tmp_path):
    source = DEFAULT_PROFILE_DIR / "community-tablet.json"
    (tmp_path / "community-tablet.json").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    app = make_app(create_schema=False, KIOSK_PROFILE_DIR=str(tmp_path))
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["ActivateIn"]["properties"]["profile"]["enum"] == ["community-tablet"]


def test_the_import_upload_is_a_multipart_file_of_the_accepted_formats(spec):
    body = spec["paths"]["/api/v1/admin/catalog/import"]["post"]["requestBody"]
    multipart = body["content"]["multipart/form-data"]
    assert list(body["content"]) == ["multipart/form-data"] and body["required"] is True
    form = resolve(spec, multipart["schema"])
    assert form["required"] == ["file"]
    assert (form["properties"]["file"]["type"], form["properties"]["file"]["format"]) == ("string", "binary")
    described = form["properties"]["file"]["description"]
    for extension in (".json", ".jsonl", ".csv"):
        assert extension in described
    content_types = {t.strip() for t in multipart["encoding"]["file"]["contentType"].split(",")}
    assert {"application/json", "application/x-ndjson", "text/csv"} <= content_types
    fmt = next(p for p in spec["paths"]["/api/v1/admin/catalog/import"]["post"]["parameters"] if p["name"] == "format")
    assert set(fmt["schema"]["enum"]) - {None} == {"json", "jsonl", "csv"}  # None: by extension or content


def test_every_api_path_answers_an_undeclared_method_with_405_and_allow(spec, client):
    for path, item in spec["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        declared = {m.upper() for m in item if m in HTTP_METHODS}
        for method in HTTP_METHODS:
            if method.upper() in declared:
                continue
            response = client.open(url, method=method.upper())
            assert response.status_code == 405, (method, url)
            allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
            assert declared <= allowed, (method, url, response.headers.get("Allow"))
            assert json.loads(response.data)["code"] == 405


# Arguments that pass each operation's schema, so that the request reaches the database.
VALID_ARGUMENTS = {
    ("get", "/api/v1/catalog/suggest"): {"query_string": {"q": "户口"}},
    ("post", "/api/v1/admin/catalog/synonyms"): {"json": {"term": "户口", "expansion": "户籍"}},
    ("post", "/api/v1/admin/catalog/life-events"): {"json": {"key": "pets", "name": "养宠物", "triggers": ["养狗"],
                                                            "patterns": ["养犬"]}},
    ("post", "/api/v1/kiosk/heartbeat"): {"json": {"seq": 1}},
    ("post", "/api/v1/kiosk/activate"): {"json": {"code": "ABCD2345", "profile": "community-tablet"}},
    ("post", "/api/v1/auth/token"): {"json": {"provider": "demo", "id_token": "demo-1"}},
    **{("post", f"/api/v1/qr-login/{step}"): {"json": {"token": "A" * 32}} for step in ("scan", "confirm", "deny")},
    ("post", "/api/v1/application-lookup"): {"json": {"number": "JX-TEST-000001", "tail": "002X"}},
    ("post", "/api/v1/courier/callbacks/{carrier}"): {"data": {"param": "{}", "sign": "0" * 32}},
}


def test_with_the_database_unreachable_every_operation_gives_its_documented_503(make_app, tmp_path):
    app = make_app(create_schema=False, DATABASE_URL=f"sqlite:///{tmp_path / 'not-yet' / 'kiosk.db'}")
    client = app.test_client()
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    spec = document.raw_schema
    for method, path, operation in operations(spec):
        url = re.sub(r"\{[^}]+\}", "1", path)
        kwargs = dict(VALID_ARGUMENTS.get((method, path), {}))
        if path.endswith("/import"):
            kwargs["data"] = {"file": (io.BytesIO(b"[]"), "items.json")}
        scheme = {str(STAFF): "Bearer", str(RESIDENT): "Resident"}.get(str(operation.get("security")), "Kiosk")
        headers = {"Authorization": f"{scheme} x"}
        if operation.get("security") == DEPARTMENT:  # well-formed signature headers: the key is looked up
            headers = {"X-Kiosk-Key-Id": "dept-1", "X-Kiosk-Timestamp": "1767225600", "X-Kiosk-Nonce": "nonce-123",
                       "X-Kiosk-Signature": "0" * 64}
        response = client.open(url, method=method.upper(), headers=headers, **kwargs)
        assert response.status_code == 503, (method, path, response.status_code)
        documented = resolve(spec, operation["responses"]["503"])
        assert set(documented["headers"]) == {"Retry-After"} and response.headers["Retry-After"].isdigit()
        document[path][method.upper()].validate_response(response)  # the body is the Error schema


def test_text_rules_the_schemas_check_are_in_the_document(spec, client):
    schemas = spec["components"]["schemas"]
    # No NUL in any text (core.payloads refuses it on every input), as the pattern of each string.
    assert schemas["SynonymIn"]["properties"]["term"]["pattern"] == NO_NUL_PATTERN
    q = next(p for p in spec["paths"]["/api/v1/catalog/suggest"]["get"]["parameters"] if p["name"] == "q")
    assert q["schema"]["pattern"] == NO_NUL_PATTERN
    assert client.get("/api/v1/catalog/suggest", query_string={"q": "户\x00口"}).status_code == 422
    # A kiosk's single-line fields: no control characters at all (fleet.schemas._plain_text).
    pattern = schemas["HeartbeatIn"]["properties"]["app_version"]["pattern"]
    assert re.search(pattern, "2.4.1 版") and not re.search(pattern, "2.4\t1") and not re.search(pattern, "a\x00")


@pytest.mark.parametrize(("method", "path"), sorted(key for key, (security, _) in OPERATIONS.items() if security))
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Kiosk not-a-credential", "Basic YTpi"])
def test_a_401_names_the_scheme_that_would_work(client, method, path, authorization):
    scheme = {str(STAFF): "Bearer", str(RESIDENT): "Resident",
              str(DEPARTMENT): "KIOSK-HMAC-SHA256",
              str(CARRIER): "Carrier-Signature"}.get(str(OPERATIONS[(method, path)][0]), "Kiosk")
    headers = {"Authorization": authorization} if authorization else {}
    response = client.open(re.sub(r"\{[^}]+\}", "1", path), method=method.upper(), headers=headers,
                           **VALID_ARGUMENTS.get((method, path), {}))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'{scheme} realm="kiosk-backend"'
    assert response.get_json()["code"] == 401


def test_the_documented_403s_are_real_and_in_the_error_shape(app, db, client, make_staff, make_kiosk):
    from kiosk_backend.core.actors import SYSTEM
    from kiosk_backend.identity import services as identity

    make_staff("li", role="helper")
    token = identity.issue_token(db.session, username="li", name="tests", actor=SYSTEM)
    _, pending = make_kiosk(authorized=False)
    db.session.commit()
    document = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # (The QR login's 403, a code another resident opened first: tests/identity/test_qr_routes.py.)
    refused = {key: security for key, (security, errors) in OPERATIONS.items() if 403 in errors and security != RESIDENT}
    assert len(refused) == 9
    for (method, path), security in refused.items():
        credential = f"Bearer {token}" if security == STAFF else f"Kiosk {pending}"
        response = client.open(re.sub(r"\{[^}]+\}", "1", path), method=method.upper(),
                               headers={"Authorization": credential}, **VALID_ARGUMENTS.get((method, path), {}))
        assert response.status_code == 403, (method, path, response.status_code)  # a helper; a kiosk not yet authorized
        document[path][method.upper()].validate_response(response)
