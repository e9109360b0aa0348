"""Payload safety (core/payloads.py): JSON bodies the parsers cannot take, uploads over the
limit, and text no database stores alike (NUL, unpaired surrogates) in every input schema."""
from __future__ import annotations

import importlib
import io
import json
import pkgutil

import marshmallow as ma
import pytest
from werkzeug.datastructures import ImmutableMultiDict

import kiosk_backend
from kiosk_backend.core import payloads
from kiosk_backend.core.payloads import UNSAFE_TEXT_MESSAGE, Schema, check_json_body, depth_of, find_unsafe_text

SYNONYMS = "/api/v1/admin/catalog/synonyms"


def post_json(client, token, body: str | bytes, path: str = SYNONYMS):
    return client.post(path, data=body, content_type="application/json", headers={"Authorization": f"Bearer {token}"})


def assert_error_shape(response, code: int):
    assert response.status_code == code, response.get_data(as_text=True)[:300]
    payload = response.get_json()
    assert payload["code"] == code and payload["message"] and payload["message_zh"]
    assert payload["message"] != payload["message_zh"]
    return payload


# ---------------------------------------------------------------- JSON bodies

@pytest.mark.parametrize("body,words", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),             # RecursionError in the parser
    ('{"term": ' + "[" * 1000 + "]" * 1000 + "}", "nested too deeply"),
    ('{"term": ' + "[" * 65 + "]" * 65 + "}", "nested too deeply"),   # parses, but deeper than allowed
    ('{"term": ' + "7" * 5000 + ', "expansion": "x"}', "too many digits"),
    ('{"term": NaN, "expansion": "x"}', "NaN"),
    ('{"term": -Infinity, "expansion": "x"}', "NaN"),
    ('{"term": 1e400, "expansion": "x"}', "NaN"),
])
def test_json_bodies_the_parser_cannot_take_get_400_in_the_error_shape(client, admin_token, body, words):
    payload = assert_error_shape(post_json(client, admin_token, body), 400)
    assert words in payload["message"]


def test_plain_bad_json_is_still_the_parsers_own_400(client, admin_token):
    assert_error_shape(post_json(client, admin_token, '{"term": '), 400)


def test_ordinary_json_bodies_pass(client, admin_token):
    # Long enough to be parsed by the guard (not just counted): it passes untouched.
    body = json.dumps({"term": "社保1e3", "expansion": "社会保险", "kind": "synonym"}) + " " * 5000
    response = post_json(client, admin_token, body)
    assert response.status_code == 201, response.get_json()


def test_a_json_body_over_the_limit_gets_413_naming_it(client, admin_token, monkeypatch):
    monkeypatch.setitem(client.application.config, "KIOSK_MAX_JSON_KB", 1)
    body = json.dumps({"term": "社保", "expansion": "x" * 2000})
    payload = assert_error_shape(post_json(client, admin_token, body), 413)
    assert "1 KB" in payload["message"] and "1 KB" in payload["message_zh"]


# Uploads stay under 500 KB: larger test bodies are spooled to a temporary file that the
# test client leaves open when the app refuses to read it (a ResourceWarning).
def test_an_upload_over_the_limit_gets_413_naming_it_in_both_languages(client, admin_token, monkeypatch):
    monkeypatch.setitem(client.application.config, "MAX_CONTENT_LENGTH", 100 * 1024)
    response = client.post("/api/v1/admin/catalog/import", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"[" + b" " * (100 * 1024) + b"]"), "items.json")},
                           headers={"Authorization": f"Bearer {admin_token}"})
    payload = assert_error_shape(response, 413)
    assert "100 KB" in payload["message"] and "100 KB" in payload["message_zh"]


def test_the_console_says_the_upload_limit_on_its_own_error_page(app, console, monkeypatch):
    client, csrf = console()
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100 * 1024)
    response = client.post("/admin/catalog/import", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "file": (io.BytesIO(b" " * (100 * 1024 + 1)), "items.json")})
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert "100 KB" in response.get_data(as_text=True) and "上限" in response.get_data(as_text=True)


def test_depth_is_counted_without_recursion():
    assert depth_of(1) == 0 and depth_of([]) == 1 and depth_of({"a": [{"b": []}]}) == 4
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert depth_of(deep, limit=64) == 65


def test_small_common_bodies_skip_the_second_parse():
    check_json_body(b'{"seq": 1, "app_version": "1.0", "session_active": true}')  # no error, no parse needed
    with pytest.raises(payloads.PayloadRefused):
        check_json_body(b"[" * 70 + b"]" * 70)


# ---------------------------------------------------------------- text in schemas

class Sample(Schema):
    name = ma.fields.String()
    tags = ma.fields.List(ma.fields.String())
    extra = ma.fields.Dict()


@pytest.mark.parametrize("data,field", [
    ({"name": "a\x00b"}, "name"),
    ({"name": "a\ud800"}, "name"),
    ({"name": "\udfff"}, "name"),
    ({"tags": ["ok", "x\x00"]}, "tags"),
    ({"extra": {"deep": [{"deeper": "\ud83d"}]}}, "extra"),
    ({"extra": {"key\x00": "value"}}, "extra"),
    ({"unknown\ud800": "value"}, "_schema"),
])
def test_the_base_schema_refuses_nul_and_unpaired_surrogates_anywhere(data, field):
    with pytest.raises(ma.ValidationError) as err:
        Sample(unknown=ma.EXCLUDE).load(data)
    assert err.value.messages == {field: [UNSAFE_TEXT_MESSAGE]}


def test_paired_surrogates_and_other_text_are_fine():
    assert Sample().load({"name": "🙂 社保\t\n", "tags": ["𠀀"], "extra": {"k": "\ufffd"}})["name"] == "🙂 社保\t\n"


def test_form_data_is_checked_value_by_value():
    form = ImmutableMultiDict([("tags", "ok"), ("tags", "bad\x00")])
    assert find_unsafe_text(form) == "tags"


def _input_schemas() -> list[type[ma.Schema]]:
    for module in pkgutil.walk_packages(kiosk_backend.__path__, "kiosk_backend."):
        if ".migrations" not in module.name and not module.name.endswith(("wsgi", "cli")):
            importlib.import_module(module.name)
    found, stack = [], [ma.Schema]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("kiosk_backend."):
                found.append(sub)
    return found


# Schemas that never load what a client sends: device profile files from the deployment's
# own directory, and the error payload (output only).
NOT_INPUT = {"kiosk_backend.fleet.profiles", "kiosk_backend.core.errors", "kiosk_backend.core.payloads"}


def test_every_schema_of_the_service_is_built_on_the_safe_base():
    schemas = [s for s in _input_schemas() if s.__module__ not in NOT_INPUT]
    assert len(schemas) > 20
    assert [s.__qualname__ for s in schemas if not issubclass(s, Schema)] == []


def _string_fields():
    for cls in _input_schemas():
        if cls.__module__ in NOT_INPUT:
            continue
        for name, field in cls().load_fields.items():
            if isinstance(field, ma.fields.String):
                yield pytest.param(cls, field.data_key or name, id=f"{cls.__name__}.{name}")


@pytest.mark.parametrize("cls,key", list(_string_fields()))
def test_every_string_field_of_every_schema_refuses_nul(cls, key):
    with pytest.raises(ma.ValidationError) as err:
        cls().load({key: "abc\x00"}, partial=True)
    assert err.value.messages[key] == [UNSAFE_TEXT_MESSAGE]


def test_a_chunked_json_body_is_read_no_further_than_the_limit(client, admin_token, monkeypatch):
    monkeypatch.setitem(client.application.config, "KIOSK_MAX_JSON_KB", 1)
    body = io.BytesIO(json.dumps({"term": "社保", "expansion": "x" * 5000}).encode())
    response = client.post(SYNONYMS, input_stream=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {admin_token}", "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    payload = assert_error_shape(response, 413)
    assert "1 KB" in payload["message"]
    assert body.tell() <= 2048  # not read to the end
