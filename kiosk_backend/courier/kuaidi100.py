"""快递100 (api.kuaidi100.com), the aggregator behind :class:`~.gateway.CourierGateway`:
商家寄件 (order placement with a pickup, cancel, price), 实时快递查询 (tracking by polling),
快递信息推送 (subscription and signed pushes). Standard library only, over an
:class:`~kiosk_backend.core.gateways.HttpTransport`.

Written to 快递100's published documentation and its official sample code:

- "快递公司寄件接口 / 商家寄件下单接口", https://api.kuaidi100.com/document/603cb649a62a19500e19866b
  (mirrored at https://apifox.com/apidoc/project-514987/api-8603205): POST form
  ``method=bOrder, key, t, param, sign`` to ``https://poll.kuaidi100.com/order/borderapi.do``,
  ``sign`` = upper-case MD5(param + t + key + secret), ``t`` in milliseconds; param fields
  kuaidicom, recMan*/sendMan* (print addresses ≤ 300 bytes), callBackUrl (≤ 200 bytes),
  cargo, payment (``SHIPPER`` only: "不支持到付"), weight (kg), remark, salt, dayType
  (今天/明天/后天), pickupStartTime/pickupEndTime (HH:mm), valinsPay (元), op=1 +
  pollCallBackUrl (subscribe the waybill's tracking), resultv2; answer ``{result, returnCode,
  message, data: {taskId, orderId, kuaidinum}}``.
- ``thirdOrderId`` ("平台订单号，最大32位。若此参数与之前的重复，48小时内返回第一次下单内容，否则会
  重新下单"), as 快递100's official SDK has it aligned with the interface document
  (github.com/kuaidi100-api/java-demo, BOrderReq.java, commit 01332f4 "补充寄件业务接口字段，与接口
  文档对齐", 2026-02-03): our booking's order number goes there, so a retry after a lost
  answer gets the first order back instead of a second pickup.
- "商家寄件下单取消接口" (method=cancel, param taskId, orderId, cancelMsg) and "商家寄件下单价格
  接口" (method=price, param kuaidiCom, sendManPrintAddr/recManPrintAddr to city level,
  weight; ``data.price`` is the discounted total in 元), https://apifox.com/apidoc/project-514987/api-55500086,
  with its code table: 200 提交成功, 400 参数错误, 500 服务器错误 (also sent for malformed
  requests), 503 验证签名失败, 600 您不是合法的用户, 601 KEY已过期. The same endpoint and
  signature in the official samples (kuaidi100-api/python-demo code/border_create.py,
  border_cancle.py, border_price.py).
- "实时快递单号查询技术文档", https://api.kuaidi100.com/document/5f0ffb5ebc8da837cbd8aefc:
  POST form ``customer, sign, param`` to ``https://poll.kuaidi100.com/poll/query.do``,
  ``sign`` = upper-case MD5(param + key + customer); param com, num, phone, resultv2=4
  (per-event 高级状态 name and value), order=desc; the state table (1.6 运单快递状态):
  main states 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签, 5 派件, 6 退回, 7 转投, 8 清关, 14 拒签 and
  the sub-states 101 已下单, 102 待揽收, 103 已揽收, 1001 到达派件城市, 1002 干线, 1003 转递,
  501 投柜或驿站, 301 本人签收, 302 派件异常后签收, 303 代签, 304 投柜或站签收, 401 已销单,
  201–210 (超时未签收, 超时未更新, 拒收, 派件异常, 柜或驿站超时未取, 无法联系, 超区, 滞留, 破损,
  销单), 10–13 (待清关, 清关中, 已清关, 清关异常). 快递100's FAQ ("查询失败和查无结果的响应报文
  与查询成功的字段不一样。建议先判断returnCode不为空时…", https://segmentfault.com/a/1190000040519436):
  an answer with ``returnCode`` is a refusal or "no result" (500 查询无结果).
- "快递订阅查询快递api接口技术文档" (https://apifox.com/apidoc/project-514987/api-8567477) and
  its code table (https://cloud.tencent.com/developer/article/1828132, by 快递100API): POST
  form ``schema=json, param={company, number, key, parameters: {callbackurl, salt, resultv2,
  phone}}`` to ``https://poll.kuaidi100.com/poll`` (unsigned; the key identifies us); 200
  提交成功, 501 重复订阅 (already being tracked: fine), 500 服务器错误, 600/601 key, 700/701/702
  refused data.
- "推送接口" (https://apifox.com/apidoc/project-514987/api-8568518) and the 商家寄件 "快递信息
  推送接口" (https://apifox.com/apidoc/project-514987/api-55500331): form ``param`` (JSON:
  status polling/shutdown/abort/updateall, message, autoCheck, comOld, comNew, lastResult {state,
  com, nu, data [{context, time, ftime, status, statusCode, areaName, …}]}) and ``sign`` =
  MD5(param + salt) ("订阅参数salt值不为null时，推送数据将包含该加密签名"), upper-case as the
  official SDK computes it (kuaidi100-api/java-demo Subscribe.callBackUrl: SignUtils.sign(param
  + salt)); the answer 快递100 expects is ``{"result": true, "returnCode": "200", "message":
  "成功"}``, otherwise it pushes again (every 30 minutes, 3 times).
- "商家寄件下单回调接口状态说明", https://api.kuaidi100.com/document/63be699386292121d642ca3b
  (0 下单成功, 610 下单失败, 1 已接单, 9 用户主动取消, 99 订单已取消, 10 已取件, 15 已结算, 155
  修改重量) and the 下单回调 data fields (https://kuaidi100.apifox.cn/api-55506948: orderId,
  status with also 2 收件中, 101 运输中, 11 揽货失败, 12 已退回, 13 已签收, 14 异常签收,
  courierName, courierMobile, weight, freight). Not covered by what we could read of that
  page: the envelope of the order callback. We take it to be the same form ``param`` +
  ``sign`` = MD5(param + salt) with the order's ``salt`` as the pushes above; an order
  callback signed otherwise is refused (401), so a different envelope would show at once in
  the console's refusals rather than pass unchecked.

What the scheme allows, and what we do about it:

- **Replays and stale pushes.** 快递100's pushes carry no timestamp and no nonce; the
  signature covers ``param`` only. A replayed push is therefore indistinguishable from
  快递100's own re-push (which it does by design when an answer is lost). We accept it
  and the events dedupe: each trace line gets a stable ``event_id`` from (company, waybill,
  time, text) — the same id whether it came by push or by poll — and an order callback's
  from (快递100's order id, status). Older events never move a parcel backwards
  (states.next_status). No "stale timestamp" check is possible; nothing is lost by that,
  since an old push can only repeat what was true.
- **Which booking.** Every callback URL we hand 快递100 (callBackUrl, pollCallBackUrl,
  subscription callbackurl) carries ``order_no`` and ``tag`` = HMAC-SHA256(salt, order_no)
  in its query (快递100: "如果需要在推送信息回传自己业务参数，可以在回调地址URL后面拼接上去"),
  so a push names our order even before we stored the waybill, and a signed body replayed to
  another order's URL is refused. Without a tag, the waybill (``nu``, signed) is used.
- **Already exists.** ``thirdOrderId`` makes 快递100 answer a repeat within 48 hours with the
  first order; it does not say that it did, so :meth:`create_order` first asks our own
  records (``known_order``) and reports ``already_existed`` from them.
- **Rotation.** 快递100 keeps signing an order's pushes with the salt given at placement:
  the salts of ``previous_salts`` keep verifying after a rotation (carriers.rotate_account).
- **Not offered by 快递100:** a list of our orders by day (``list_orders`` raises
  CarrierRejected("not_offered")); 到付 (payment by the recipient) is refused before sending.
- **Heuristic, said as such:** a second cancel answered with a message containing "已取消" is
  taken as done (the contract: cancelling twice is not an error); trace lines without any
  per-event state (resultv2 not honoured) are classified from their text.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..core.clock import LOCAL_TZ, utcnow
from ..core.gateways import Clock, HttpRequest, HttpResponse, HttpTransport, TransportError, UrllibTransport
from ..sites.divisions import PLACEHOLDER_CITY_NAMES
from .gateway import (
    Capabilities,
    CarrierEvent,
    CarrierRejected,
    CarrierUnavailable,
    OrderRequest,
    OrderResult,
    Party,
    PushRejected,
    Quote,
    QuoteRequest,
)
from .states import Payer, Status

log = logging.getLogger(__name__)

NAME = "kuaidi100"
ENDPOINT = "https://poll.kuaidi100.com"
BORDER_PATH = "/order/borderapi.do"
QUERY_PATH = "/poll/query.do"
SUBSCRIBE_PATH = "/poll"
FORM = "application/x-www-form-urlencoded; charset=UTF-8"
ACK = {"result": True, "returnCode": "200", "message": "成功"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_COMPANY = "ems"
CALLBACK_URL_MAX_BYTES = 200  # "callBackUrl … (限200字节长度,UTF-8编码)"
PRINT_ADDR_MAX_BYTES = 300    # "recManPrintAddr … (限300字节长度,UTF-8编码)"
THIRD_ORDER_ID_MAX = 32       # thirdOrderId "最大32位"
DAY_TYPES = ("今天", "明天", "后天")
MOBILE = re.compile(r"1[3-9]\d{9}")

# 1.6 运单快递状态: code → (name, our status). Main states first, then the 高级 sub-states.
STATES: dict[str, tuple[str, Status]] = {
    "0": ("在途", Status.IN_TRANSIT),
    "1": ("揽收", Status.ACCEPTED),
    "2": ("疑难", Status.EXCEPTION),
    "3": ("签收", Status.DELIVERED),
    "4": ("退签", Status.RETURNED),
    "5": ("派件", Status.OUT_FOR_DELIVERY),
    "6": ("退回", Status.RETURNED),
    "7": ("转投", Status.IN_TRANSIT),
    "8": ("清关", Status.IN_TRANSIT),
    "14": ("拒签", Status.FAILED_DELIVERY),
    "101": ("已下单", Status.PENDING_PICKUP),
    "102": ("待揽收", Status.PENDING_PICKUP),
    "103": ("已揽收", Status.ACCEPTED),
    "1001": ("到达派件城市", Status.IN_TRANSIT),
    "1002": ("干线", Status.IN_TRANSIT),
    "1003": ("转递", Status.IN_TRANSIT),
    "501": ("投柜或驿站", Status.AWAITING_COLLECTION),
    "301": ("本人签收", Status.DELIVERED),
    "302": ("派件异常后签收", Status.DELIVERED),
    "303": ("代签", Status.DELIVERED),
    "304": ("投柜或站签收", Status.DELIVERED),
    "401": ("已销单", Status.CANCELLED),
    "201": ("超时未签收", Status.EXCEPTION),
    "202": ("超时未更新", Status.EXCEPTION),
    "203": ("拒收", Status.FAILED_DELIVERY),
    "204": ("派件异常", Status.FAILED_DELIVERY),
    "205": ("柜或驿站超时未取", Status.EXCEPTION),
    "206": ("无法联系", Status.FAILED_DELIVERY),
    "207": ("超区", Status.EXCEPTION),
    "208": ("滞留", Status.EXCEPTION),
    "209": ("破损", Status.EXCEPTION),
    "210": ("销单", Status.CANCELLED),
    "10": ("待清关", Status.IN_TRANSIT),
    "11": ("清关中", Status.IN_TRANSIT),
    "12": ("已清关", Status.IN_TRANSIT),
    "13": ("清关异常", Status.EXCEPTION),
}
# resultv2=1 gives the state's name only; some documents write 转单 for 转投.
STATE_BY_NAME = {name: code for code, (name, _) in STATES.items()} | {"转单": "7"}

# 商家寄件下单回调 status → (name, our status); None: nothing about the parcel (billing).
ORDER_STATES: dict[str, tuple[str, Status | None]] = {
    "0": ("下单成功", Status.PENDING_PICKUP),
    "610": ("下单失败", Status.EXCEPTION),
    "1": ("已接单", Status.PENDING_PICKUP),
    "2": ("收件中", Status.PENDING_PICKUP),
    "9": ("用户主动取消", Status.CANCELLED),
    "99": ("订单已取消", Status.CANCELLED),
    "10": ("已取件", Status.ACCEPTED),
    "11": ("揽货失败", Status.EXCEPTION),
    "101": ("运输中", Status.IN_TRANSIT),
    "12": ("已退回", Status.RETURNED),
    "13": ("已签收", Status.DELIVERED),
    "14": ("异常签收", Status.DELIVERED),
    "15": ("已结算", None),
    "155": ("修改重量", None),
}

# borderapi.do / query.do / poll codes: which ones a retry can change.
TEMPORARY_CODES = {"500", "501", "502"}  # 服务器错误 / 服务器繁忙 (query: 501, 502)


# ------------------------------------------------------------------ signatures (documented formulas)

def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def order_sign(param: str, t: str, key: str, secret: str) -> str:
    """商家寄件: MD5(param + t + key + secret), 32 upper-case hex characters."""
    return md5_upper(param + t + key + secret)


def query_sign(param: str, key: str, customer: str) -> str:
    """实时快递查询: MD5(param + key + customer), upper-case."""
    return md5_upper(param + key + customer)


def push_sign(param: str, salt: str) -> str:
    """推送 (and, we take it, 下单回调): MD5(param + salt), upper-case."""
    return md5_upper(param + salt)


def callback_tag(salt: str, order_no: str) -> str:
    """Our own tag binding ``order_no`` in a callback URL to this account."""
    return hmac.new(salt.encode("utf-8"), f"kuaidi100-callback:{order_no}".encode(), hashlib.sha256).hexdigest()[:32]


# ------------------------------------------------------------------ the adapter

@dataclass(frozen=True)
class Kuaidi100Credentials:
    """``key`` (授权key), ``customer`` (实时查询's 公司编号), ``secret`` (商家寄件), ``salt`` (we
    choose it: 快递100 signs pushes with it) and the salts used before a rotation."""

    key: str
    customer: str
    secret: str
    salt: str
    previous_salts: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never a secret in a log line or traceback
        return f"Kuaidi100Credentials(key='…{self.key[-4:]}')"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Kuaidi100Credentials:
        missing = [name for name in ("key", "customer", "secret", "salt") if not str(values.get(name) or "").strip()]
        if missing:
            raise CarrierRejected(f"快递100 account lacks {', '.join(missing)}", code="not_configured")
        previous = values.get("previous_salts") or ()
        return cls(key=str(values["key"]).strip(), customer=str(values["customer"]).strip(),
                   secret=str(values["secret"]).strip(), salt=str(values["salt"]).strip(),
                   previous_salts=tuple(str(s) for s in previous if s))


class Kuaidi100Gateway:
    """:class:`~.gateway.CourierGateway` on 快递100. ``callback_url`` is where 快递100 reaches
    us (``…/api/v1/courier/callbacks/kuaidi100``); ``company`` the express company code used
    when a request names none (``ems``); ``known_order(order_no)`` our own record of an order
    already placed (carriers.gateway_for reads it from the booking), or None."""

    name = NAME
    # 商家寄件: payment SHIPPER only (no 到付), pickups 今天/明天/后天, at the site's counter or at home.
    capabilities = Capabilities(payers=frozenset({Payer.GOVERNMENT.value, Payer.SENDER.value}),
                                pickup_days_ahead=len(DAY_TYPES) - 1,
                                pickup_modes=frozenset({"counter", "home"}))

    def __init__(self, *, credentials: Kuaidi100Credentials, callback_url: str, company: str = DEFAULT_COMPANY,
                 service_type: str | None = None, endpoint: str = ENDPOINT, timeout: float | None = None,
                 transport: HttpTransport | None = None, now: Clock = utcnow,
                 known_order: Callable[[str], OrderResult | None] | None = None):
        self.credentials = credentials
        self.callback_url = _callback_base(callback_url)
        self.company = company or DEFAULT_COMPANY
        self.service_type = service_type or None
        self.endpoint = _endpoint(endpoint)
        self.timeout = timeout
        self.transport = transport or UrllibTransport(timeout=timeout or 10.0)
        self.now = now
        self.known_order = known_order

    def __repr__(self) -> str:
        return f"<Kuaidi100Gateway {self.endpoint} {self.credentials!r}>"

    # -------------------------------------------------------------- CourierGateway

    def quote(self, request: QuoteRequest) -> Quote:
        """商家寄件下单价格接口 (method=price). Raises CarrierUnavailable, CarrierRejected."""
        company = request.company or self.company
        param = {"kuaidiCom": company, "sendManPrintAddr": _city_level(request.sender),
                 "recManPrintAddr": _city_level(request.recipient), "weight": _kg(request.weight_grams)}
        if self.service_type:
            param["serviceType"] = self.service_type
        data = self._border("price", param)
        price = _yuan_to_fen((data or {}).get("price") if isinstance(data, Mapping) else None)
        if price is None:
            raise CarrierUnavailable("快递100 price answer without data.price")
        return Quote(price_fen=price, company=str(data.get("kuaidiCom") or company))

    def create_order(self, request: OrderRequest) -> OrderResult:
        """商家寄件下单 (method=bOrder) with ``thirdOrderId`` = our order number, subscribing the
        waybill's tracking (op=1, pollCallBackUrl). See the module docstring on "already
        exists". Raises CarrierUnavailable (retry: the same thirdOrderId is safe for 48 h),
        CarrierRejected."""
        known = self.known_order(request.order_no) if self.known_order else None
        if known is not None and known.task_id:
            return replace(known, already_existed=True)
        if request.payer == Payer.RECIPIENT:
            raise CarrierRejected("快递100 商家寄件 takes no 到付: payment is SHIPPER only", code="payment_not_supported")
        if len(request.order_no) > THIRD_ORDER_ID_MAX:
            raise CarrierRejected(f"order number longer than {THIRD_ORDER_ID_MAX} characters", code="order_no_too_long")
        company = request.company or self.company
        callback = self.callback_for(request.order_no)
        param: dict[str, Any] = {
            "kuaidicom": company,
            "recManName": request.recipient.name,
            "recManMobile": request.recipient.mobile,
            "recManPrintAddr": _print_address(request.recipient, "recManPrintAddr"),
            "sendManName": request.sender.name,
            "sendManMobile": request.sender.mobile,
            "sendManPrintAddr": _print_address(request.sender, "sendManPrintAddr"),
            "callBackUrl": callback,
            "cargo": request.item_name,
            "payment": "SHIPPER",
            "weight": _kg(request.weight_grams),
            "remark": (request.remark or "")[:100],
            "salt": self.credentials.salt,
            "op": "1",
            "pollCallBackUrl": callback,
            "resultv2": "1",
            "thirdOrderId": request.order_no,
        }
        if self.service_type:
            param["serviceType"] = self.service_type
        if request.insured_value_fen > 0:
            param["valinsPay"] = f"{Decimal(request.insured_value_fen) / 100:.2f}"
        param.update(self._pickup(request.pickup_start, request.pickup_end))
        data = self._border("bOrder", param)
        if not isinstance(data, Mapping) or not data.get("taskId"):
            raise CarrierUnavailable(f"快递100 accepted order {request.order_no} without a taskId")
        task_id = _task_id(str(data["taskId"]), str(data.get("orderId") or ""))
        waybill = str(data.get("kuaidinum") or "").strip() or None
        log.info("快递100 order %s placed: task %s, waybill %s", request.order_no, task_id, waybill or "(to come)")
        return OrderResult(order_no=request.order_no, task_id=task_id, waybill_no=waybill, company=company,
                           status=Status.PENDING_PICKUP)

    def cancel_order(self, order_no: str, *, task_id: str | None, reason: str) -> None:
        """商家寄件下单取消接口 (method=cancel). Raises CarrierUnavailable, CarrierRejected
        (unknown order, already picked up)."""
        if not task_id:
            known = self.known_order(order_no) if self.known_order else None
            task_id = known.task_id if known else None
        if not task_id:
            raise CarrierRejected(f"no 快递100 task id known for order {order_no}", code="unknown_order")
        task, _, carrier_order = task_id.partition(":")
        param = {"taskId": task, "orderId": carrier_order, "cancelMsg": (reason or "用户取消")[:100]}
        try:
            self._border("cancel", param)
        except CarrierRejected as exc:
            if "已取消" in str(exc):  # cancelled before: the outcome asked for (see the module docstring)
                log.info("快递100 order %s was cancelled already", order_no)
                return
            raise

    def fetch_tracking(self, *, waybill_no: str, company: str | None, phone: str | None) -> list[CarrierEvent]:
        """实时快递查询 (poll/query.do, resultv2=4). "查询无结果" is no events. Raises
        CarrierUnavailable, CarrierRejected."""
        com = company or self.company
        param: dict[str, Any] = {"com": com, "num": waybill_no, "resultv2": "4", "show": "0", "order": "desc"}
        if phone:
            param["phone"] = phone
        text = _json(param)
        form = {"customer": self.credentials.customer, "sign": query_sign(text, self.credentials.key,
                                                                           self.credentials.customer), "param": text}
        answer = self._post(QUERY_PATH, form, what=f"tracking of {waybill_no}")
        code = str(answer.get("returnCode") or "")
        if code or answer.get("result") is False:
            if code == "500":  # 查询无结果，请隔段时间再查
                return []
            self._refuse(code or "unknown", answer.get("message"), f"tracking of {waybill_no}")
        return events_from_result(answer, order_no=None)

    def parse_push(self, *, body: bytes, headers: Mapping[str, str], form: Mapping[str, str]) -> list[CarrierEvent]:
        """A 快递100 push (tracking) or order callback, as form fields ``param`` and ``sign``,
        with our ``order_no``/``tag`` from its URL's query. Raises PushRejected: malformed
        (no param, not a JSON object of either kind), bad_signature (no sign, a sign that no
        salt of ours gives, a wrong tag)."""
        param = form.get("param")
        if not isinstance(param, str) or not param.strip():
            raise PushRejected("malformed", "快递100 push without param")
        sign = str(form.get("sign") or "").strip().upper()
        if not sign:
            raise PushRejected("bad_signature", "快递100 push without sign (we always give a salt)")
        if not any(hmac.compare_digest(push_sign(param, salt).encode(), sign.encode()) for salt in self._salts()):
            raise PushRejected("bad_signature", "快递100 push sign does not match MD5(param + salt)")
        order_no = self._order_from_url(form)
        try:
            data = json.loads(param)
        except ValueError:
            raise PushRejected("malformed", "快递100 push param is not JSON") from None
        if not isinstance(data, Mapping):
            raise PushRejected("malformed", "快递100 push param is not a JSON object")
        if isinstance(data.get("lastResult"), Mapping):
            events = events_from_push(data, order_no=order_no)
        elif isinstance(data.get("data"), Mapping) or "kuaidinum" in data:
            events = events_from_order_callback(data, order_no=order_no, now=self.now())
        else:
            raise PushRejected("malformed", "快递100 push param is neither a tracking push nor an order callback")
        return events

    def list_orders(self, day: date) -> list[OrderResult]:
        """Not offered: 快递100's 商家寄件 publishes no list of orders (only a task's detail)."""
        raise CarrierRejected("快递100 offers no list of orders by day", code="not_offered")

    # -------------------------------------------------------------- beyond the protocol

    @staticmethod
    def push_ack() -> dict[str, Any]:
        """The answer 快递100 expects for a push it need not send again."""
        return dict(ACK)

    def subscribe(self, *, waybill_no: str, company: str | None, phone: str | None, order_no: str | None = None) -> None:
        """快递信息推送服务 订阅 (poll): track a waybill that was not known at placement (an
        order whose number came later by callback). "重复订阅" (501) is success. Raises
        CarrierUnavailable, CarrierRejected."""
        param = {"company": company or self.company, "number": waybill_no, "key": self.credentials.key,
                 "parameters": {"callbackurl": self.callback_for(order_no), "salt": self.credentials.salt,
                                "resultv2": "4", "phone": phone or ""}}
        answer = self._post(SUBSCRIBE_PATH, {"schema": "json", "param": _json(param)},
                            what=f"subscription of {waybill_no}")
        code = str(answer.get("returnCode") or "")
        if code in ("200", "501"):
            return
        self._refuse(code or "unknown", answer.get("message"), f"subscription of {waybill_no}")

    def callback_for(self, order_no: str | None) -> str:
        """Our callback URL for one order: ``order_no`` and its tag in the query (≤ 200 bytes)."""
        if not order_no:
            return self.callback_url
        parts = urlsplit(self.callback_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [("order_no", order_no), ("tag", callback_tag(self.credentials.salt, order_no))]
        url = urlunsplit(parts._replace(query=urlencode(query)))
        if len(url.encode("utf-8")) > CALLBACK_URL_MAX_BYTES:
            raise CarrierRejected(f"callback URL longer than {CALLBACK_URL_MAX_BYTES} bytes: shorten the "
                                  "account's callback_url", code="callback_url_too_long")
        return url

    # -------------------------------------------------------------- HTTP

    def _salts(self) -> list[str]:
        return [self.credentials.salt, *self.credentials.previous_salts]

    def _order_from_url(self, form: Mapping[str, str]) -> str | None:
        order_no, tag = form.get("order_no"), form.get("tag")
        if not order_no and not tag:
            return None
        if not order_no or not tag or not any(
                hmac.compare_digest(callback_tag(salt, str(order_no)).encode(), str(tag).encode())
                for salt in self._salts()):
            raise PushRejected("bad_signature", "快递100 push to a callback URL whose tag does not match its order")
        return str(order_no)

    def _pickup(self, start: datetime | None, end: datetime | None) -> dict[str, str]:
        """dayType 今天/明天/后天 and HH:mm in China Standard Time; nothing for a counter drop-off."""
        if start is None:
            return {}
        today = self.now().astimezone(LOCAL_TZ).date()
        local_start = start.astimezone(LOCAL_TZ)
        days = (local_start.date() - today).days
        if not 0 <= days < len(DAY_TYPES):
            raise CarrierRejected(f"快递100 books pickups for today, tomorrow or the day after only "
                                  f"(the slot is {days} days away)", code="pickup_day_out_of_range")
        fields = {"dayType": DAY_TYPES[days], "pickupStartTime": local_start.strftime("%H:%M")}
        if end is not None:
            fields["pickupEndTime"] = end.astimezone(LOCAL_TZ).strftime("%H:%M")
        return fields

    def _border(self, method: str, param: Mapping[str, Any]) -> Any:
        text = _json(param)
        t = str(int(self.now().timestamp() * 1000))
        form = {"method": method, "key": self.credentials.key, "t": t, "param": text,
                "sign": order_sign(text, t, self.credentials.key, self.credentials.secret)}
        what = f"商家寄件 {method}" + (f" {param.get('thirdOrderId')}" if param.get("thirdOrderId") else "")
        answer = self._post(BORDER_PATH, form, what=what)
        code = str(answer.get("returnCode") or "")
        if answer.get("result") is not True or code not in ("", "200"):
            self._refuse(code or "unknown", answer.get("message"), what)
        return answer.get("data")

    def _post(self, path: str, form: Mapping[str, str], *, what: str) -> Mapping[str, Any]:
        request = HttpRequest("POST", self.endpoint + path, {"Content-Type": FORM}, urlencode(form).encode("utf-8"))
        try:
            answer = self.transport.send(request, timeout=self.timeout)
        except TransportError as exc:
            raise CarrierUnavailable(f"快递100 unreachable for {what}: {exc}") from None
        return _answer_of(answer, what)

    def _refuse(self, code: str, message: Any, what: str) -> NoReturn:
        text = f"快递100 refused {what}: {code} {_redact(str(message or ''))}".strip()
        log.warning(text)
        if code in TEMPORARY_CODES:
            raise CarrierUnavailable(text)
        raise CarrierRejected(text, code=code)


def _answer_of(answer: HttpResponse, what: str) -> Mapping[str, Any]:
    status = answer.status
    if status >= 500 or status in (408, 429):
        raise CarrierUnavailable(f"快递100 answered HTTP {status} for {what}")
    if not answer.ok:
        raise CarrierRejected(f"快递100 answered HTTP {status} for {what}", code=f"http_{status}")
    try:
        data = json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CarrierUnavailable(f"快递100 gave no JSON for {what} (HTTP {status})") from None
    if not isinstance(data, Mapping):
        raise CarrierUnavailable(f"快递100 gave no JSON object for {what}")
    return data


# ------------------------------------------------------------------ reading events

def events_from_result(result: Mapping[str, Any], *, order_no: str | None) -> list[CarrierEvent]:
    """Events of a query answer or a push's ``lastResult``: ``data`` (newest first), ``state``,
    ``com``, ``nu``. Trace lines without a readable time are left out (logged)."""
    company = str(result.get("com") or "") or None
    waybill = str(result.get("nu") or "") or None
    items = [item for item in (result.get("data") or []) if isinstance(item, Mapping)]
    dated = []
    for item in items:
        when = _local_time(item.get("ftime") or item.get("time"))
        if when is None:
            log.warning("快递100 trace line of %s without a readable time left out", waybill)
            continue
        dated.append((when, item))
    newest = max((when for when, _ in dated), default=None)
    top_state = str(result.get("state") if result.get("state") is not None else "")
    events = []
    for when, item in dated:
        text = str(item.get("context") or "").strip()
        code = _code_of(item)
        if code is None and when == newest and top_state in STATES:
            code = top_state  # the parcel's current state belongs to its newest line
        status = STATES[code][1] if code in STATES else _status_from_text(text)
        location = str(item.get("areaName") or item.get("location") or "").strip() or None
        digest = hashlib.sha256(f"{company}|{waybill}|{when.isoformat()}|{text}".encode()).hexdigest()[:40]
        events.append(CarrierEvent(status=status, raw_text=text[:500] or (STATES[code][0] if code else "—"),
                                   occurred_at=when, raw_code=code, location=location[:200] if location else None,
                                   event_id=f"k100:{digest}", order_no=order_no, waybill_no=waybill, company=company))
    return events


def events_from_push(data: Mapping[str, Any], *, order_no: str | None) -> list[CarrierEvent]:
    """A tracking push: ``lastResult`` is the full trace; when 快递100 corrected the company
    (autoCheck=1), ``comNew`` is the company the trace belongs to."""
    result = dict(data["lastResult"])
    if str(data.get("autoCheck") or "") == "1" and data.get("comNew"):
        result["com"] = data["comNew"]
    return events_from_result(result, order_no=order_no)


def events_from_order_callback(data: Mapping[str, Any], *, order_no: str | None, now: datetime) -> list[CarrierEvent]:
    """A 商家寄件 order callback: one event for the order's status (none for billing ones). It
    carries no time of its own: it happened when it arrived. The courier's name and number
    are not kept."""
    inner = data.get("data") if isinstance(data.get("data"), Mapping) else {}
    code = str(inner.get("status") if inner.get("status") is not None else data.get("status", "")).strip()
    if code not in ORDER_STATES:
        log.warning("快递100 order callback with unknown status %r ignored", code[:16])
        return []
    name, status = ORDER_STATES[code]
    if status is None:
        return []
    carrier_order = str(inner.get("orderId") or "").strip()
    waybill = str(data.get("kuaidinum") or inner.get("kuaidinum") or "").strip() or None
    company = str(data.get("kuaidicom") or "").strip() or None
    ref = carrier_order or waybill or order_no or "?"
    return [CarrierEvent(status=status, raw_text=name, occurred_at=now, raw_code=f"order:{code}", location=None,
                         event_id=f"k100-order:{ref}:{code}"[:64], order_no=order_no, waybill_no=waybill,
                         company=company)]


def _code_of(item: Mapping[str, Any]) -> str | None:
    code = str(item.get("statusCode") or "").strip()
    if code in STATES:
        return code
    name = str(item.get("status") or "").strip()
    return STATE_BY_NAME.get(name)


def _status_from_text(text: str) -> Status:
    """The fallback for a trace line that says no state: China Post's words."""
    if "妥投" in text or "签收" in text:
        return Status.DELIVERED
    if "收寄" in text or "揽收" in text or "揽件" in text:
        return Status.ACCEPTED
    if "投递" in text or "派送" in text or "派件" in text:
        return Status.OUT_FOR_DELIVERY
    return Status.IN_TRANSIT


def _local_time(value: Any) -> datetime | None:
    """"2026-03-02 10:00:00" in China Standard Time → aware UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value.strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=LOCAL_TZ).astimezone(UTC)


# ------------------------------------------------------------------ small helpers

def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _task_id(task: str, carrier_order: str) -> str:
    """What we keep as the carrier's id: taskId and orderId (cancel needs both)."""
    return f"{task}:{carrier_order}" if carrier_order else task


def _kg(grams: int) -> str:
    return f"{Decimal(grams) / 1000:f}".rstrip("0").rstrip(".") or "0"


def _yuan_to_fen(value: Any) -> int | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return int((amount * 100).to_integral_value())


def _names(party: Party) -> Iterable[str]:
    yield party.province
    if party.city and party.city not in PLACEHOLDER_CITY_NAMES and party.city != party.province:
        yield party.city
    if party.county and party.county != party.city:
        yield party.county


def _print_address(party: Party, field: str) -> str:
    address = "".join(_names(party)) + party.address
    if len(address.encode("utf-8")) > PRINT_ADDR_MAX_BYTES:
        raise CarrierRejected(f"{field} longer than {PRINT_ADDR_MAX_BYTES} bytes", code="address_too_long")
    return address


def _city_level(party: Party) -> str:
    """"最小颗粒到市级": province and city (the province alone for 北京市 and the like)."""
    names = list(_names(party))
    return "".join(names[:2])


def _redact(text: str) -> str:
    return MOBILE.sub(lambda m: m.group()[:3] + "****" + m.group()[-4:], text)[:300]


def _endpoint(endpoint: str) -> str:
    parts = urlsplit(str(endpoint or "").strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise CarrierRejected(f"KIOSK_KUAIDI100_ENDPOINT must be a base URL such as {ENDPOINT}, got {endpoint!r}",
                              code="not_configured")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise CarrierRejected("KIOSK_KUAIDI100_ENDPOINT must use https:// (orders carry residents' mobile numbers)",
                              code="not_configured")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _callback_base(url: str) -> str:
    parts = urlsplit(str(url or "").strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise CarrierRejected("the 快递100 account's callback_url must be the public URL of "
                              "/api/v1/courier/callbacks/kuaidi100", code="not_configured")
    return urlunsplit(parts)
