"""The 快递100 adapter against a real local server speaking 快递100's wire format
(kuaidi100_fake_server.py), which checks every signature with the documented formulas on its
own: order placement (商家寄件), duplicates by thirdOrderId, cancel, price, tracking by query and
by signed push, order callbacks, refusals and outages."""
from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from kiosk_backend.core.gateways import RecordingTransport, UrllibTransport
from kiosk_backend.courier import kuaidi100
from kiosk_backend.courier.gateway import (
    CarrierRejected,
    CarrierUnavailable,
    OrderRequest,
    OrderResult,
    Party,
    PushRejected,
    QuoteRequest,
)
from kiosk_backend.courier.kuaidi100 import Kuaidi100Credentials, Kuaidi100Gateway
from kiosk_backend.courier.states import Status
from tests.conftest import Clock
from tests.courier.kuaidi100_fake_server import NAMES, FakeKuaidi100, FakeServer, upper_md5

KEY, CUSTOMER, SECRET, SALT = "kioskTestKey0123", "CUSTOMER0123456789ABCDEF", "test-secret-abcdef", "salt-0123456789abcdef0123456789ab"
CALLBACK = "https://zwfw.example.gov.cn/api/v1/courier/callbacks/kuaidi100"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing

SENDER = Party(name="张三", mobile="13800138000", province_code="36", city_code="3604", county_code="360403",
               province="江西省", city="九江市", county="浔阳区", address="浔阳路 118 号", postcode="332000")
RECIPIENT = Party(name="北京市朝阳区政务服务中心", mobile="13900139000", province_code="11", city_code="1101",
                  county_code="110105", province="北京市", city="市辖区", county="朝阳区", address="朝阳路 1 号")


def order(order_no="KB20260302000001", **overrides) -> OrderRequest:
    values = dict(order_no=order_no, sender=SENDER, recipient=RECIPIENT, item_name="申请材料", pieces=1,
                  weight_grams=1500, insured_value_fen=0, payer="government",
                  pickup_start=datetime(2026, 3, 3, 1, 0, tzinfo=UTC), pickup_end=datetime(2026, 3, 3, 3, 0, tzinfo=UTC))
    values.update(overrides)
    return OrderRequest(**values)


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def fake(clock):
    fake = FakeKuaidi100(accounts={KEY: (CUSTOMER, SECRET)}, clock=lambda: clock().timestamp())
    with FakeServer(fake) as server:
        fake.url = server.url
        yield fake


def gateway(fake, clock, *, secret=SECRET, key=KEY, salt=SALT, previous=(), known=None, timeout=None):
    credentials = Kuaidi100Credentials(key=key, customer=CUSTOMER, secret=secret, salt=salt, previous_salts=previous)
    return Kuaidi100Gateway(credentials=credentials, callback_url=CALLBACK, endpoint=fake.url, now=clock,
                            transport=UrllibTransport(timeout=timeout or 5), timeout=timeout, known_order=known)


def form_of(url: str, form: dict) -> dict:
    """What the callback view hands parse_push: the form fields and the URL's query."""
    from urllib.parse import parse_qsl, urlsplit

    return {**dict(parse_qsl(urlsplit(url).query)), **form}


# ------------------------------------------------------------------ placing orders

def test_an_order_is_placed_signed_as_documented_and_subscribes_its_tracking(fake, clock):
    result = gateway(fake, clock).create_order(order(insured_value_fen=50_000))

    placed = fake.order_by_third("KB20260302000001")
    assert result == OrderResult(order_no="KB20260302000001", task_id=f"{placed.task_id}:{placed.order_id}",
                                 waybill_no=placed.kuaidinum, company="ems", status=Status.PENDING_PICKUP)
    assert len(result.waybill_no) == 13
    sent = fake.requests[-1]["form"]
    assert sent["method"] == "bOrder" and sent["key"] == KEY and sent["t"] == str(int(NOW.timestamp() * 1000))
    assert sent["sign"] == upper_md5(sent["param"] + sent["t"] + KEY + SECRET)
    param = json.loads(sent["param"])
    assert param["thirdOrderId"] == "KB20260302000001" and param["payment"] == "SHIPPER"
    assert param["sendManPrintAddr"] == "江西省九江市浔阳区浔阳路 118 号"
    assert param["recManPrintAddr"] == "北京市朝阳区朝阳路 1 号"  # no 市辖区
    assert (param["weight"], param["valinsPay"], param["cargo"]) == ("1.5", "500.00", "申请材料")
    # The slot is tomorrow 09:00–11:00 in Beijing.
    assert (param["dayType"], param["pickupStartTime"], param["pickupEndTime"]) == ("明天", "09:00", "11:00")
    assert param["op"] == "1" and param["pollCallBackUrl"] == param["callBackUrl"]
    assert param["callBackUrl"].startswith(CALLBACK + "?order_no=KB20260302000001&tag=")
    assert param["salt"] == SALT and fake.subscriptions[placed.kuaidinum].salt == SALT


def test_a_counter_drop_off_books_no_pickup_time(fake, clock):
    gateway(fake, clock).create_order(order(pickup_start=None, pickup_end=None))
    param = json.loads(fake.requests[-1]["form"]["param"])
    assert "dayType" not in param and "pickupStartTime" not in param and "valinsPay" not in param


def test_a_wrong_secret_fails_the_servers_signature_check_and_is_rejected(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock, secret="not-the-secret").create_order(order())
    assert refused.value.code == "503" and "验证签名失败" in str(refused.value)
    assert fake.orders == {}


def test_an_unknown_key_is_rejected(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock, key="unknown-key").create_order(order())
    assert refused.value.code == "600"


def test_placing_the_same_order_again_gets_the_first_order_back_not_a_second_pickup(fake, clock):
    first = gateway(fake, clock).create_order(order())
    clock.advance(hours=1)  # a retry after a lost answer
    again = gateway(fake, clock).create_order(order())
    assert (again.task_id, again.waybill_no) == (first.task_id, first.waybill_no)
    assert len(fake.orders) == 1


def test_an_order_our_records_already_hold_is_returned_as_already_existed_without_a_call(fake, clock):
    first = gateway(fake, clock).create_order(order())
    calls = len(fake.requests)
    known = gateway(fake, clock, known=lambda order_no: first if order_no == first.order_no else None)
    again = known.create_order(order())
    assert again.already_existed and (again.task_id, again.waybill_no) == (first.task_id, first.waybill_no)
    assert len(fake.requests) == calls and len(fake.orders) == 1


def test_payment_by_the_recipient_is_refused_before_anything_is_sent(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).create_order(order(payer="recipient"))
    assert refused.value.code == "payment_not_supported" and fake.requests == []


@pytest.mark.parametrize("days", [3, -1])
def test_a_pickup_slot_beyond_the_day_after_tomorrow_or_past_is_refused(fake, clock, days):
    start = NOW + timedelta(days=days)
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).create_order(order(pickup_start=start, pickup_end=start + timedelta(hours=2)))
    assert refused.value.code == "pickup_day_out_of_range" and fake.requests == []


def test_a_callback_url_that_would_exceed_200_bytes_is_refused(fake, clock):
    credentials = Kuaidi100Credentials(key=KEY, customer=CUSTOMER, secret=SECRET, salt=SALT)
    long = Kuaidi100Gateway(credentials=credentials, callback_url=CALLBACK + "/" + "x" * 120, endpoint=fake.url,
                            now=clock)
    with pytest.raises(CarrierRejected) as refused:
        long.create_order(order())
    assert refused.value.code == "callback_url_too_long"


def test_a_refusal_naming_a_mobile_number_keeps_it_masked(fake, clock):
    fake.script(("code", "400", "收件人手机号13900139000格式错误"))
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).create_order(order())
    assert "13900139000" not in str(refused.value) and "139****9000" in str(refused.value)


# ------------------------------------------------------------------ outages

@pytest.mark.parametrize("answer", [("http", 502), ("http", 429), ("garbled",), ("code", "500", "服务器错误")])
def test_outages_and_server_errors_are_temporary(fake, clock, answer):
    fake.script(answer)
    with pytest.raises(CarrierUnavailable):
        gateway(fake, clock).create_order(order())


def test_a_timeout_is_temporary(fake, clock):
    fake.add_trace("1100000000001", *TRACE)
    fake.script(("slow", 1.0))
    with pytest.raises(CarrierUnavailable):
        gateway(fake, clock, timeout=0.2).fetch_tracking(waybill_no="1100000000001", company="ems", phone=None)


def test_a_refused_connection_is_temporary(clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    credentials = Kuaidi100Credentials(key=KEY, customer=CUSTOMER, secret=SECRET, salt=SALT)
    closed = Kuaidi100Gateway(credentials=credentials, callback_url=CALLBACK, endpoint=f"http://127.0.0.1:{port}",
                              now=clock)
    with pytest.raises(CarrierUnavailable):
        closed.create_order(order())


def test_an_http_endpoint_other_than_loopback_is_refused():
    credentials = Kuaidi100Credentials(key=KEY, customer=CUSTOMER, secret=SECRET, salt=SALT)
    with pytest.raises(CarrierRejected):
        Kuaidi100Gateway(credentials=credentials, callback_url=CALLBACK, endpoint="http://poll.kuaidi100.com")


# ------------------------------------------------------------------ cancel, price, list

def test_an_order_is_cancelled_and_cancelling_it_again_is_not_an_error(fake, clock):
    placed = gateway(fake, clock).create_order(order())
    gateway(fake, clock).cancel_order(placed.order_no, task_id=placed.task_id, reason="居民取消")
    task, _, carrier_order = placed.task_id.partition(":")
    sent = json.loads(fake.requests[-1]["form"]["param"])
    assert sent == {"taskId": task, "orderId": carrier_order, "cancelMsg": "居民取消"}
    assert fake.orders[task].state == "cancelled"
    gateway(fake, clock).cancel_order(placed.order_no, task_id=placed.task_id, reason="居民取消")


def test_an_order_already_picked_up_cannot_be_cancelled(fake, clock):
    placed = gateway(fake, clock).create_order(order())
    fake.pick_up(placed.task_id.partition(":")[0])
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).cancel_order(placed.order_no, task_id=placed.task_id, reason="居民取消")
    assert "已揽收" in str(refused.value)


def test_cancelling_without_a_task_id_asks_our_records_then_refuses(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).cancel_order("KB404", task_id=None, reason="x")
    assert refused.value.code == "unknown_order" and fake.requests == []


def test_a_quote_is_the_price_apis_discounted_total_in_fen(fake, clock):
    quote = gateway(fake, clock).quote(QuoteRequest(sender=SENDER, recipient=RECIPIENT, weight_grams=2300))
    assert (quote.price_fen, quote.company) == (1200, "ems")  # the fake's 8 元 + 2 × 2 元
    param = json.loads(fake.requests[-1]["form"]["param"])
    assert param == {"kuaidiCom": "ems", "sendManPrintAddr": "江西省九江市", "recManPrintAddr": "北京市朝阳区",
                     "weight": "2.3"}


def test_listing_orders_by_day_is_not_offered_by_kuaidi100(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock).list_orders(NOW.date())
    assert refused.value.code == "not_offered"


# ------------------------------------------------------------------ tracking by query

TRACE = [("2026-03-03 10:05:00", "【九江市浔阳路营业厅】已收寄", "103", "江西省九江市浔阳区"),
         ("2026-03-03 18:40:00", "离开【九江市邮件处理中心】，下一站【北京市邮件处理中心】", "1002", "江西省九江市"),
         ("2026-03-05 08:10:00", "【北京市朝阳区投递支局】正在投递", "5", "北京市朝阳区"),
         ("2026-03-05 11:30:00", "【北京市朝阳区投递支局】已妥投", "301", "北京市朝阳区")]


def test_tracking_is_queried_signed_and_mapped_to_our_states_keeping_the_raw_words(fake, clock):
    fake.add_trace("1100000000001", *TRACE)
    events = gateway(fake, clock).fetch_tracking(waybill_no="1100000000001", company="ems", phone="13900139000")

    sent = fake.requests[-1]["form"]
    assert sent["customer"] == CUSTOMER and sent["sign"] == upper_md5(sent["param"] + KEY + CUSTOMER)
    assert json.loads(sent["param"])["resultv2"] == "4"
    by_time = sorted(events, key=lambda e: e.occurred_at)
    assert [e.status for e in by_time] == [Status.ACCEPTED, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED]
    assert [e.raw_code for e in by_time] == ["103", "1002", "5", "301"]
    assert by_time[0].raw_text == "【九江市浔阳路营业厅】已收寄" and by_time[0].location == "江西省九江市浔阳区"
    assert by_time[0].occurred_at == datetime(2026, 3, 3, 2, 5, tzinfo=UTC)  # 10:05 in Beijing
    assert {(e.waybill_no, e.company) for e in events} == {("1100000000001", "ems")}
    assert len({e.event_id for e in events}) == 4


def test_no_result_yet_is_no_events(fake, clock):
    assert gateway(fake, clock).fetch_tracking(waybill_no="1199999999999", company="ems", phone=None) == []


def test_a_query_with_a_wrong_key_fails_the_servers_signature_check(fake, clock):
    fake.add_trace("1100000000001", *TRACE)
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock, key="other-key").fetch_tracking(waybill_no="1100000000001", company="ems", phone=None)
    assert refused.value.code == "503"


@pytest.mark.parametrize(("code", "status"), [
    ("0", Status.IN_TRANSIT), ("1", Status.ACCEPTED), ("2", Status.EXCEPTION), ("3", Status.DELIVERED),
    ("4", Status.RETURNED), ("5", Status.OUT_FOR_DELIVERY), ("6", Status.RETURNED), ("7", Status.IN_TRANSIT),
    ("8", Status.IN_TRANSIT), ("14", Status.FAILED_DELIVERY), ("101", Status.PENDING_PICKUP),
    ("102", Status.PENDING_PICKUP), ("501", Status.AWAITING_COLLECTION), ("304", Status.DELIVERED),
    ("401", Status.CANCELLED), ("203", Status.FAILED_DELIVERY), ("206", Status.FAILED_DELIVERY),
    ("208", Status.EXCEPTION), ("209", Status.EXCEPTION), ("13", Status.EXCEPTION), ("11", Status.IN_TRANSIT)])
def test_kuaidi100s_states_map_to_ours(code, status):
    assert kuaidi100.STATES[code][1] == status


def test_every_documented_state_code_and_name_is_known():
    # NAMES is the fake server's own copy of the documentation's table.
    assert {code: name for code, (name, _) in kuaidi100.STATES.items()} == NAMES


def test_a_trace_line_without_a_state_takes_the_parcels_state_if_newest_else_its_words():
    result = {"com": "ems", "nu": "1100000000001", "state": "5", "data": [
        {"ftime": "2026-03-05 08:10:00", "context": "【北京市朝阳区投递支局】正在投递"},
        {"ftime": "2026-03-03 10:05:00", "context": "【九江市浔阳路营业厅】已收寄"},
        {"ftime": "2026-03-03 18:40:00", "context": "离开【九江市邮件处理中心】"},
        {"ftime": "not a time", "context": "left out"}]}
    events = sorted(kuaidi100.events_from_result(result, order_no=None), key=lambda e: e.occurred_at)
    assert [(e.status, e.raw_code) for e in events] == [
        (Status.ACCEPTED, None), (Status.IN_TRANSIT, None), (Status.OUT_FOR_DELIVERY, "5")]


# ------------------------------------------------------------------ pushes

def placed_with_trace(fake, clock):
    placed = gateway(fake, clock).create_order(order())
    fake.add_trace(placed.waybill_no, *TRACE[:2])
    return placed


def test_a_signed_push_is_read_with_our_order_number_from_its_tagged_url(fake, clock):
    placed = placed_with_trace(fake, clock)
    url, form = fake.tracking_push(placed.waybill_no)
    events = gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))
    assert sorted((e.status, e.raw_code) for e in events) == [(Status.ACCEPTED, "1"), (Status.IN_TRANSIT, "0")]
    assert {(e.order_no, e.waybill_no, e.company) for e in events} == {(placed.order_no, placed.waybill_no, "ems")}
    # The same lines by query (resultv2=4, other codes) carry the same event ids: one event each.
    polled = gateway(fake, clock).fetch_tracking(waybill_no=placed.waybill_no, company="ems", phone=None)
    assert {e.event_id for e in polled} == {e.event_id for e in events}


def test_the_carriers_expected_answer_to_a_push():
    assert Kuaidi100Gateway.push_ack() == {"result": True, "returnCode": "200", "message": "成功"}


@pytest.mark.parametrize("tamper", ["wrong_salt", "no_sign", "changed_param", "lowercase_other"])
def test_a_push_not_signed_with_our_salt_is_refused(fake, clock, tamper):
    placed = placed_with_trace(fake, clock)
    url, form = fake.tracking_push(placed.waybill_no, sign_with="another-salt" if tamper == "wrong_salt" else None)
    if tamper == "no_sign":
        form.pop("sign")
    if tamper == "changed_param":
        form["param"] = form["param"].replace("已收寄", "已妥投")
    if tamper == "lowercase_other":
        form["sign"] = upper_md5(form["param"] + "x").lower()
    with pytest.raises(PushRejected) as refused:
        gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))
    assert refused.value.reason == "bad_signature"


def test_a_lower_case_sign_of_the_right_salt_is_accepted(fake, clock):
    placed = placed_with_trace(fake, clock)
    url, form = fake.tracking_push(placed.waybill_no)
    form["sign"] = form["sign"].lower()
    assert gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))


def test_a_signed_push_replayed_to_another_orders_url_is_refused(fake, clock):
    placed = placed_with_trace(fake, clock)
    url, form = fake.tracking_push(placed.waybill_no)
    other = gateway(fake, clock).callback_for("KB20260302999999")
    moved = form_of(url, form) | {"order_no": "KB20260302999999"}
    with pytest.raises(PushRejected) as refused:
        gateway(fake, clock).parse_push(body=b"", headers={}, form=moved)
    assert refused.value.reason == "bad_signature"
    # With that order's own tag it would pass: the tag, not the body, binds the order.
    assert gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(other, form))


def test_a_push_without_our_url_query_is_matched_by_its_waybill_only(fake, clock):
    placed = placed_with_trace(fake, clock)
    _, form = fake.tracking_push(placed.waybill_no)
    events = gateway(fake, clock).parse_push(body=b"", headers={}, form=form)
    assert {e.order_no for e in events} == {None} and {e.waybill_no for e in events} == {placed.waybill_no}


def test_pushes_signed_with_the_salt_before_a_rotation_still_verify(fake, clock):
    placed = placed_with_trace(fake, clock)
    url, form = fake.tracking_push(placed.waybill_no)
    rotated = gateway(fake, clock, salt="new-salt-after-rotation-000000000", previous=(SALT,))
    assert rotated.parse_push(body=b"", headers={}, form=form_of(url, form))


@pytest.mark.parametrize("param", [None, "", "not json", "[1, 2]", '{"status": "polling"}'])
def test_a_malformed_push_is_refused_as_malformed(fake, clock, param):
    form = {} if param is None else {"param": param, "sign": upper_md5(param + SALT)}
    with pytest.raises(PushRejected) as refused:
        gateway(fake, clock).parse_push(body=b"", headers={}, form=form)
    assert refused.value.reason == "malformed"


def test_an_abort_push_without_lines_is_no_events(fake, clock):
    param = json.dumps({"status": "abort", "message": "3天查询无记录", "lastResult": {"state": "0", "data": []}})
    form = {"param": param, "sign": upper_md5(param + SALT)}
    assert gateway(fake, clock).parse_push(body=b"", headers={}, form=form) == []


def test_a_company_corrected_by_kuaidi100_is_the_events_company(fake, clock):
    param = json.dumps({"status": "polling", "autoCheck": "1", "comOld": "ems", "comNew": "youzhengguonei",
                        "lastResult": {"state": "0", "com": "ems", "nu": "9800000000001",
                                       "data": [{"ftime": "2026-03-03 10:00:00", "context": "已收寄", "status": "揽收"}]}})
    events = gateway(fake, clock).parse_push(body=b"", headers={}, form={"param": param,
                                                                          "sign": upper_md5(param + SALT)})
    assert [(e.company, e.status) for e in events] == [("youzhengguonei", Status.ACCEPTED)]


# ------------------------------------------------------------------ order callbacks

@pytest.mark.parametrize(("status", "expected"), [(10, Status.ACCEPTED), (1, Status.PENDING_PICKUP),
                                                  (99, Status.CANCELLED), (13, Status.DELIVERED),
                                                  (610, Status.EXCEPTION)])
def test_an_order_callback_is_one_event_of_the_orders_state(fake, clock, status, expected):
    placed = gateway(fake, clock).create_order(order())
    url, form = fake.order_callback(placed.task_id.partition(":")[0], status)
    [event] = gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))
    assert (event.status, event.raw_code, event.order_no, event.waybill_no) == (
        expected, f"order:{status}", placed.order_no, placed.waybill_no)
    assert event.occurred_at == NOW  # it carries no time of its own
    assert "13900001111" not in repr(event) and "王师傅" not in repr(event)  # the courier's details are not kept
    clock.advance(minutes=30)  # 快递100 sends it again
    [again] = gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))
    assert again.event_id == event.event_id


@pytest.mark.parametrize("status", [15, 155])
def test_billing_callbacks_say_nothing_about_the_parcel(fake, clock, status):
    placed = gateway(fake, clock).create_order(order())
    url, form = fake.order_callback(placed.task_id.partition(":")[0], status)
    assert gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form)) == []


def test_an_order_callback_signed_with_another_salt_is_refused(fake, clock):
    placed = gateway(fake, clock).create_order(order())
    url, form = fake.order_callback(placed.task_id.partition(":")[0], 10, sign_with="another-salt")
    with pytest.raises(PushRejected) as refused:
        gateway(fake, clock).parse_push(body=b"", headers={}, form=form_of(url, form))
    assert refused.value.reason == "bad_signature"


# ------------------------------------------------------------------ subscription

def test_a_waybill_known_later_is_subscribed_and_a_second_subscription_is_fine(fake, clock):
    gw = gateway(fake, clock)
    gw.subscribe(waybill_no="1100000000777", company="ems", phone="13900139000", order_no="KB20260302000001")
    sub = fake.subscriptions["1100000000777"]
    assert sub.salt == SALT and "order_no=KB20260302000001" in sub.callbackurl and sub.resultv2 == "4"
    gw.subscribe(waybill_no="1100000000777", company="ems", phone=None, order_no="KB20260302000001")
    assert fake.refused == ["501"]


def test_a_subscription_with_an_unknown_key_is_rejected(fake, clock):
    with pytest.raises(CarrierRejected) as refused:
        gateway(fake, clock, key="unknown").subscribe(waybill_no="1100000000777", company="ems", phone=None)
    assert refused.value.code == "600"


# ------------------------------------------------------------------ credentials

def test_credentials_need_every_part_and_never_show_the_secret():
    with pytest.raises(CarrierRejected) as refused:
        Kuaidi100Credentials.from_mapping({"key": "k", "customer": "c", "secret": ""})
    assert refused.value.code == "not_configured" and "secret" in str(refused.value)
    credentials = Kuaidi100Credentials.from_mapping({"key": KEY, "customer": CUSTOMER, "secret": SECRET, "salt": SALT})
    assert SECRET not in repr(credentials) and SALT not in repr(credentials) and KEY not in repr(credentials)
    assert SECRET not in repr(Kuaidi100Gateway(credentials=credentials, callback_url=CALLBACK,
                                               transport=RecordingTransport()))
