"""The mini-app's applications API (applications/api.py): my applications, one of mine, and
the lookup without login (number + last 4 characters), with its uniform 404 and its rate limit."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.i18n import translate
from kiosk_backend.identity import sessions
from kiosk_backend.identity.residents import mask_id_number, mask_phone

from ..conftest import APPLICANT_ID, APPLICANT_PHONE

# Resident B: another person, with applications of their own.
B_NAME, B_ID, B_PHONE = "欧阳娜娜", "440524188001010014", "13900139111"
B_ITEM, B_ORG = "乙的专属事项", "乙市公安局"
LOOKUP = "/api/v1/application-lookup"
DAY = timedelta(days=1)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def token_for(db, resident, channel: str = "api") -> str:
    """A live session of ``resident`` as the mini-app's token exchange (or the phone's login) starts one."""
    _, token = sessions.start(db.session, channel=channel, resident=resident, actor=SYSTEM, idle_seconds=3600,
                              absolute_seconds=3600)
    db.session.commit()
    return token


def as_resident(token: str) -> dict:
    return {"Authorization": f"Resident {token}"}


def make_b(make_application, state="in_progress", number="BBBB00000001", **kwargs):
    return make_application(state, number=number, name=B_NAME, id_number=B_ID, phone=B_PHONE, item_name=B_ITEM,
                            handling_org=B_ORG, **kwargs)


def b_marks(number: str) -> list[str]:
    """What must never reach anyone but B (or a caller with B's second factor)."""
    return [number, "欧**娜", B_ITEM, B_ORG, mask_id_number(B_ID), mask_phone(B_PHONE)]


@pytest.fixture
def a(db, make_resident):
    """Resident A (张三, ID APPLICANT_ID) and the header of their mini-app session."""
    resident = make_resident("张三", id_number=APPLICANT_ID)
    return as_resident(token_for(db, resident))


# ---------------------------------------------------------------- my applications

def test_my_applications_are_mine_only_newest_first_with_state_next_step_and_deadline(client, a, make_application):
    make_application("received", number="AAAA00000001", received_at=START)
    make_application("supplement_requested", number="AAAA00000002", received_at=START + 3 * DAY)
    make_application("concluded", number="AAAA00000003", received_at=START + 1 * DAY)
    make_b(make_application, received_at=START + 5 * DAY)
    answer = client.get("/api/v1/applications", headers=a)
    assert answer.status_code == 200, answer.text
    body = answer.json
    assert [item["number"] for item in body["items"]] == ["AAAA00000002", "AAAA00000003", "AAAA00000001"]
    assert (body["page"], body["page_size"], body["has_more"], body["notice"], body["notice_text"]) == (1, 20, False,
                                                                                                        None, None)
    supplement, concluded, received = body["items"]
    assert (supplement["state"], supplement["state_text"]) == ("supplement_requested", "待补正")
    assert (supplement["next_step"], supplement["next_step_text"]) == ("supplement", "请补交以下材料")
    assert (concluded["outcome"], concluded["outcome_text"], concluded["next_step"]) == ("approved", "准予", "collect")
    assert concluded["deadline"] == {"key": "finished", "count": 0, "date": "2026-04-01", "overdue": False,
                                     "text": "已办结"}
    assert received["deadline"] == {"key": "not_started", "count": 0, "date": None, "overdue": False,
                                    "text": "受理后开始计时"}
    assert (received["mode"], received["mode_text"], received["cross_province"]) == ("local", "本地办理", False)
    assert "timeline" not in received and "applicant" not in received  # the list is a summary
    assert "BBBB00000001" not in answer.text and B_ITEM not in answer.text


def test_the_list_comes_a_page_at_a_time(client, a, make_application):
    for n in range(5):
        make_application(number=f"AAAA0000000{n}", received_at=START + n * DAY)
    first = client.get("/api/v1/applications?page_size=2", headers=a).json
    assert [i["number"] for i in first["items"]] == ["AAAA00000004", "AAAA00000003"] and first["has_more"]
    last = client.get("/api/v1/applications?page=3&page_size=2", headers=a).json
    assert [i["number"] for i in last["items"]] == ["AAAA00000000"] and not last["has_more"]
    beyond = client.get("/api/v1/applications?page=4&page_size=2", headers=a).json
    assert (beyond["items"], beyond["has_more"], beyond["page"]) == ([], False, 4)


@pytest.mark.parametrize(("query", "field"), [("page=0", "page"), ("page_size=51", "page_size"),
                                              ("page_size=0", "page_size"), ("page=x", "page")])
def test_paging_out_of_bounds_is_a_422_naming_the_argument(client, a, query, field):
    answer = client.get(f"/api/v1/applications?{query}", headers=a)
    assert answer.status_code == 422 and list(answer.json["errors"]["query"]) == [field]
    assert field in answer.json["message"] and field in answer.json["message_zh"]


def test_a_resident_without_an_id_number_gets_an_empty_list_and_why(client, db, make_resident, make_application):
    make_application(number="AAAA00000001")
    resident = make_resident("张三")  # vouched for without an ID number
    body = client.get("/api/v1/applications", headers=as_resident(token_for(db, resident))).json
    assert body["items"] == [] and body["notice"] == "no_id_number"
    assert body["notice_text"] == translate("mobile.applications.no_id_number") and "身份证号" in body["notice_text"]


def test_a_resident_with_no_applications_gets_an_empty_list_without_notice(client, a):
    body = client.get("/api/v1/applications", headers=a).json
    assert (body["items"], body["notice"], body["has_more"]) == ([], None, False)


def test_one_of_mine_comes_with_its_timeline_and_masked_applicant(client, a, make_application):
    make_application("supplement_requested", number="AAAA00000001")
    answer = client.get("/api/v1/applications/aaaa00000001", headers=a)  # numbers are upper-cased
    assert answer.status_code == 200, answer.text
    body = answer.json
    assert body["number"] == "AAAA00000001" and body["missing"] == ["户口簿原件"]
    assert body["applicant"] == {"name_masked": "张*", "id_number_masked": "1101**********002X",
                                 "phone_masked": "138****8000"}
    assert [(e["seq"], e["action"], e["action_text"], e["state"], e["state_text"]) for e in body["timeline"]] == [
        (1, "receive", "接件", "received", "已接件"),
        (2, "request_supplement", "一次性告知补正材料", "supplement_requested", "待补正")]
    assert body["timeline"][1]["missing"] == ["户口簿原件"]
    assert APPLICANT_ID not in answer.text and APPLICANT_PHONE not in answer.text


def test_someone_elses_unknown_and_malformed_numbers_get_one_and_the_same_404(client, a, make_application):
    make_b(make_application)
    answers = [client.get(f"/api/v1/applications/{number}", headers=a)
               for number in ("BBBB00000001", "NOSUCH000001", "ab", "白" * 8)]
    assert {r.status_code for r in answers} == {404}
    assert all(r.json == answers[0].json for r in answers)
    assert answers[0].json["message_zh"] == "没有找到与该编号和验证信息相符的办件。"
    assert not any(mark in answers[0].text for mark in b_marks("BBBB00000001"))


@pytest.mark.parametrize("path", ["/api/v1/applications", "/api/v1/applications/AAAA00000001"])
@pytest.mark.parametrize("header", [None, "Resident made-up", "Bearer made-up"])
def test_without_a_live_resident_token_the_answer_is_401(client, make_application, path, header):
    make_application(number="AAAA00000001")
    answer = client.get(path, headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Resident realm="kiosk-backend"'
    assert "AAAA00000001" not in answer.text


def test_a_phone_page_session_is_no_api_token(client, db, make_resident):
    resident = make_resident("张三", id_number=APPLICANT_ID)
    assert client.get("/api/v1/applications", headers=as_resident(token_for(db, resident, "mobile"))).status_code == 401


# ---------------------------------------------------------------- lookup without login

@pytest.mark.parametrize("tail", ["002X", "002x", "8000", " 80 00 "])
def test_lookup_by_the_last_4_of_the_id_or_phone_gives_the_masked_view(client, make_application, tail):
    make_application("special_procedure", number="AAAA00000001")
    answer = client.post(LOOKUP, json={"number": "aaaa00000001", "tail": tail})
    assert answer.status_code == 200, answer.text
    body = answer.json
    assert (body["number"], body["state"], body["state_text"]) == ("AAAA00000001", "special_procedure", "特别程序")
    assert body["deadline"]["key"] == "paused" and body["deadline"]["text"] == "计时暂停"
    assert body["applicant"]["id_number_masked"] == "1101**********002X"
    assert [e["action"] for e in body["timeline"]] == ["receive", "accept", "start", "suspend"]
    assert body["timeline"][-1]["reason"] == "现场核查"
    assert APPLICANT_ID not in answer.text and APPLICANT_PHONE not in answer.text and "张三" not in answer.text


def test_an_unknown_number_and_a_wrong_tail_get_the_same_404(client, make_application):
    make_b(make_application)
    answers = [client.post(LOOKUP, json=body) for body in (
        {"number": "BBBB00000001", "tail": "002X"},   # someone else's tail
        {"number": "BBBB00000001", "tail": "0000"},
        {"number": "NOSUCH000001", "tail": "0014"},   # B's tail, a number nobody has
    )]
    assert {r.status_code for r in answers} == {404}
    assert answers[0].json == answers[1].json == answers[2].json
    assert answers[0].headers.get("Content-Length") == answers[2].headers.get("Content-Length")
    assert not any(mark in answers[0].text for mark in b_marks("BBBB00000001"))


@pytest.mark.parametrize(("body", "field"), [
    ({"number": "ab", "tail": "002X"}, "number"),
    ({"number": "AAAA 0000 0001?", "tail": "002X"}, "number"),
    ({"number": "AAAA00000001", "tail": "02X"}, "tail"),
    ({"number": "AAAA00000001", "tail": "002Y"}, "tail"),
    ({"number": "AAAA00000001"}, "tail"),
    ({"tail": "002X"}, "number"),
    ({"number": 12345678, "tail": "002X"}, "number"),
    ({"number": "AAAA00000001", "tail": "002X", "name": "张三"}, "name"),
])
def test_malformed_lookups_are_a_422_naming_the_field(client, make_application, body, field):
    make_application(number="AAAA00000001")
    answer = client.post(LOOKUP, json=body)
    assert answer.status_code == 422, answer.text
    assert list(answer.json["errors"]["json"]) == [field]
    assert field in answer.json["message"] and f"字段 {field}" in answer.json["message_zh"]


def test_the_lookup_is_rate_limited_per_application_number(make_app, make_application):
    app = make_app(KIOSK_RATELIMIT_LOOKUP_NUMBER="3/minute")
    with app.app_context():
        make_application(number="AAAA00000001")
        make_application(number="AAAA00000002")
        answers = []
        for n in range(4):  # from four addresses: the number's budget is spent all the same
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
            answers.append(client.post(LOOKUP, json={"number": "AAAA00000001", "tail": f"000{n}"}))
        assert [r.status_code for r in answers] == [404, 404, 404, 429]
        refused = answers[-1]
        assert refused.json["code"] == 429 and refused.json["message_zh"]
        assert refused.headers["Retry-After"].isdigit()
        # Even the right answer now waits; another number has its own budget.
        assert app.test_client().post(LOOKUP, json={"number": "aaaa 0000 0001", "tail": "002X"}).status_code == 429
        assert app.test_client().post(LOOKUP, json={"number": "AAAA00000002", "tail": "002X"}).status_code == 200


# ---------------------------------------------------------------- the document

def _operations(client) -> dict:
    return {f"{method.upper()} {path}": operation
            for path, item in client.get("/api/v1/openapi.json").json["paths"].items()
            for method, operation in item.items()
            if path.startswith("/api/v1/application") and method in ("get", "post", "put", "patch", "delete")}


def test_the_operations_are_documented_with_their_security_and_errors(client):
    operations = _operations(client)
    assert set(operations) == {"GET /api/v1/applications", "GET /api/v1/applications/{number}",
                               f"POST {LOOKUP}"}
    assert operations["GET /api/v1/applications"]["security"] == [{"resident": []}]
    assert operations["GET /api/v1/applications/{number}"]["security"] == [{"resident": []}]
    assert "security" not in operations[f"POST {LOOKUP}"]  # public, like the catalog: no credential
    assert set(operations[f"POST {LOOKUP}"]["responses"]) == {"200", "400", "404", "413", "422", "429", "503"}
    assert set(operations["GET /api/v1/applications/{number}"]["responses"]) == {"200", "401", "404", "503"}


def test_a_not_accepted_application_has_its_own_deadline_words(client, a, make_application):
    make_application("not_accepted", number="AAAA00000001")
    [item] = client.get("/api/v1/applications", headers=a).json["items"]
    assert item["deadline"] == {"key": "not_accepted", "count": 0, "date": None, "overdue": False,
                                "text": "未受理，不计办理时限"}
    assert client.get("/api/v1/applications/AAAA00000001", headers=a).json["deadline"] == item["deadline"]


def test_the_document_says_which_codes_there_are(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    summary = schemas["ApplicationSummary"]["properties"]
    assert "supplement_requested" in summary["state"]["enum"]
    assert {"collect", "supplement", "wait_acceptance", "none"} <= set(summary["next_step"]["enum"])
    assert set(schemas["DeadlineOut"]["properties"]["key"]["enum"]) == {
        "remaining", "due_today", "overdue", "paused", "not_started", "not_accepted", "finished", "unknown"}
    assert schemas["LookupIn"]["properties"]["tail"]["pattern"] == "^[0-9Xx]{4}$"


# ---------------------------------------------------------------- schemathesis, with real applications
#
# tests/test_schemathesis.py sends these operations no resident token and names no real
# application, so there they only answer 401, 404 and 422. Here the same checks run as a
# resident who has an application in every state.

@pytest.fixture
def mine_in_every_state(a, make_application) -> list[str]:
    from ..conftest import APPLICATION_PATHS

    return [make_application(state, number=f"AAAA0000{n:04d}", received_at=START + n * DAY, handling_region="440500",
                             mode=["local", "online", "proxy", "joint"][n % 4]).number
            for n, state in enumerate(APPLICATION_PATHS)]


@pytest.fixture
def document(app):
    import schemathesis

    config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def test_every_state_answers_within_the_documented_schemas(client, a, mine_in_every_state, document):
    listed = client.get("/api/v1/applications", headers=a)
    document["/api/v1/applications"]["GET"].validate_response(listed)
    assert [item["number"] for item in listed.json["items"]] == mine_in_every_state[::-1]
    for number in mine_in_every_state:
        one = client.get(f"/api/v1/applications/{number}", headers=a)
        document["/api/v1/applications/{number}"]["GET"].validate_response(one)
        assert one.json["cross_province"] is True
        found = client.post(LOOKUP, json={"number": number, "tail": "8000"})
        document[LOOKUP]["POST"].validate_response(found)
        assert found.json == one.json  # the same view, logged in or by the second factor


def test_schemathesis_finds_nothing_with_a_resident_and_real_numbers(db, a, mine_in_every_state, document, subtests):
    from ..test_schemathesis import Credentials, phases

    token = a["Authorization"].split(" ", 1)[1]

    class ResidentCredentials(Credentials):
        def header_for(self, path: str) -> str | None:
            return f"Resident {self.resident}" if path.startswith("/api/v1/applications") else None

    credentials = ResidentCredentials(None, "", "", lambda: token)

    @document.auth(refresh_interval=None)
    class _Auth:
        def get(self, case, ctx):
            return credentials.header_for(ctx.operation.path)

        def set(self, case, data, ctx):
            if data is not None:
                case.headers = {**(case.headers or {}), "Authorization": data}

    operations = [result.ok() for result in document.get_all_operations()
                  if result.ok().path.startswith("/api/v1/application")]
    assert len(operations) == 3
    for operation in operations:
        for phase, run in phases(document, operation, credentials, {"number": mine_in_every_state}).items():
            with subtests.test(f"{operation.label} ({phase})"):
                run()


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(number=st.text(max_size=50), tail=st.text(max_size=8))
def test_no_lookup_input_gives_a_5xx(_shared_app, number, tail):
    client = _shared_app.test_client()
    answer = client.post(LOOKUP, json={"number": number, "tail": tail})
    assert answer.status_code in (404, 422), (number, tail, answer.text)
