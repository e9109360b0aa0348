"""SMS senders: TC3-HMAC-SHA256 against Tencent Cloud's worked example, the Tencent adapter
against a real local server that checks its signatures (sms_fake_server.py), the mapping of
Tencent's codes to "retry" or "dead", the logging sender, settings, and an outbox message
that survives a provider outage and is delivered once."""
from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.config import ConfigError, check_production_config, load_config
from kiosk_backend.core import outbox, sms
from kiosk_backend.core.gateways import HttpResponse, RecordingTransport, TransportError, UrllibTransport
from kiosk_backend.core.outbox import DONE, PENDING, OutboxMessage, Policy
from kiosk_backend.core.sms import (
    LoggingSender,
    SmsConfigError,
    SmsMessage,
    SmsRejected,
    SmsTemporaryError,
    TencentCloudSender,
    fit_param,
    sender_from_config,
    tc3_sign,
    tc3_signing_key,
)
from tests.core.sms_fake_server import FakeServer, FakeTencentSms, expected_signature

SECRET_ID, SECRET_KEY = "AKIDkioskTEST0123456789", "kiosk-test-secret-key-0123456789"
PHONE = "13800138000"
MESSAGE = SmsMessage(PHONE, "application_state", ("JX2025000123", "已受理"))
SETTINGS = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "sdk_app_id": "1400006666",
            "sign_name": "九江政务服务", "templates": {"application_state": "1234567"}}

# ------------------------------------------------------------------ the documentation's worked example
# "签名方法 v3" (https://cloud.tencent.com/document/api/213/30654): CVM DescribeInstances in
# ap-guangzhou at X-TC-Timestamp 1551113065. Its SecretKey is printed as 32 asterisks and the
# derived keys it prints are those of exactly that string, so every step can be checked.
DOC_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
DOC_SECRET_KEY = "*" * 32
DOC_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com",
               "X-TC-Action": "DescribeInstances"}
DOC_CANONICAL_REQUEST = ("POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
                         "x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n"
                         "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
DOC_STRING_TO_SIGN = ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                      "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84")
DOC_SECRET_SIGNING = "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
DOC_SIGNATURE = "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"


def test_signing_reproduces_the_documented_example_step_by_step():
    signed = tc3_sign(secret_id="AKID" + "*" * 32, secret_key=DOC_SECRET_KEY, service="cvm", headers=DOC_HEADERS,
                      payload=DOC_PAYLOAD, timestamp=1551113065)
    assert signed.canonical_request == DOC_CANONICAL_REQUEST
    assert signed.string_to_sign == DOC_STRING_TO_SIGN
    assert tc3_signing_key(DOC_SECRET_KEY, "2019-02-25", "cvm").hex() == DOC_SECRET_SIGNING
    assert signed.signature == DOC_SIGNATURE
    assert signed.authorization == ("TC3-HMAC-SHA256 Credential=AKID" + "*" * 32 + "/2019-02-25/cvm/tc3_request, "
                                    "SignedHeaders=content-type;host;x-tc-action, Signature=" + DOC_SIGNATURE)


def test_signing_reproduces_the_english_documents_example_that_signs_two_headers():
    # "Signature v3" on tencentcloud.com: same request, SignedHeaders content-type;host,
    # SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"}
    signed = tc3_sign(secret_id="AKIDEXAMPLE", secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", service="cvm",
                      headers=headers, payload=DOC_PAYLOAD, timestamp=1551113065)
    assert signed.string_to_sign.endswith("5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert signed.signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_the_credential_date_is_the_utc_date_of_the_timestamp():
    # 1551113065 is 2019-02-26 00:44:25 in Beijing: the scope must say 2019-02-25.
    signed = tc3_sign(secret_id="a", secret_key="b", service="sms", headers=DOC_HEADERS, payload=b"",
                      timestamp=1551113065)
    assert signed.credential_scope == "2019-02-25/sms/tc3_request"


def test_the_fake_servers_own_verifier_agrees_with_the_documented_example():
    headers = {name.lower(): value for name, value in DOC_HEADERS.items()}
    canonical, signature = expected_signature(secret_key=DOC_SECRET_KEY, method="POST", headers=headers,
                                              signed=["content-type", "host", "x-tc-action"], body=DOC_PAYLOAD,
                                              timestamp="1551113065", date="2019-02-25", service="cvm")
    assert (canonical, signature) == (DOC_CANONICAL_REQUEST, DOC_SIGNATURE)


# ------------------------------------------------------------------ against the local fake server

@pytest.fixture
def fake():
    fake = FakeTencentSms(secrets={SECRET_ID: SECRET_KEY})
    with FakeServer(fake) as server:
        fake.url = server.url
        yield fake


def tencent(fake, **overrides) -> TencentCloudSender:
    settings = {**SETTINGS, "endpoint": fake.url, "transport": UrllibTransport(timeout=5), **overrides}
    return TencentCloudSender(**settings)


def test_a_signed_send_is_accepted_and_yields_the_providers_receipt(fake):
    receipt = tencent(fake).send(MESSAGE, key="application.notify:42:accepted")
    assert receipt.provider == "tencent" and receipt.code == "Ok" and receipt.fee == 1
    assert receipt.message_id.startswith("5000:") and receipt.request_id
    assert fake.refused == [] and len(fake.accepted) == 1
    assert fake.accepted[0] == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400006666",
                                "SignName": "九江政务服务", "TemplateId": "1234567",
                                "TemplateParamSet": ["JX2025000123", "已受理"],
                                "SessionContext": "application.notify:42:accepted"}
    headers = fake.requests[0]["headers"]
    assert (headers["x-tc-action"], headers["x-tc-version"], headers["x-tc-region"]) == \
        ("SendSms", "2021-01-11", "ap-guangzhou")
    assert headers["host"] == fake.url.removeprefix("http://")
    assert "SignedHeaders=content-type;host;x-tc-action" in headers["authorization"]


def test_a_wrong_secret_key_fails_the_servers_signature_check_and_is_rejected(fake):
    with pytest.raises(SmsRejected) as refused:
        tencent(fake, secret_key="not-the-key").send(MESSAGE, key="k1")
    assert refused.value.code == "AuthFailure.SignatureFailure" and refused.value.request_id
    assert fake.refused == ["AuthFailure.SignatureFailure"] and fake.accepted == []


def test_an_unknown_secret_id_is_rejected(fake):
    with pytest.raises(SmsRejected, match="AuthFailure.SecretIdNotFound"):
        tencent(fake, secret_id="AKIDsomeoneelse").send(MESSAGE, key="k1")


def test_a_body_changed_after_signing_fails_the_signature_check(fake):
    class Tampering(UrllibTransport):
        def send(self, request, *, timeout=None):
            body = request.body.replace("已受理".encode(), "已办结".encode())
            return super().send(type(request)(request.method, request.url, request.headers, body), timeout=timeout)

    with pytest.raises(SmsRejected, match="AuthFailure.SignatureFailure"):
        tencent(fake, transport=Tampering()).send(MESSAGE, key="k1")


def test_a_clock_more_than_five_minutes_off_is_temporary(fake):
    late = lambda: datetime.now(UTC) - timedelta(minutes=6)  # noqa: E731
    with pytest.raises(SmsTemporaryError) as failed:
        tencent(fake, now=late).send(MESSAGE, key="k1")
    assert failed.value.code == "AuthFailure.SignatureExpire" and failed.value.maybe_sent is False


@pytest.mark.parametrize("answer, code, maybe_sent", [
    (("error", "RequestLimitExceeded"), "RequestLimitExceeded", False),
    (("error", "InternalError.Timeout"), "InternalError.Timeout", False),
    (("status", "LimitExceeded.PhoneNumberOneHourLimit"), "LimitExceeded.PhoneNumberOneHourLimit", False),
    (("status", "LimitExceeded.PhoneNumberDailyLimit"), "LimitExceeded.PhoneNumberDailyLimit", False),
    (("http", 500), "http_500", True),
    (("http", 502), "http_502", True),
    (("http", 429), "http_429", False),
    (("garbled",), "http_200", True),
])
def test_outages_throttling_and_limits_are_temporary(fake, answer, code, maybe_sent):
    fake.script(answer)
    with pytest.raises(SmsTemporaryError) as failed:
        tencent(fake).send(MESSAGE, key="k1")
    assert (failed.value.code, failed.value.maybe_sent) == (code, maybe_sent)
    assert tencent(fake).send(MESSAGE, key="k1").code == "Ok"  # and the next attempt goes through


@pytest.mark.parametrize("answer", [
    ("status", "FailedOperation.PhoneNumberInBlacklist"),
    ("status", "InvalidParameterValue.TemplateParameterLengthLimit"),
    ("error", "FailedOperation.InsufficientBalanceInSmsPackage"),
    ("error", "UnauthorizedOperation.SerivceSuspendDueToArrears"),
    ("error", "UnauthorizedOperation.RequestIpNotInWhitelist"),
])
def test_refusals_that_a_retry_cannot_change_are_rejected(fake, answer):
    fake.script(answer)
    with pytest.raises(SmsRejected) as refused:
        tencent(fake).send(MESSAGE, key="k1")
    assert refused.value.code == answer[1]


@pytest.mark.parametrize("overrides, code", [
    ({"sign_name": "未审核的签名"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
    ({"templates": {"application_state": "7654321"}}, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ({"sdk_app_id": "1400000000"}, "InvalidParameterValue.SdkAppIdNotExist"),
])
def test_an_unapproved_signature_or_template_or_a_wrong_app_is_rejected(fake, overrides, code):
    with pytest.raises(SmsRejected) as refused:
        tencent(fake, **overrides).send(MESSAGE, key="k1")
    assert refused.value.code == code


def test_an_unknown_template_name_is_rejected_by_name_before_anything_is_sent(fake):
    with pytest.raises(SmsRejected, match="'appointment_reminder' is not configured") as refused:
        tencent(fake).send(SmsMessage(PHONE, "appointment_reminder", ()), key="k1")
    assert refused.value.code == "unknown_template" and fake.requests == []


@pytest.mark.parametrize("phone", ["1380013800", "23800138000", "+8613800138000", "138 0013 8000", ""])
def test_a_number_that_is_not_a_mainland_mobile_is_rejected_before_anything_is_sent(fake, phone):
    with pytest.raises(SmsRejected) as refused:
        tencent(fake).send(SmsMessage(phone, "application_state", ()), key="k1")
    assert refused.value.code == "invalid_phone" and fake.requests == []


def test_a_refused_connection_is_temporary_and_certainly_not_sent():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = TencentCloudSender(**SETTINGS, endpoint=f"http://127.0.0.1:{port}")
    with pytest.raises(SmsTemporaryError) as failed:
        sender.send(MESSAGE, key="k1")
    assert failed.value.code == "transport" and failed.value.maybe_sent is False


def test_a_timeout_is_temporary_and_flagged_as_perhaps_sent(fake):
    fake.script(("slow", 1.0))
    started = time.monotonic()
    with pytest.raises(SmsTemporaryError) as failed:
        tencent(fake, transport=UrllibTransport(timeout=0.3)).send(MESSAGE, key="k1")
    assert failed.value.maybe_sent is True and time.monotonic() - started < 1.0
    assert len(fake.accepted) == 1  # the provider took it: exactly the case a retry may duplicate


def test_errors_and_logs_never_carry_the_full_number(caplog):
    status = {"SerialNo": "", "PhoneNumber": "+8613800138000", "Fee": 0, "SessionContext": "k1",
              "Code": "FailedOperation.PhoneNumberInBlacklist", "Message": "+8613800138000 is in the blacklist",
              "IsoCode": "CN"}
    answer = HttpResponse(200, {}, json.dumps({"Response": {"SendStatusSet": [status], "RequestId": "r1"}}).encode())
    sender = TencentCloudSender(**SETTINGS, transport=RecordingTransport([answer]))
    with caplog.at_level(logging.DEBUG, logger="kiosk_backend"), pytest.raises(SmsRejected) as refused:
        sender.send(MESSAGE, key="k1")
    assert "138****8000" in str(refused.value) and PHONE not in str(refused.value)
    assert caplog.records and all(PHONE not in record.getMessage() for record in caplog.records)
    assert PHONE not in repr(MESSAGE) and SECRET_KEY not in repr(sender)


def test_what_goes_over_the_wire_is_what_was_signed():
    transport = RecordingTransport([HttpResponse(200, {}, b'{"Response": {"SendStatusSet": '
                                                          b'[{"Code": "Ok", "SerialNo": "s1", "Fee": 1}], "RequestId": "r"}}')])
    moment = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)  # 00:30 the next day in Beijing
    sender = TencentCloudSender(**SETTINGS, transport=transport, now=lambda: moment)
    sender.send(MESSAGE, key="k1")
    request = transport.requests[0]
    assert request.url == "https://sms.tencentcloudapi.com/" and request.headers["Host"] == "sms.tencentcloudapi.com"
    assert request.headers["X-TC-Timestamp"] == str(int(moment.timestamp()))
    assert "/2025-03-03/sms/tc3_request" in request.headers["Authorization"]
    headers = {name.lower(): value for name, value in request.headers.items()}
    _, signature = expected_signature(secret_key=SECRET_KEY, method="POST", headers=headers,
                                      signed=["content-type", "host", "x-tc-action"], body=request.body,
                                      timestamp=headers["x-tc-timestamp"], date="2025-03-03", service="sms")
    assert request.headers["Authorization"].endswith("Signature=" + signature)


def test_parameters_are_text_on_one_line_without_signature_brackets_and_within_the_limit(fake):
    assert SmsMessage(PHONE, "t", (42, 1.5, "x")).params == ("42", "1.5", "x")
    with pytest.raises(TypeError):
        SmsMessage(PHONE, "t", (None,))
    assert fit_param("城乡居民\n基本养老保险  参保登记") == "城乡居民 基本养老保险 参保登记"
    assert fit_param("【通知】已受理") == "[通知]已受理"
    assert fit_param("城乡居民基本养老保险参保登记", 12) == "城乡居民基本养老保险参…"
    assert len(fit_param("城乡居民基本养老保险参保登记", 12)) == 12 and fit_param("已受理", 12) == "已受理"
    tencent(fake, param_max_chars=12).send(SmsMessage(PHONE, "application_state", ("城乡居民基本养老保险参保登记",)),
                                           key="k" * 600)
    sent = fake.accepted[0]
    assert sent["TemplateParamSet"] == ["城乡居民基本养老保险参…"]
    assert sent["SessionContext"].startswith("sha256:")  # a key too long for the field travels as its hash


def test_codes_are_classified_by_exact_code_then_by_category():
    assert sms.classify("LimitExceeded.PhoneNumberThirtySecondLimit") == sms.TEMPORARY
    assert sms.classify("LimitExceeded.PhoneNumberCountLimit") == sms.REJECTED
    assert sms.classify("AuthFailure.SignatureExpire") == sms.TEMPORARY
    assert sms.classify("AuthFailure.SecretIdNotFound") == sms.REJECTED
    assert sms.classify("FailedOperation.MarketingSendTimeConstraint") == sms.TEMPORARY
    assert sms.classify("InvalidParameterValue.IncorrectPhoneNumber") == sms.REJECTED
    assert sms.classify("InternalError") == sms.TEMPORARY
    assert sms.classify("SomethingNew.Entirely") == sms.TEMPORARY  # unknown: bounded retries, then dead


# ------------------------------------------------------------------ the logging sender

def test_the_logging_sender_logs_the_masked_number_template_and_params_never_the_full_number(caplog):
    sender = LoggingSender()
    with caplog.at_level(logging.INFO, logger="kiosk_backend.core.sms"):
        receipt = sender.send(MESSAGE, key="k1")
    assert receipt.provider == "log" and receipt.code == "Ok"
    assert sender.sent == [MESSAGE] and sender.keys == ["k1"]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "138****8000" in logged and "application_state" in logged and "JX2025000123" in logged
    assert PHONE not in logged


def test_the_logging_sender_refuses_what_the_real_one_would_refuse():
    sender = LoggingSender(templates={"application_state": "1234567"}, param_max_chars=4)
    with pytest.raises(SmsRejected, match="'nope' is not configured"):
        sender.send(SmsMessage(PHONE, "nope", ()), key="k1")
    with pytest.raises(SmsRejected, match="not an 11-digit"):
        sender.send(SmsMessage("12345", "application_state", ()), key="k1")
    sender.send(SmsMessage(PHONE, "application_state", ("已受理待审核",)), key="k2")
    assert sender.sent == [SmsMessage(PHONE, "application_state", ("已受理…",))]


def test_the_logging_sender_raises_scripted_failures_first():
    sender = LoggingSender(failures=[SmsTemporaryError("provider down")])
    with pytest.raises(SmsTemporaryError):
        sender.send(MESSAGE, key="k1")
    sender.send(MESSAGE, key="k1")
    assert sender.keys == ["k1"]


# ------------------------------------------------------------------ settings

TENCENT_CONFIG = {"KIOSK_SMS_PROVIDER": "tencent", "KIOSK_SMS_TENCENT_SECRET_ID": SECRET_ID,
                  "KIOSK_SMS_TENCENT_SECRET_KEY": SECRET_KEY, "KIOSK_SMS_TENCENT_SDK_APP_ID": "1400006666",
                  "KIOSK_SMS_SIGN_NAME": "九江政务服务", "KIOSK_SMS_TEMPLATES": '{"application_state": "1234567"}'}
PRODUCTION = {"KIOSK_PUBLIC_URL": "https://zwfw.example.gov.cn", "KIOSK_DATA_KEY": "k" * 32}


def test_the_logging_sender_is_the_default():
    assert isinstance(sender_from_config({}), LoggingSender)
    assert isinstance(sender_from_config({"KIOSK_SMS_PROVIDER": "LOG"}), LoggingSender)


def test_settings_from_the_environment_make_a_tencent_sender_that_reaches_the_configured_endpoint(tmp_path, fake):
    environ = {**TENCENT_CONFIG, "KIOSK_SECRET_KEY": "s", "KIOSK_SMS_TENCENT_ENDPOINT": fake.url,
               "KIOSK_SMS_TENCENT_REGION": "ap-nanjing", "KIOSK_SMS_PARAM_MAX_CHARS": "12",
               "KIOSK_SMS_TIMEOUT_SECONDS": "3"}
    config = load_config(tmp_path, environ=environ)
    sender = sender_from_config(config)
    assert isinstance(sender, TencentCloudSender)
    assert (sender.region, sender.param_max_chars, sender.timeout) == ("ap-nanjing", 12, 3.0)
    assert sender.templates == {"application_state": "1234567"}
    assert sender.send(MESSAGE, key="k1").code == "Ok"
    assert fake.requests[0]["headers"]["x-tc-region"] == "ap-nanjing"


def test_the_defaults_of_the_sms_settings(tmp_path):
    config = load_config(tmp_path, environ={"KIOSK_SECRET_KEY": "s"})
    assert config["KIOSK_SMS_PROVIDER"] == "log" and config["KIOSK_SMS_TENCENT_REGION"] == "ap-guangzhou"
    assert config["KIOSK_SMS_TENCENT_ENDPOINT"] == "https://sms.tencentcloudapi.com"
    assert config["KIOSK_SMS_PARAM_MAX_CHARS"] == 0 and config["KIOSK_SMS_TIMEOUT_SECONDS"] == 10


@pytest.mark.parametrize("missing", ["KIOSK_SMS_TENCENT_SECRET_ID", "KIOSK_SMS_TENCENT_SECRET_KEY",
                                     "KIOSK_SMS_TENCENT_SDK_APP_ID", "KIOSK_SMS_SIGN_NAME", "KIOSK_SMS_TEMPLATES"])
def test_tencent_without_a_required_setting_is_refused_naming_it(missing):
    config = {**TENCENT_CONFIG, missing: ""}
    with pytest.raises(SmsConfigError, match=missing):
        sender_from_config(config)
    with pytest.raises(ConfigError, match=missing):
        check_production_config({**PRODUCTION, **config})


@pytest.mark.parametrize("overrides, words", [
    ({"KIOSK_SMS_PROVIDER": "aliyun"}, "KIOSK_SMS_PROVIDER must be one of log, tencent"),
    ({"KIOSK_SMS_TEMPLATES": "{application_state: 1}"}, "KIOSK_SMS_TEMPLATES is not valid JSON"),
    ({"KIOSK_SMS_TEMPLATES": '["1234567"]'}, "must be a JSON object"),
    ({"KIOSK_SMS_TEMPLATES": '{"application_state": null}'}, "is not a template name and template id"),
    ({"KIOSK_SMS_TENCENT_ENDPOINT": "http://sms.example.com"}, "must use https://"),
    ({"KIOSK_SMS_TENCENT_ENDPOINT": "https://sms.tencentcloudapi.com/v1"}, "must be a base URL"),
])
def test_production_refuses_sms_settings_that_cannot_work(overrides, words):
    with pytest.raises(ConfigError, match=words):
        check_production_config({**PRODUCTION, **TENCENT_CONFIG, **overrides})


def test_production_starts_with_complete_tencent_settings_or_with_the_logging_sender():
    check_production_config({**PRODUCTION, **TENCENT_CONFIG})
    check_production_config({**PRODUCTION, "KIOSK_SMS_TEMPLATES": {"application_state": 1234567}})
    check_production_config({**PRODUCTION, "KIOSK_SMS_PROVIDER": "tencent", "TESTING": True})  # tests: not checked


# ------------------------------------------------------------------ through the outbox

TOPIC = "test.sms"


@pytest.fixture
def sms_topic(fake):
    """An outbox handler for TOPIC that sends with a Tencent sender pointed at the fake."""
    previous = outbox.handler_for(TOPIC)
    sender = tencent(fake)

    def deliver(payload, *, key, session):
        sender.send(SmsMessage(payload["phone"], payload["template"], tuple(payload["params"])), key=key)

    outbox.handler(TOPIC)(deliver)
    yield sender
    if previous is not None:
        outbox.handler(TOPIC)(previous)


def test_a_message_survives_a_provider_outage_and_is_delivered_once(db, fake, sms_topic, clock):
    payload = {"phone": PHONE, "template": "application_state", "params": ["JX2025000123", "已受理"]}
    outbox.enqueue(db.session, TOPIC, payload, key="application:42:accepted", now=clock)
    db.session.commit()
    message_id = db.session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.topic == TOPIC))
    fake.script(("http", 503), ("error", "RequestLimitExceeded"))
    policy = Policy(max_attempts=5, backoff_base=10, backoff_cap=60)

    first = outbox.run(db.session, message_id, policy=policy, now=clock)
    assert first.state == PENDING and fake.accepted == []
    db.session.expire_all()
    assert "HTTP 503" in db.session.get(OutboxMessage, message_id).last_error
    clock.advance(seconds=first.retry_in)
    second = outbox.run(db.session, message_id, policy=policy, now=clock)
    assert second.state == PENDING and second.retry_in > 0
    db.session.expire_all()
    assert "RequestLimitExceeded" in db.session.get(OutboxMessage, message_id).last_error
    assert PHONE not in db.session.get(OutboxMessage, message_id).last_error
    clock.advance(seconds=second.retry_in)
    assert outbox.run(db.session, message_id, policy=policy, now=clock).state == DONE
    assert outbox.run(db.session, message_id, policy=policy, now=clock) == outbox.SKIPPED  # a duplicate delivery
    assert [sent["SessionContext"] for sent in fake.accepted] == ["application:42:accepted"]


def test_a_transport_error_without_a_cause_counts_as_perhaps_sent():
    sender = TencentCloudSender(**SETTINGS, transport=RecordingTransport([TransportError("reset")]))
    with pytest.raises(SmsTemporaryError) as failed:
        sender.send(MESSAGE, key="k1")
    assert failed.value.maybe_sent is True
