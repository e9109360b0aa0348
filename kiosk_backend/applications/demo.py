"""Demo applications (办件) for `kiosk demo`: about seventy for the demo residents, in every
state and mode, made through :func:`services.create_application` and
:func:`services.apply_event` so that their timelines, clocks and deadlines are the real ones.

Each demo application is a :class:`Case`: who applied, for what kind of item (chosen from
the loaded catalog by its properties: 通办范围, 网办, 承诺件 or 即办件, its department, its
materials), where it was received (the demo sites' 江州 hall and service points, or online),
where it is handled (here, or 深圳 / 杭州 / 北京朝阳 for 跨省通办) and how far it has got.
Dates are laid out backwards from today on the working-day calendar, so the demo always
shows some applications with days left, one due today, some overdue, some with the clock
stopped; near the end of the last year the calendar covers, two long ones run into a year
without data and show 期限待定, as they should.

Loading is all or nothing (the caller commits once) and happens once: when any application
of a demo resident exists, nothing is added.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..catalog import services as catalog
from ..core import calendar_store
from ..core.clock import utcnow
from ..core.workdays import Calendar, CalendarYearMissing
from ..fleet.cli import DEMO_SITES
from ..identity import residents
from ..identity.providers import Claims, demo_residents
from . import progress, services
from .deadlines import CHINA, china_day
from .models import Application
from .states import Action, Delivery, Mode, Outcome, State

ACTOR = "system"  # loaded by the system; actor_name says which office acted, as residents read it
DEMO_CITY = "江州市"  # the demo catalog's fictional city (fleet/cli.py DEMO_SITES say why it stands on 九江's codes)
CROSS = ("跨省", "全国")  # 通办范围 of the items that may be handled in another province


# ---------------------------------------------------------------- where

@dataclass(frozen=True)
class Elsewhere:
    """A city in another province that handles 跨省通办 applications received in 江州."""

    region: str
    city: str    # as the notes say it: 深圳
    prefix: str  # what stands for 江州市 in a department's name there: 深圳市, 北京市朝阳区
    offices: Mapping[str, str]  # a department (its name after 江州市, or a kind) → the office there

    def office_for(self, dept_name: str, item_name: str) -> str:
        """The office there that does what the item's 江州 department does here."""
        suffix = dept_name.removeprefix(DEMO_CITY)
        if suffix == "人力资源和社会保障局" and ("保险" in item_name or "养老" in item_name):
            suffix = "社会保险"
        elif suffix == "司法局" and "公证" in item_name:
            suffix = "公证"
        if suffix in self.offices:
            return self.offices[suffix]
        if DEMO_CITY in dept_name:  # 国家税务总局江州市税务局 → 国家税务总局深圳市税务局
            return dept_name.replace(DEMO_CITY, self.prefix)
        return f"{self.prefix}政务服务中心"


ELSEWHERE = {place.region: place for place in (
    Elsewhere("440300", "深圳", "深圳市", {
        "公安局": "深圳市公安局", "公安局交通警察支队": "深圳市公安局交通警察局",
        "公安局出入境管理支队": "深圳市公安局出入境管理局", "社会保险": "深圳市社会保险基金管理局",
        "住房公积金管理中心": "深圳市住房公积金管理中心", "公证": "广东省深圳市深圳公证处"}),
    Elsewhere("330100", "杭州", "杭州市", {
        "公安局": "杭州市公安局", "公安局交通警察支队": "杭州市公安局交通警察支队",
        "社会保险": "杭州市社会保险管理服务中心", "住房公积金管理中心": "杭州住房公积金管理中心",
        "公证": "浙江省杭州市国立公证处"}),
    Elsewhere("110105", "北京朝阳", "北京市朝阳区", {
        "公安局": "北京市公安局朝阳分局", "公安局交通警察支队": "北京市公安局公安交通管理局朝阳交通支队",
        "公安局出入境管理支队": "北京市公安局出入境管理总队", "社会保险": "北京市朝阳区社会保险事业管理中心",
        "住房公积金管理中心": "北京住房公积金管理中心朝阳管理部", "公证": "北京市中信公证处"}),
)}


@dataclass(frozen=True)
class Counter:
    """Where an application was handed in."""

    org: str
    region: str
    kind: str  # centre | cross (跨省通办专窗) | online | post_office | bank_branch | community_centre


def _city_region() -> str:
    """The division code of the city the demo sites are in (its departments handle local items)."""
    return DEMO_SITES[0]["city_code"] + "00"


def _counters() -> dict[str, Counter]:
    sites = {site["code"]: site for site in DEMO_SITES}
    # The city's service centre is on 市民大道 like site JZ01, in the same district.
    hall = sites["JZ01"]["county_code"]
    counters = {
        "centre": Counter(f"{DEMO_CITY}政务服务中心", hall, "centre"),
        "cross": Counter(f"{DEMO_CITY}政务服务中心跨省通办专窗", hall, "cross"),
        # The province's online hall; the city's branch of it, at the city's division code.
        "online": Counter(f"赣服通（江西政务服务网）{DEMO_CITY}分厅", _city_region(), "online"),
    }
    counters.update({code: Counter(site["name"], site["county_code"], site["kind"]) for code, site in sites.items()})
    return counters


# ---------------------------------------------------------------- what

@dataclass(frozen=True)
class Pick:
    """The kind of item an application is for: properties of the item, and ``words`` of
    which its name has one. With a catalog that has nothing to fit (not the demo's), the
    words are given up first, then the department, then 通办范围 and the least days."""

    words: tuple[str, ...] = ()
    dept: str = ""                   # in the department's name
    area: tuple[str, ...] = ()       # 通办范围
    promised: bool | None = None     # 承诺件 (promised days > 0), or 即办件
    online: bool | None = None       # 网办
    materials: bool = False          # lists its materials (a 补正 names the missing ones)
    min_days: int = 0                # promised days at least


def _pick(*words: str, **properties: Any) -> Pick:
    return Pick(words=words, **properties)


class Items:
    """The catalog's items for natural persons (through catalog's services), handed out
    least-used first so that the demo spreads over many items."""

    def __init__(self, session: Session):
        self.session = session
        self.rows = catalog.search(session, q="", page_size=100_000, server_type="自然人")["items"]
        self.used: dict[str, int] = {}
        self._details: dict[str, Any] = {}

    def detail(self, task_code: str):
        if task_code not in self._details:
            self._details[task_code] = catalog.get_item(self.session, task_code)
        return self._details[task_code]

    def _fits(self, row: Mapping[str, Any], pick: Pick, level: int) -> bool:
        days = row["promise_day"] or 0
        checks = [
            pick.promised is None or (days > 0) == pick.promised,
            pick.online is None or bool(row["is_online"]) == pick.online,
            level >= 3 or days >= pick.min_days,
            level >= 3 or not pick.area or row["handle_area"] in pick.area,
            level >= 2 or not pick.dept or pick.dept in row["dept_name"],
            level >= 1 or not pick.words or any(word in row["task_name"] for word in pick.words),
        ]
        return all(checks) and (not pick.materials or bool(self.detail(row["task_code"]).materials))

    def pick(self, pick: Pick) -> Mapping[str, Any] | None:
        for level in range(5):
            found = [row for row in self.rows if level == 4 or self._fits(row, pick, level)]
            if found:
                # An item named exactly first (居住证申领, not 港澳台居民居住证申领), then the least used.
                row = min(found, key=lambda r: (r["task_name"] not in pick.words, self.used.get(r["task_code"], 0),
                                                -(r["popularity"] or 0)))
                self.used[row["task_code"]] = self.used.get(row["task_code"], 0) + 1
                return row
        return None


# ---------------------------------------------------------------- how far

# The events after 接件 that bring an application to its state; ``state/variant`` for the
# other ways there.
PATHS: dict[str, tuple[Action, ...]] = {
    "received": (),
    "accepted": (Action.ACCEPT,),
    "not_accepted": (Action.REFUSE,),
    "not_accepted/late": (Action.REQUEST_SUPPLEMENT, Action.REFUSE),  # 补正期限届满未补正
    "supplement_requested": (Action.REQUEST_SUPPLEMENT,),  # 一次性告知 at the counter: no clock yet
    "supplement_requested/handling": (Action.ACCEPT, Action.START, Action.REQUEST_SUPPLEMENT),  # clock stopped
    "supplemented": (Action.REQUEST_SUPPLEMENT, Action.SUPPLEMENT),
    "supplemented/handling": (Action.ACCEPT, Action.START, Action.REQUEST_SUPPLEMENT, Action.SUPPLEMENT),
    "in_progress": (Action.ACCEPT, Action.START),
    "in_progress/supplemented": (Action.REQUEST_SUPPLEMENT, Action.SUPPLEMENT, Action.ACCEPT, Action.START),
    "in_progress/resumed": (Action.ACCEPT, Action.START, Action.SUSPEND, Action.RESUME),
    "special_procedure": (Action.ACCEPT, Action.START, Action.SUSPEND),
    "concluded": (Action.ACCEPT, Action.START, Action.CONCLUDE),
    "concluded/instant": (Action.ACCEPT, Action.CONCLUDE),  # 即办件: decided at the counter
    "delivered": (Action.ACCEPT, Action.START, Action.CONCLUDE, Action.DELIVER),
    "delivered/instant": (Action.ACCEPT, Action.CONCLUDE, Action.DELIVER),
    "rated": (Action.ACCEPT, Action.START, Action.CONCLUDE, Action.DELIVER, Action.RATE),
    "rated/instant": (Action.ACCEPT, Action.CONCLUDE, Action.RATE),
}


@dataclass(frozen=True)
class Case:
    """One demo application. Timing: ``due`` puts the deadline that many working days from
    today (negative: overdue; the item's promised days decide when it was accepted);
    otherwise its newest event happened ``last`` working days ago and the earlier ones
    before it, at the usual pace."""

    resident: int  # index into the demo residents
    state: State
    mode: Mode
    at: str        # where it was handed in: centre, online or a demo site's code (跨省通办: the centre's 专窗)
    pick: Pick
    handled_in: str | None = None  # a region code of ELSEWHERE, or None: the item's own department
    last: int = 0
    due: int | None = None
    variant: str = ""
    outcome: Outcome = Outcome.APPROVED
    delivery: Delivery = Delivery.WINDOW
    reason: str = ""  # why not accepted / not approved, when the item picked is the one named

    @property
    def path(self) -> tuple[Action, ...]:
        return PATHS[f"{self.state.value}/{self.variant}" if self.variant else self.state.value]


S, M, D = State, Mode, Delivery
SZ, HZ, BJ = "440300", "330100", "110105"
# Residents: 0 张三, 1 李小明, 2 欧阳娜娜 (household in 北京朝阳), 3 王秀英 (worked in 深圳), 4 陈志强.
CASES: tuple[Case, ...] = (
    # 已接件
    Case(0, S.RECEIVED, M.LOCAL, "centre", _pick("居民身份证换领", promised=True)),
    Case(1, S.RECEIVED, M.ONLINE, "online", _pick("一次性创业补贴申领", online=True, promised=True)),
    Case(2, S.RECEIVED, M.PROXY, "centre", _pick("学历、学位公证", area=CROSS, promised=True), BJ),
    Case(4, S.RECEIVED, M.LOCAL, "JZ01", _pick("机动车驾驶证补领", "补领机动车行驶证", dept="交通警察"), last=1),
    Case(3, S.RECEIVED, M.JOINT, "centre", _pick("基本医疗保险关系转移接续", area=CROSS), SZ),
    # 已受理, the deadline ahead
    Case(0, S.ACCEPTED, M.LOCAL, "centre", _pick("住房公积金个人住房贷款", promised=True), due=8),
    Case(1, S.ACCEPTED, M.ONLINE, "online", _pick("网络预约出租汽车驾驶员证核发", online=True, promised=True),
         due=12),
    Case(3, S.ACCEPTED, M.PROXY, "centre", _pick("职工基本养老保险关系转移接续", area=CROSS, promised=True), SZ, due=9),
    Case(4, S.ACCEPTED, M.LOCAL, "JZ03", _pick("临时救助申请", dept="民政", promised=True), due=4),
    Case(2, S.ACCEPTED, M.JOINT, "centre", _pick("户口迁移", area=CROSS, promised=True), BJ, due=3),
    # 不予受理
    Case(4, S.NOT_ACCEPTED, M.LOCAL, "centre", _pick("居民身份证申领", dept="公安局"), last=8,
         reason="申请人此前已领取居民身份证，应申请换领或补领，不属于首次申领"),
    Case(1, S.NOT_ACCEPTED, M.ONLINE, "online", _pick("公共租赁住房申请", online=True, materials=True),
         last=12, variant="late"),
    Case(0, S.NOT_ACCEPTED, M.PROXY, "centre", _pick("失业保险金申领", area=CROSS), HZ, last=20,
         reason="申请人失业前在杭州参保缴费不满一年，不符合失业保险金申领条件"),
    Case(3, S.NOT_ACCEPTED, M.LOCAL, "JZ03", _pick("高龄津贴申领", dept="民政"), last=5,
         reason="申请人未满八十周岁，不符合高龄津贴申领条件"),
    Case(2, S.NOT_ACCEPTED, M.JOINT, "centre", _pick("城乡居民基本养老保险关系转移接续", area=CROSS), BJ,
         last=30, variant="late"),
    # 待补正: at the counter before 受理 (no clock yet), or while handling (the clock stops)
    Case(0, S.SUPPLEMENT_REQUESTED, M.PROXY, "centre", _pick("出生医学证明补发", area=CROSS, materials=True), HZ,
         last=1),
    Case(1, S.SUPPLEMENT_REQUESTED, M.LOCAL, "centre", _pick("不动产登记", materials=True)),
    Case(2, S.SUPPLEMENT_REQUESTED, M.ONLINE, "online", _pick("教师资格认定", online=True, promised=True,
                                                              materials=True), last=2, variant="handling"),
    Case(3, S.SUPPLEMENT_REQUESTED, M.LOCAL, "JZ03", _pick("最低生活保障申请", dept="民政", materials=True), last=1),
    Case(4, S.SUPPLEMENT_REQUESTED, M.JOINT, "centre", _pick("基本医疗保险关系转移接续", area=CROSS, materials=True),
         SZ, last=3, variant="handling"),
    Case(0, S.SUPPLEMENT_REQUESTED, M.ONLINE, "online", _pick("门诊慢特病待遇认定", online=True, materials=True),
         last=1),
    # 已补正
    Case(1, S.SUPPLEMENTED, M.LOCAL, "centre", _pick("居民身份证补领", materials=True)),
    Case(2, S.SUPPLEMENTED, M.PROXY, "centre", _pick("出生医学证明补发", area=CROSS, materials=True), BJ, last=1,
         variant="handling"),
    Case(3, S.SUPPLEMENTED, M.ONLINE, "online", _pick("生育津贴申领", "医疗费用手工（零星）报销", online=True,
                                                      materials=True)),
    Case(4, S.SUPPLEMENTED, M.LOCAL, "JZ01", _pick("往来港澳通行证签发", "普通护照签发", materials=True), last=1,
         variant="handling"),
    Case(0, S.SUPPLEMENTED, M.JOINT, "centre", _pick("住房公积金异地转移接续", area=CROSS, materials=True), HZ,
         last=2),
    # 办理中: days left, due today (a 即办件 accepted today), overdue, clock stopped and resumed
    Case(0, S.IN_PROGRESS, M.LOCAL, "centre", _pick("普通护照签发", promised=True), due=5),
    Case(1, S.IN_PROGRESS, M.ONLINE, "online", _pick("生育医疗费用报销", online=True, promised=True), due=7),
    Case(2, S.IN_PROGRESS, M.PROXY, "centre", _pick("护士执业注册", area=CROSS, promised=True), BJ, due=2),
    Case(3, S.IN_PROGRESS, M.PROXY, "centre", _pick("城乡居民基本养老保险与职工基本养老保险制度衔接", area=CROSS,
                                                    promised=True), SZ, due=11),
    Case(4, S.IN_PROGRESS, M.LOCAL, "JZ02", _pick("社会保障卡申领", "社会保障卡补领", promised=False), due=0),
    Case(0, S.IN_PROGRESS, M.LOCAL, "centre", _pick("退休申请", promised=True), due=-3),
    Case(1, S.IN_PROGRESS, M.JOINT, "centre", _pick("残疾人证迁移", area=CROSS, promised=True), HZ, due=-1),
    Case(3, S.IN_PROGRESS, M.ONLINE, "online", _pick("丧葬补助金、抚恤金申领", online=True, promised=True), due=-6),
    Case(4, S.IN_PROGRESS, M.LOCAL, "centre", _pick("困难残疾人生活补贴", promised=True), last=2, variant="resumed"),
    Case(2, S.IN_PROGRESS, M.LOCAL, "centre", _pick("居民身份证换领", promised=True, materials=True), due=9,
         variant="supplemented"),
    # Long ones accepted these days: in December they run into a year without calendar data (期限待定).
    Case(1, S.IN_PROGRESS, M.LOCAL, "centre", _pick("工伤认定申请", promised=True, min_days=30), last=1),
    Case(4, S.IN_PROGRESS, M.ONLINE, "online", _pick("退役军人优待证申领", online=True, min_days=30)),
    # 特别程序 (the clock stops)
    Case(3, S.SPECIAL_PROCEDURE, M.LOCAL, "JZ03", _pick("残疾人证新办", promised=True), last=4),
    Case(0, S.SPECIAL_PROCEDURE, M.LOCAL, "centre", _pick("公共租赁住房申请", promised=True), last=6),
    Case(2, S.SPECIAL_PROCEDURE, M.PROXY, "centre", _pick("亲属关系公证", area=CROSS, promised=True), BJ, last=2),
    Case(4, S.SPECIAL_PROCEDURE, M.PROXY, "centre", _pick("失业保险金申领", area=CROSS, promised=True), HZ, last=3),
    Case(1, S.SPECIAL_PROCEDURE, M.ONLINE, "online", _pick("最低生活保障申请", online=True, promised=True), last=5),
    # 办结 (准予 / 不予)
    Case(0, S.CONCLUDED, M.LOCAL, "centre", _pick("往来港澳通行证签发", promised=True), last=1),
    Case(1, S.CONCLUDED, M.LOCAL, "JZ02", _pick("住房公积金提取", promised=False), variant="instant"),
    Case(2, S.CONCLUDED, M.ONLINE, "online", _pick("法律援助申请", online=True, promised=True), last=2,
         outcome=Outcome.DENIED, reason="经核查，申请人家庭经济状况不符合本省法律援助经济困难标准"),
    Case(3, S.CONCLUDED, M.PROXY, "centre", _pick("职工基本养老保险关系转移接续", area=CROSS), SZ, last=1,
         delivery=D.POST),
    Case(4, S.CONCLUDED, M.LOCAL, "JZ03", _pick("最低生活保障申请", dept="民政", promised=True), last=3,
         outcome=Outcome.DENIED, reason="经入户调查和家庭经济状况核对，申请人家庭月人均收入高于本市最低生活保障标准"),
    Case(0, S.CONCLUDED, M.JOINT, "centre", _pick("基本医疗保险关系转移接续", area=CROSS), HZ, last=2),
    Case(4, S.CONCLUDED, M.ONLINE, "online", _pick("就业创业证申领", online=True, promised=False), variant="instant"),
    # 结果送达 (窗口领取 / 邮寄 / 网络送达)
    Case(2, S.DELIVERED, M.LOCAL, "centre", _pick("居住证申领", promised=True), last=4),
    Case(1, S.DELIVERED, M.ONLINE, "online", _pick("个人所得税纳税记录开具", "个人社会保险参保证明查询打印",
                                                   online=True, promised=False), last=10, variant="instant",
         delivery=D.ONLINE),
    Case(4, S.DELIVERED, M.PROXY, "centre", _pick("驾驶证公证", area=CROSS), SZ, last=7, delivery=D.POST),
    Case(3, S.DELIVERED, M.LOCAL, "JZ03", _pick("老年人公交乘车优惠卡申领", promised=True), last=8),
    Case(4, S.DELIVERED, M.LOCAL, "JZ01", _pick("机动车驾驶证换证", dept="交通警察"), last=12, variant="instant",
         delivery=D.POST),
    Case(1, S.DELIVERED, M.JOINT, "centre", _pick("出生医学证明补发", area=CROSS), HZ, last=9, delivery=D.POST),
    Case(3, S.DELIVERED, M.ONLINE, "online", _pick("异地就医备案", online=True, promised=False), last=15,
         variant="instant", delivery=D.ONLINE),
    Case(0, S.DELIVERED, M.LOCAL, "centre", _pick("户籍证明开具", promised=False), last=20, variant="instant"),
    Case(2, S.DELIVERED, M.PROXY, "centre", _pick("城乡居民基本养老保险关系转移接续", area=CROSS), BJ, last=11,
         delivery=D.ONLINE),
    # 已评价
    Case(0, S.RATED, M.LOCAL, "centre", _pick("临时居民身份证办理", "居民身份证挂失申报", promised=False), last=25,
         variant="instant"),
    Case(1, S.RATED, M.ONLINE, "online", _pick("医保电子凭证申领", "城乡居民基本医疗保险参保登记", online=True,
                                               promised=False), last=18, variant="instant"),
    Case(2, S.RATED, M.PROXY, "centre", _pick("出生公证", "学历、学位公证", area=CROSS), BJ, last=30, delivery=D.POST),
    Case(3, S.RATED, M.LOCAL, "JZ02", _pick("社会保障卡补领、换领", "社会保障卡启用", promised=False), last=40,
         variant="instant"),
    Case(4, S.RATED, M.ONLINE, "online", _pick("个体工商户设立登记", online=True), last=35, delivery=D.ONLINE),
    Case(0, S.RATED, M.PROXY, "centre", _pick("住房公积金提取（退休）", "提前还清住房公积金贷款", area=CROSS), HZ,
         last=28, delivery=D.ONLINE),
    Case(3, S.RATED, M.JOINT, "centre", _pick("职工基本养老保险关系转移接续", area=CROSS), SZ, last=50,
         delivery=D.POST),
    Case(1, S.RATED, M.LOCAL, "centre", _pick("结婚登记"), last=45, variant="instant"),
)


# ---------------------------------------------------------------- working days

def _is_workday(calendar: Calendar, day: date) -> bool:
    try:
        return calendar.is_workday(day)
    except CalendarYearMissing:
        # Only for laying the demo's dates out; deadlines themselves are never guessed.
        return day.weekday() < 5


def shift_workdays(calendar: Calendar, day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (before it for a negative ``n``); ``day`` itself for 0."""
    step = 1 if n > 0 else -1
    for _ in range(abs(n)):
        day += timedelta(days=step)
        while not _is_workday(calendar, day):
            day += timedelta(days=step)
    return day


def _gap(action: Action, case: Case, days: int, before: Action) -> int:
    """Working days between the previous event and ``action``, at the usual pace."""
    instant = days == 0
    if action == Action.ACCEPT:
        if instant or (case.at == "centre" and case.handled_in is None):
            return 0  # 当场受理 at the hall's window
        return 2 if case.handled_in else 1  # the materials travel first
    if action == Action.REQUEST_SUPPLEMENT:
        return 0 if before == Action.RECEIVE and case.mode != Mode.ONLINE else (1 if before == Action.RECEIVE else 3)
    if action == Action.REFUSE:
        return 5 if before == Action.REQUEST_SUPPLEMENT else 1  # 补正期限 5 个工作日
    if action == Action.CONCLUDE:
        return 0 if instant else max(1, days - 3)
    if action == Action.DELIVER:
        return {Delivery.WINDOW: 2, Delivery.POST: 3, Delivery.ONLINE: 0}[case.delivery]
    return {Action.SUPPLEMENT: 2, Action.START: 0 if instant else 1, Action.SUSPEND: 3, Action.RESUME: 6,
            Action.RATE: 0 if instant else 1}[action]


def _days_of(case: Case, actions: list[Action], promised: int, calendar: Calendar, today: date) -> list[date]:
    """The China dates of the events (接件 first), laid out on working days."""
    gaps = [0] + [_gap(action, case, promised, actions[i]) for i, action in enumerate(actions[1:])]
    days: list[date] = [today] * len(actions)
    if case.due is not None and Action.ACCEPT in actions:
        anchor = actions.index(Action.ACCEPT)
        target = shift_workdays(calendar, today, case.due)
        days[anchor] = min(today, shift_workdays(calendar, target, -promised))
    else:
        anchor = len(actions) - 1
        days[anchor] = shift_workdays(calendar, today, -case.last)
    for i in range(anchor - 1, -1, -1):
        days[i] = shift_workdays(calendar, days[i + 1], -gaps[i + 1])
    for i in range(anchor + 1, len(actions)):
        days[i] = min(today, shift_workdays(calendar, days[i - 1], gaps[i]))
    return days


def _moments(days: list[date], online: bool, rng: random.Random, now: datetime) -> list[datetime]:
    """Times in office hours (an online application may come in at any time of the evening),
    in order, none after ``now``."""
    moments: list[datetime] = []
    for i, day in enumerate(days):
        minute = rng.randint(8 * 60, 22 * 60) if i == 0 and online else rng.randint(9 * 60, 16 * 60 + 30)
        moment = datetime.combine(day, time(minute // 60, minute % 60), CHINA)
        if moments and moment <= moments[-1]:
            moment = moments[-1] + timedelta(minutes=rng.randint(8, 45))
        moments.append(moment)
    latest = now - timedelta(minutes=1)
    for i in range(len(moments) - 1, -1, -1):
        moments[i] = min(moments[i], latest)
        latest = moments[i] - timedelta(minutes=1)
    return [moment.astimezone(now.tzinfo) for moment in moments]


# ---------------------------------------------------------------- words

SPECIAL_REASONS = (  # by department, when the item's own 特别程序 text names no clock stop
    ("公安", "需向原户籍地公安机关发函核实户籍信息，核实时间不计入办理时限"),
    ("民政", "需入户调查和家庭经济状况核对，调查核对时间不计入办理时限"),
    ("人力资源", "需向原参保地经办机构核实缴费记录，核实时间不计入办理时限"),
    ("医疗保障", "需向原参保地医保经办机构核实参保信息，核实时间不计入办理时限"),
    ("卫生健康", "需组织医学鉴定，鉴定时间不计入办理时限"),
    ("残疾人", "需进行残疾评定，评定时间不计入办理时限"),
    ("司法", "需向出具证明的单位核实材料，核实时间不计入办理时限"),
)
RATINGS = ("非常满意", "非常满意", "满意", "非常满意", "基本满意")


def _waybill(rng: random.Random) -> str:
    return "11" + "".join(str(rng.randint(0, 9)) for _ in range(11))  # EMS domestic: 13 characters


@dataclass
class Story:
    """What one case's events say, and who says it."""

    case: Case
    item: Mapping[str, Any]
    detail: Any
    counter: Counter
    handling_org: str
    rng: random.Random

    @property
    def city(self) -> str:
        return ELSEWHERE[self.case.handled_in].city if self.case.handled_in else ""

    def missing(self) -> tuple[str, ...]:
        materials = [m for m in (self.detail.materials or []) if m.get("name")]
        needed = [m["name"] for m in materials if m.get("necessity") == "必要"]
        pool = needed or [m["name"] for m in materials] or ["申请人居民身份证复印件"]
        return tuple(self.rng.sample(pool, k=min(len(pool), self.rng.choice((1, 1, 2)))))

    def special_reason(self) -> str:
        for clause in re.split(r"[；。;]", self.detail.special_procedure or ""):
            if "不计入" in clause:
                return f"依法启动特别程序：{clause.strip()}"
        for word, reason in SPECIAL_REASONS:
            if word in self.item["dept_name"]:
                return reason
        return "需组织现场核查，核查时间不计入办理时限"

    def grounds(self) -> str:
        """Why the application was refused or denied: the case's own words when the item is
        the one it names, else the item's first 受理条件 the applicant did not meet."""
        if self.case.reason and any(word in self.item["task_name"] for word in self.case.pick.words):
            return self.case.reason
        text = re.split(r"[。；;：:\n]", re.sub(r"^\d+[.、．]\s*", "", self.detail.accept_condition or ""))[0]
        return f"不符合受理条件：{text[:60]}" if text else "申请人不符合该事项的受理条件"

    def receive_note(self, materials: int) -> str:
        kind, org = self.counter.kind, self.counter.org
        if kind == "online":
            return "申请人通过“赣服通”在线提交申请，已完成人脸识别实名认证"
        if self.case.mode == Mode.PROXY:
            return (f"跨省通办专窗收件：已完成形式审查和身份核验，电子材料已推送{self.handling_org}，"
                    f"纸质原件经 EMS 寄递")
        if self.case.mode == Mode.JOINT:
            return f"江州、{self.city}两地联办：本地收件，材料已同步推送{self.handling_org}"
        if kind == "centre":
            return f"{self.rng.randint(3, 28)}号窗口收件，已核验申请人身份证原件，收取材料 {materials} 份"
        if kind == "post_office":
            return f"{org}（政务服务+邮政）帮办代办收件，已核验身份，材料由邮政寄递至{self.handling_org}"
        return f"{org}帮办代办点收件，已核验身份，材料已扫描上传{self.handling_org}"

    def event(self, action: Action, moment: datetime, step: int) -> tuple[services.NewEvent, str]:
        """The event and who acted (as residents read it)."""
        case, handling, counter = self.case, self.handling_org, self.counter.org
        fields: dict[str, Any] = {}
        actor = handling
        if action == Action.ACCEPT:
            note = {Mode.ONLINE: "网上预审通过，材料齐全、符合法定形式，予以受理",
                    Mode.PROXY: f"{handling}已收到专窗转来的材料，审核后予以受理",
                    Mode.JOINT: "两地联合审核，材料齐全，予以受理"}.get(case.mode, "材料齐全、符合法定形式，予以受理")
        elif action == Action.REFUSE:
            if case.variant == "late":
                fields["reason"] = "补正期限届满，申请人未补齐材料"
                note = "一次性告知的补正期限（5 个工作日）已届满，申请人未补齐材料，决定不予受理，可补齐后重新申请"
            else:
                fields["reason"] = self.grounds()
                note = "经审查不符合受理条件，已出具《不予受理通知书》并告知申请人"
        elif action == Action.REQUEST_SUPPLEMENT:
            fields["missing"] = missing = self.missing()
            if step == 1:
                actor = handling if case.mode in (Mode.PROXY, Mode.JOINT) else counter
                note = f"一次性告知：请补齐{'、'.join(missing)}，补齐后{'在线补传' if case.mode == Mode.ONLINE else '交窗口'}即可"
            else:
                note = f"审核意见：{missing[0]}与系统登记信息不一致，请补交；补正期间暂停计时"
        elif action == Action.SUPPLEMENT:
            actor = counter
            note = "申请人已在线补传材料" if case.mode == Mode.ONLINE else "申请人已按一次性告知补齐材料"
        elif action == Action.START:
            note = self.rng.choice(("已分派经办人，进入审查环节", "审核意见：材料审查通过，进入审批环节",
                                    "已进入审批环节，经办人已核对原件"))
        elif action == Action.SUSPEND:
            fields["reason"] = self.special_reason()
            note = "特别程序期间暂停计时，结束后恢复计时并短信告知"
        elif action == Action.RESUME:
            note = "特别程序已结束，恢复计时"
        elif action == Action.CONCLUDE:
            fields["outcome"] = case.outcome
            if case.outcome == Outcome.DENIED:
                fields["reason"] = self.grounds()
                note = ("经审查决定不予批准，已送达《不予许可决定书》。如不服，可自收到之日起六十日内申请行政复议，"
                        "或六个月内提起行政诉讼")
            elif case.handled_in:
                way = {Delivery.POST: "经 EMS 寄回", Delivery.ONLINE: "网络送达"}.get(case.delivery, "寄回收件窗口")
                note = f"{handling}审批通过，准予办理；结果将{way}"
            else:
                note = "审批通过，准予办理" + ("，当场办结" if (self.item["promise_day"] or 0) == 0 else "")
        elif action == Action.DELIVER:
            fields["delivery"] = case.delivery
            if case.delivery == Delivery.POST:
                waybill = _waybill(self.rng)
                fields["extra"] = {"waybill": waybill}
                note = f"EMS 邮寄送达，运单号 {waybill}，已妥投（本人签收）"
            elif case.delivery == Delivery.ONLINE:
                note = "结果已推送至“赣服通”我的证照，电子证照与纸质证照具有同等效力"
            else:
                actor = counter
                note = f"申请人本人持身份证到{counter}领取，已签收"
        elif action == Action.RATE:
            actor = counter
            rating = self.rng.choice(RATINGS)
            channel = {Mode.ONLINE: "赣服通", Mode.PROXY: "短信评价", Mode.JOINT: "短信评价"}.get(
                case.mode, "窗口评价器" if self.counter.kind == "centre" else "政务服务自助终端")
            fields["extra"] = {"rating": rating, "channel": channel}
            note = f"好差评：{rating}（{channel}）"
        else:
            raise ValueError(f"no words for {action}")  # every action of PATHS has its branch above
        return services.NewEvent(action=action, occurred_at=moment, note=note, **fields), actor


# ---------------------------------------------------------------- loading

def _number(case: Case, counter: Counter, received: date, rng: random.Random) -> str:
    """An opaque number in the style of the platform that registered it."""
    stamp = received.strftime("%Y%m%d")
    if case.mode == Mode.ONLINE:
        return f"GFT{stamp}{rng.randint(1, 999_999):06d}"
    if case.handled_in:
        return f"KS{counter.region}{stamp}{rng.randint(1, 9_999):04d}"
    return f"JX{counter.region}{stamp}{rng.randint(1, 9_999):04d}"


def _resident_hashes(people: tuple[Claims, ...]) -> dict[str, Claims]:
    keys = residents.data_keys()
    return {residents.keyed_hash("id", residents.normalize_id_number(p.id_number), keys=keys): p
            for p in people if p.id_number}


def already_loaded(session: Session) -> bool:
    """Whether any demo resident has an application (the demo's, or one a tester sent)."""
    hashes = list(_resident_hashes(demo_residents()))
    return session.scalar(sa.select(Application.id).where(Application.applicant_id_hash.in_(hashes)).limit(1)) \
        is not None


def waiting_for_calendar(session: Session) -> dict[int, int]:
    """How many demo applications wait for each calendar year without data (期限待定)."""
    hashes = list(_resident_hashes(demo_residents()))
    rows = session.execute(sa.select(Application.deadline_missing_year, sa.func.count())
                           .where(Application.applicant_id_hash.in_(hashes),
                                  Application.deadline_missing_year.is_not(None))
                           .group_by(Application.deadline_missing_year))
    return dict(rows.all())


def load_demo_applications(session: Session, *, now: Callable[[], datetime] = utcnow,
                           calendar: Calendar | None = None) -> int:
    """Create the demo applications (once; flushes, the caller commits). Returns how many
    were created: 0 when they (or any application of a demo resident) exist already, or when
    the catalog has no items for natural persons.

    Raises what services.create_application / apply_event raise; the demo's data is meant
    never to make them.
    """
    if already_loaded(session):
        return 0
    items = Items(session)
    if not items.rows:
        return 0
    people = demo_residents()
    calendar = calendar or calendar_store.calendar(session)
    moment = now()
    today = china_day(moment)
    counters = _counters()
    taken: set[str] = set()
    created = 0
    for index, case in enumerate(CASES):
        rng = random.Random(f"kiosk-demo-{index}")
        row = items.pick(case.pick)
        if row is None:
            continue
        detail = items.detail(row["task_code"])
        counter = counters["cross" if case.handled_in and case.at == "centre" else case.at]
        handling_org = ELSEWHERE[case.handled_in].office_for(row["dept_name"], row["task_name"]) \
            if case.handled_in else row["dept_name"]
        handling_region = case.handled_in or _city_region()
        story = Story(case, row, detail, counter, handling_org, rng)
        actions = [Action.RECEIVE, *case.path]
        promised = row["promise_day"] or 0
        moments = _moments(_days_of(case, actions, promised, calendar, today), case.mode == Mode.ONLINE, rng, moment)
        number = _number(case, counter, china_day(moments[0]), rng)
        while number in taken:
            number = _number(case, counter, china_day(moments[0]), rng)
        taken.add(number)
        person = people[case.resident % len(people)]
        data = services.NewApplication(
            number=number, task_code=row["task_code"], item_name=row["task_name"], mode=case.mode,
            applicant=services.Applicant(name=person.name, id_number=person.id_number, phone=person.phone),
            receiving_org=counter.org, receiving_region=counter.region, handling_org=handling_org,
            handling_region=handling_region, received_at=moments[0],
            note=story.receive_note(len(detail.materials or []) or rng.randint(1, 3)))
        application, fresh = services.create_application(session, data, actor=ACTOR, actor_name=counter.org, now=now)
        if not fresh:
            continue
        for step, (action, at) in enumerate(zip(actions[1:], moments[1:]), start=1):
            event, actor_name = story.event(action, at, step)
            # History made up after the fact: no SMS for it (the demo's worker would "send"
            # a hundred texts at start-up).
            services.apply_event(session, application.number, event, actor=ACTOR, actor_name=actor_name, now=now,
                                 calendar=calendar, notify=False)
        created += 1
    return created


# ---------------------------------------------------------------- trying it

@dataclass(frozen=True)
class Example:
    """A demo application to look up: its number and the applicant's second factors."""

    number: str
    state: str
    item_name: str
    cross_province: bool
    resident: str
    id_tail: str
    phone_tail: str
    deadline: dict[str, Any]


def examples(session: Session, *, now: Callable[[], datetime] = utcnow, calendar: Calendar | None = None,
             limit: int = 4) -> list[Example]:
    """A few demo applications worth looking up (待补正 with its missing materials, a 跨省通办
    one being handled elsewhere, one in 特别程序, one delivered), newest first."""
    people = _resident_hashes(demo_residents())
    found = list(session.scalars(sa.select(Application).where(Application.applicant_id_hash.in_(list(people)))
                                 .order_by(Application.received_at.desc(), Application.id.desc())))
    wanted: list[Callable[[Application], bool]] = [
        lambda a: a.state == State.SUPPLEMENT_REQUESTED,
        lambda a: a.state == State.IN_PROGRESS and a.receiving_region[:2] != a.handling_region[:2],
        lambda a: a.state == State.SPECIAL_PROCEDURE,
        lambda a: a.state == State.DELIVERED,
        lambda a: a.state == State.IN_PROGRESS,
    ]
    calendar = calendar or calendar_store.calendar(session)
    today = china_day(now())
    chosen: list[Application] = []
    for test in wanted:
        match = next((a for a in found if test(a) and a not in chosen), None)
        if match is not None and len(chosen) < limit:
            chosen.append(match)
    result = []
    for application in chosen:
        person = people[application.applicant_id_hash]
        result.append(Example(
            number=application.number, state=application.state, item_name=application.item_name,
            cross_province=application.receiving_region[:2] != application.handling_region[:2],
            resident=person.name, id_tail=(person.id_number or "")[-4:], phone_tail=(person.phone or "")[-4:],
            deadline=progress.deadline_view(application, calendar=calendar, today=today)))
    return result
