"""A local stand-in for poll.kuaidi100.com: a real HTTP server on 127.0.0.1 that speaks 快递100's
wire format (form-encoded requests, JSON answers) for 商家寄件 (order/borderapi.do: bOrder,
cancel, price), 实时快递查询 (poll/query.do) and 订阅 (poll), and builds the signed pushes and
order callbacks 快递100 would send.

Every signature is recomputed here from the request as received, with the formulas of 快递100's
documentation written out again (nothing is imported from kiosk_backend.courier.kuaidi100, so a
signing mistake in the adapter cannot pass by being made twice):

- 商家寄件: sign = upper(MD5(param + t + key + secret)); a wrong one answers returnCode 503
  "验证签名失败", an unknown key 600 "您不是合法的用户";
- 实时查询: sign = upper(MD5(param + key + customer));
- pushes we send: sign = upper(MD5(param + salt)), salt as given at placement or subscription.

``thirdOrderId`` repeated within 48 hours answers the first order's content, as documented.
A test scripts what comes after a request passed the checks with :meth:`FakeKuaidi100.script`.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

CST = timezone(timedelta(hours=8))
DUPLICATE_WINDOW_SECONDS = 48 * 3600
# The documentation's state names, and the main state of each 高级 sub-state.
NAMES = {"0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件", "6": "退回", "7": "转投",
         "8": "清关", "14": "拒签", "101": "已下单", "102": "待揽收", "103": "已揽收", "1001": "到达派件城市",
         "1002": "干线", "1003": "转递", "501": "投柜或驿站", "301": "本人签收", "302": "派件异常后签收", "303": "代签",
         "304": "投柜或站签收", "401": "已销单", "201": "超时未签收", "202": "超时未更新", "203": "拒收", "204": "派件异常",
         "205": "柜或驿站超时未取", "206": "无法联系", "207": "超区", "208": "滞留", "209": "破损", "210": "销单",
         "10": "待清关", "11": "清关中", "12": "已清关", "13": "清关异常"}
MAIN = {"101": "1", "102": "1", "103": "1", "1001": "0", "1002": "0", "1003": "0", "501": "5", "301": "3", "302": "3",
        "303": "3", "304": "3", "401": "4", "10": "8", "11": "8", "12": "8", "13": "8",
        **{str(code): "2" for code in range(201, 211)}}
ORDER_REQUIRED = ("kuaidicom", "recManName", "recManMobile", "recManPrintAddr", "sendManName", "sendManMobile",
                  "sendManPrintAddr", "callBackUrl")


def upper_md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


@dataclass
class Order:
    task_id: str
    order_id: str
    kuaidinum: str
    param: dict
    placed_at: float
    state: str = "placed"  # placed | picked_up | cancelled


@dataclass
class Subscription:
    company: str
    number: str
    callbackurl: str
    salt: str | None
    resultv2: str


@dataclass
class FakeKuaidi100:
    """Accounts (key → (customer, secret)); ``orders`` by taskId, ``subscriptions`` by waybill,
    ``traces`` by waybill (lines a test adds), ``refused`` the codes it answered with."""

    accounts: dict[str, tuple[str, str]]
    clock: object = time.time
    orders: dict[str, Order] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    traces: dict[str, list[dict]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    _script: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 20066770

    def script(self, *answers) -> None:
        """What to answer to the next requests that pass the checks, in order (then normally):
        ("http", status): a bare HTTP status; ("slow", seconds): answer late; ("garbled",): a
        200 that is not JSON; ("code", returnCode, message): a refusal in 快递100's shape."""
        with self._lock:
            self._script.extend(answers)

    def _next(self):
        with self._lock:
            return self._script.pop(0) if self._script else None

    # ------------------------------------------------------------ state a test sets

    def pick_up(self, task_id: str) -> None:
        self.orders[task_id].state = "picked_up"

    def add_trace(self, number: str, *lines: tuple[str, str, str, str | None]) -> None:
        """Lines (time "YYYY-MM-DD HH:MM:SS" in China time, context, state code, area name)."""
        self.traces.setdefault(number, []).extend(
            {"time": t, "context": context, "code": code, "area": area} for t, context, code, area in lines)

    def order_by_third(self, third_order_id: str) -> Order | None:
        return next((o for o in self.orders.values() if o.param.get("thirdOrderId") == third_order_id), None)

    # ------------------------------------------------------------ answering

    def answer(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        self.requests.append({"path": path, "form": form})
        handler = {"/order/borderapi.do": self._border, "/poll/query.do": self._query, "/poll": self._subscribe}.get(path)
        if handler is None:
            return 404, b"<html>404</html>", 0
        refusal, result = handler(form)
        if refusal is not None:
            self.refused.append(refusal[0])
            return 200, _json({"result": False, "returnCode": refusal[0], "message": refusal[1]}), 0
        behaviour = self._next()
        if behaviour is not None:
            kind = behaviour[0]
            if kind == "http":
                return behaviour[1], b"", 0
            if kind == "garbled":
                return 200, b"<html>gateway</html>", 0
            if kind == "code":
                self.refused.append(behaviour[1])
                return 200, _json({"result": False, "returnCode": behaviour[1], "message": behaviour[2]}), 0
            if kind == "slow":
                return 200, _json(result), behaviour[1]
        return 200, _json(result), 0

    def _border(self, form: dict) -> tuple[tuple[str, str] | None, dict]:
        if not all(form.get(name) for name in ("method", "key", "t", "param", "sign")):
            return ("400", "参数不完整"), {}
        account = self.accounts.get(form["key"])
        if account is None:
            return ("600", "您不是合法的用户"), {}
        _, secret = account
        if not form["t"].isdigit():
            return ("400", "t 应为毫秒时间戳"), {}
        if upper_md5(form["param"] + form["t"] + form["key"] + secret) != form["sign"]:
            return ("503", "验证签名失败"), {}
        try:
            param = json.loads(form["param"])
        except ValueError:
            return ("400", "param 不是 JSON"), {}
        if not isinstance(param, dict):
            return ("400", "param 不是 JSON 对象"), {}
        method = form["method"]
        if method == "bOrder":
            return self._place(param)
        if method == "cancel":
            return self._cancel(param)
        if method == "price":
            return self._price(param)
        return ("400", f"未知的业务类型 {method}"), {}

    def _place(self, param: dict):
        missing = [name for name in ORDER_REQUIRED if not param.get(name)]
        if missing:
            return ("400", f"缺少参数 {','.join(missing)}"), {}
        if param.get("payment", "SHIPPER") != "SHIPPER":
            return ("400", "不支持到付"), {}
        if param["kuaidicom"] != param["kuaidicom"].lower():
            return ("400", "快递公司编码一律用小写字母"), {}
        if len(param["callBackUrl"].encode()) > 200 or len(param.get("pollCallBackUrl", "").encode()) > 200:
            return ("400", "回调地址超长"), {}
        for name in ("recManPrintAddr", "sendManPrintAddr"):
            if len(param[name].encode()) > 300:
                return ("400", f"{name} 超长"), {}
        if param.get("dayType") and param["dayType"] not in ("今天", "明天", "后天"):
            return ("400", "dayType 应为 今天/明天/后天"), {}
        if param.get("op") == "1" and not param.get("pollCallBackUrl"):
            return ("400", "开启订阅时 pollCallBackUrl 必填"), {}
        third = param.get("thirdOrderId")
        if third:
            if len(third) > 32:
                return ("400", "thirdOrderId 最大32位"), {}
            first = self.order_by_third(third)
            if first is not None and self.clock() - first.placed_at < DUPLICATE_WINDOW_SECONDS:
                return None, self._placed(first)  # "48小时内返回第一次下单内容"
        with self._lock:
            self._seq += 1
            order = Order(task_id=uuid.uuid4().hex.upper(), order_id=str(self._seq),
                          kuaidinum=f"11{self._seq:011d}", param=param, placed_at=self.clock())
            self.orders[order.task_id] = order
        if param.get("op") == "1":
            self.subscriptions[order.kuaidinum] = Subscription(param["kuaidicom"], order.kuaidinum,
                                                              param["pollCallBackUrl"], param.get("salt"),
                                                              param.get("resultv2", "0"))
        return None, self._placed(order)

    def _placed(self, order: Order) -> dict:
        return {"result": True, "returnCode": "200", "message": "提交成功",
                "data": {"taskId": order.task_id, "orderId": order.order_id, "kuaidinum": order.kuaidinum}}

    def _cancel(self, param: dict):
        order = self.orders.get(param.get("taskId", ""))
        if order is None or order.order_id != param.get("orderId"):
            return ("400", "订单不存在"), {}
        if order.state == "cancelled":
            return ("400", "订单已取消"), {}
        if order.state == "picked_up":
            return ("400", "订单已揽收，无法取消"), {}
        order.state = "cancelled"
        return None, {"result": True, "returnCode": "200", "message": "取消成功", "data": {}}

    def _price(self, param: dict):
        if not param.get("kuaidiCom") or not param.get("sendManPrintAddr") or not param.get("recManPrintAddr"):
            return ("400", "参数错误"), {}
        weight = float(param.get("weight") or 1)
        extra = max(0, -(-weight // 1) - 1)  # each further kg started
        price = 8 + 2 * extra
        return None, {"result": True, "returnCode": "200", "message": "成功",
                      "data": {"kuaidiCom": param["kuaidiCom"], "serviceType": "标准快递", "price": f"{price:.1f}",
                               "firstPrice": "8.0", "overPrice": "2.0", "defPrice": f"{price + 2:.1f}",
                               "defFirstPrice": "10.0", "defOverPrice": "2.0"}}

    def _query(self, form: dict):
        if not all(form.get(name) for name in ("customer", "sign", "param")):
            return ("400", "提交的数据不完整"), {}
        key = next((k for k, (customer, _) in self.accounts.items() if customer == form["customer"]), None)
        if key is None:
            return ("600", "您不是合法的用户"), {}
        if upper_md5(form["param"] + key + form["customer"]) != form["sign"]:
            return ("503", "验证签名失败"), {}
        try:
            param = json.loads(form["param"])
        except ValueError:
            return ("400", "提交的数据不完整"), {}
        if not isinstance(param, dict) or not param.get("com") or not param.get("num"):
            return ("400", "提交的数据不完整"), {}
        lines = self.traces.get(param["num"])
        if not lines:
            return ("500", "查询无结果，请隔段时间再查"), {}
        return None, {"message": "ok", "nu": param["num"], "ischeck": "0", "condition": "00", "com": param["com"],
                      "status": "200", **self.result_of(param["num"], param["com"], str(param.get("resultv2", "")))}

    def _subscribe(self, form: dict):
        if form.get("schema") != "json" or not form.get("param"):
            return ("700", "订阅方的订阅数据存在错误"), {}
        try:
            param = json.loads(form["param"])
        except ValueError:
            return ("700", "订阅方的订阅数据存在错误"), {}
        if param.get("key") not in self.accounts:
            return ("600", "您不是合法的订阅者"), {}
        parameters = param.get("parameters") or {}
        if not param.get("company") or not param.get("number") or not parameters.get("callbackurl"):
            return ("700", "订阅方的订阅数据存在错误"), {}
        if param["number"] in self.subscriptions:
            return ("501", "重复订阅"), {}
        self.subscriptions[param["number"]] = Subscription(param["company"], param["number"], parameters["callbackurl"],
                                                           parameters.get("salt"), str(parameters.get("resultv2", "")))
        return None, {"result": True, "returnCode": "200", "message": "提交成功"}

    # ------------------------------------------------------------ what 快递100 sends us

    def result_of(self, number: str, company: str, resultv2: str) -> dict:
        """A query answer's / push's lastResult body: data newest first, the parcel's state."""
        lines = sorted(self.traces.get(number, []), key=lambda line: line["time"], reverse=True)
        data = []
        for line in lines:
            item = {"time": line["time"], "ftime": line["time"], "context": line["context"]}
            if resultv2 in ("1", "4", "6"):
                item["status"] = NAMES[MAIN.get(line["code"], line["code"])] if resultv2 == "1" else NAMES[line["code"]]
                item["areaName"] = line["area"] or ""
            if resultv2 in ("4", "6"):
                item["statusCode"] = line["code"]
            data.append(item)
        state = MAIN.get(lines[0]["code"], lines[0]["code"]) if lines else "0"
        return {"state": state, "data": data}

    def tracking_push(self, number: str, *, status: str = "polling", sign_with: str | None = None) -> tuple[str, dict]:
        """(callback URL, form) of the push 快递100 sends for a subscribed waybill."""
        sub = self.subscriptions[number]
        last = {"message": "ok", "status": "200", "condition": "F00", "com": sub.company, "nu": number,
                "ischeck": "1" if status == "shutdown" else "0", **self.result_of(number, sub.company, sub.resultv2)}
        param = json.dumps({"status": status, "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "",
                            "comNew": "", "lastResult": last}, ensure_ascii=False)
        return sub.callbackurl, self._signed(param, sign_with if sign_with is not None else sub.salt)

    def order_callback(self, task_id: str, status: int, *, sign_with: str | None = None) -> tuple[str, dict]:
        """(callBackUrl, form) of a 商家寄件 order callback with the order's status."""
        order = self.orders[task_id]
        param = json.dumps({"kuaidicom": order.param["kuaidicom"], "kuaidinum": order.kuaidinum, "status": str(status),
                            "message": "", "data": {"orderId": order.order_id, "status": status, "courierName": "王师傅",
                                                    "courierMobile": "13900001111", "weight": "1", "freight": "12.0"}},
                           ensure_ascii=False)
        salt = sign_with if sign_with is not None else order.param.get("salt")
        return order.param["callBackUrl"], self._signed(param, salt)

    @staticmethod
    def _signed(param: str, salt: str | None) -> dict:
        form = {"param": param}
        if salt is not None:  # "salt值为空串时，推送的数据也会包含sign"
            form["sign"] = upper_md5(param + salt)
        return form


def local(moment: datetime) -> str:
    """An aware time as 快递100 writes it: China time, "YYYY-MM-DD HH:MM:SS"."""
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            status, payload, delay = 200, _json({"result": False, "returnCode": "400", "message": "提交的数据不完整"}), 0
        else:
            status, payload, delay = self.server.fake.answer(urlsplit(self.path).path, body)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            pass


class FakeServer:
    """Runs a FakeKuaidi100 on 127.0.0.1 (a free port) in a thread; ``url`` is its base URL."""

    def __init__(self, fake: FakeKuaidi100):
        self.fake = fake
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = fake
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
