"""Progress lookups with many applications (``kiosk bench progress``). PERFORMANCE.md's
budget: progress lookup p95 ≤ 50 ms in-process with 100,000 applications.

A scratch database (a temporary SQLite file, or a fresh schema in the PostgreSQL database
named by --database-url / KIOSK_BENCH_DATABASE_URL, dropped afterwards) is migrated to head
and gets the demo catalog and N applications with about four timeline events each. They
are written with bulk INSERTs (through the ORM one by one, 100,000 would take the better
part of an hour), but their personal columns are the real ones: keyed hashes of the ID
numbers (identity's residents.keyed_hash), second-factor digests bound to each number
(applications.services.tail_digest), encrypted phones; so a lookup does exactly the work
it does in production. Their states, clocks and deadlines follow the same transitions and
working-day calendar as services.apply_event. One applicant has 10 applications.

Measured in-process, each call in a fresh session (as a request has), n calls each:

- lookup with the right last 4 (services.lookup: two digests, the row, then the
  application with its timeline), with a wrong last 4, and with an unknown number (the
  last two must answer alike, in the same time);
- my applications of the applicant with 10 (services.for_resident), alone and with the
  list's views;
- the progress view of a looked-up application (progress.view, timeline included), and
  lookup + view together (what the kiosk page does);
- the mini-app's lookup without login (POST /api/v1/application-lookup) through Flask's test
  client, the three kinds again, if the build has the route.

The query plans of the lookup, my-applications and timeline queries are printed with them.
"""
from __future__ import annotations

import logging
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import sqlalchemy as sa

from . import scratch_app

BUDGET_MS = 50.0
BUDGET_COUNT = 100_000
BUSY = 10  # applications of the applicant whose list is measured
CHUNK = 5_000
# How the applications are spread over the states (a year's mix: most are finished).
STATE_WEIGHTS = {"received": 3, "accepted": 4, "not_accepted": 3, "supplement_requested": 4, "supplemented": 2,
                 "in_progress": 14, "special_procedure": 2, "concluded": 8, "delivered": 25, "rated": 35}
REGIONS = ("360403", "360402", "360426", "110105", "440524", "330106", "440304", "360102")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高欧阳"
GIVEN = "秀英志强小明娜建华伟芳敏静丽军磊洋勇艳杰涛超明霞平刚桂"
NOTES = {
    "receive": "窗口收件，已核验申请人身份证原件", "accept": "材料齐全、符合法定形式，予以受理",
    "refuse": "经审查不符合受理条件，已出具《不予受理通知书》", "request_supplement": "一次性告知：请补齐所缺材料",
    "supplement": "申请人已按一次性告知补齐材料", "start": "已分派经办人，进入审查环节",
    "suspend": "特别程序期间暂停计时", "resume": "特别程序已结束，恢复计时", "conclude": "审批通过，准予办理",
    "deliver": "结果已送达", "rate": "好差评：非常满意",
}


# ---------------------------------------------------------------- numbers

def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(samples), "p95": _percentile(samples, 95), "p99": _percentile(samples, 99)}


def _ms(seconds: float) -> float:
    return seconds * 1000


# ---------------------------------------------------------------- people

def _id_number(rng: random.Random) -> str:
    from stdnum.cn import ric

    born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 65 * 365))
    first = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first + ric.calc_check_digit(first)


class Applicant:
    __slots__ = ("id_number", "phone", "fields")

    def __init__(self, rng: random.Random, keys) -> None:
        from ..identity import residents

        self.id_number = _id_number(rng)
        self.phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        self.fields = {
            "applicant_name_masked": residents.mask_name(name),
            "applicant_id_hash": residents.keyed_hash("id", self.id_number, keys=keys),
            "applicant_id_masked": residents.mask_id_number(self.id_number),
            "applicant_phone_masked": residents.mask_phone(self.phone),
        }


# ---------------------------------------------------------------- filling

class Filler:
    """Rows for N applications and their events, consistent with the services' rules."""

    def __init__(self, db, count: int, *, now: datetime, seed: int = 2260):
        from ..applications import demo
        from ..core import calendar_store
        from ..identity import residents

        self.db, self.count, self.now = db, count, now
        self.rng = random.Random(seed)
        self.keys = residents.data_keys()
        self.calendar = calendar_store.calendar(db.session)
        self.paths = {state: [key for key in demo.PATHS if key.split("/")[0] == state] for state in STATE_WEIGHTS}
        self.items = self._items()
        self._deadlines: dict[tuple, tuple[date | None, int | None]] = {}
        # The applicants: one with BUSY applications (the first BUSY), then about three each.
        self.people = [Applicant(self.rng, self.keys) for _ in range(1 + max(1, (count - BUSY) // 3))]
        self.owner = [0] * min(BUSY, count) + [1 + self.rng.randrange(len(self.people) - 1)
                                               for _ in range(max(0, count - BUSY))]
        self.numbers: list[str] = []
        self.events = 0

    def _items(self) -> list[dict[str, Any]]:
        from ..catalog.models import Department, Item

        rows = self.db.session.execute(sa.select(Item.id, Item.task_code, Item.task_name, Item.promise_day,
                                                 Item.promise_type, Department.name.label("dept"))
                                       .join(Department, Item.department_id == Department.id)
                                       .where(Item.for_natural)).mappings().all()
        return [dict(row) for row in rows]

    def _deadline(self, accepted_on: date, days: int, unit: str, pauses: list[dict]) -> tuple[date | None, int | None]:
        from ..applications import deadlines
        from ..core.workdays import CalendarYearMissing

        key = (accepted_on, days, unit, tuple((p["start"], p["end"]) for p in pauses))
        if key not in self._deadlines:
            try:
                self._deadlines[key] = (deadlines.deadline(self.calendar, accepted_on, days, unit,
                                                           deadlines.pauses_from(pauses)), None)
            except CalendarYearMissing as exc:
                self._deadlines[key] = (None, exc.year)
        return self._deadlines[key]

    def rows(self, start: int, stop: int) -> tuple[list[dict], list[dict]]:
        from ..applications import deadlines, demo, services, states
        from ..applications.states import Action, State
        from ..identity import residents

        rng, now = self.rng, self.now
        apps, events = [], []
        state_names, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
        for i in range(start, stop):
            person = self.people[self.owner[i]]
            item = self.items[rng.randrange(len(self.items))]
            days, unit = item["promise_day"] or 0, item["promise_type"] or deadlines.WORKING_DAYS
            path = demo.PATHS[rng.choice(self.paths[rng.choices(state_names, weights)[0]])]
            received = now - timedelta(days=rng.uniform(0.05, 300))
            received = datetime.combine(deadlines.china_day(received),
                                        clock_time(9 + rng.randrange(8), rng.randrange(60)), deadlines.CHINA)
            received = min(received, now - timedelta(hours=1)).astimezone(UTC)
            number = f"JX360403{deadlines.china_day(received):%Y%m%d}{i:06d}"
            self.numbers.append(number)
            moments = [received]
            for _ in path:
                moments.append(min(now, moments[-1] + timedelta(hours=rng.choice((1, 3, 20, 26, 70)))))
            state, accepted_on, paused_since, pauses = State.RECEIVED, None, None, []
            values: dict[str, Any] = {"missing": [], "outcome": None, "delivery": None, "finished_at": None}
            app_id = i + 1
            events.append(self._event(app_id, 1, Action.RECEIVE, None, State.RECEIVED, received, item, {}))
            for seq, (action, moment) in enumerate(zip(path, moments[1:]), start=2):
                new = states.target_of(state, action)
                day = deadlines.china_day(moment)
                details: dict[str, Any] = {}
                if action == Action.ACCEPT and accepted_on is None:
                    accepted_on = day
                if accepted_on is not None:
                    if new in states.PAUSED and paused_since is None:
                        paused_since = day
                    elif new not in states.PAUSED and state in states.PAUSED and paused_since is not None:
                        kind = "special_procedure" if state == State.SPECIAL_PROCEDURE else "supplement"
                        pauses.append(deadlines.pause_record(paused_since, max(day, paused_since), kind))
                        paused_since = None
                requirement = states.requirement(action)
                if requirement == "missing":
                    values["missing"] = details["missing"] = ["居民户口簿原件"]
                elif new != State.SUPPLEMENT_REQUESTED:
                    values["missing"] = []
                if requirement == "reason":
                    details["reason"] = "不符合受理条件" if action == Action.REFUSE else "需现场核查"
                if requirement == "outcome":
                    values["outcome"] = details["outcome"] = rng.choice(("approved",) * 9 + ("denied",))
                if requirement == "delivery":
                    values["delivery"] = details["delivery"] = rng.choice(("window", "post", "online"))
                if new in states.FINISHED and values["finished_at"] is None:
                    values["finished_at"] = moment
                events.append(self._event(app_id, seq, action, state, new, moment, item, details))
                state = new
            deadline, missing_year = (self._deadline(accepted_on, days, unit, pauses) if accepted_on
                                      else (None, None))
            apps.append({
                "id": app_id, "number": number, "item_id": item["id"], "task_code": item["task_code"],
                "item_name": item["task_name"], "mode": rng.choice(("local", "local", "online", "proxy", "joint")),
                **person.fields,
                "applicant_phone_encrypted": residents.encrypt_phone(person.phone, keys=self.keys),
                "id_tail_digest": services.tail_digest(number, person.id_number[-4:], keys=self.keys),
                "phone_tail_digest": services.tail_digest(number, person.phone[-4:], keys=self.keys),
                "receiving_org": "江州市政务服务中心", "receiving_region": "360403",
                "handling_org": item["dept"], "handling_region": "360400",
                "state": str(state), "promise_days": days, "promise_unit": unit, "received_at": received,
                "accepted_on": accepted_on, "pauses": pauses, "paused_since": paused_since, "deadline": deadline,
                "deadline_missing_year": missing_year, "last_event_at": moments[-1], "version": len(moments),
                "client_id": None, "created_at": received, "updated_at": moments[-1], **values,
            })
        self.events += len(events)
        return apps, events

    def _event(self, app_id: int, seq: int, action, old, new, moment: datetime, item: dict, details: dict) -> dict:
        return {"application_id": app_id, "seq": seq, "action": str(action), "from_state": str(old) if old else None,
                "to_state": str(new), "actor": "department:bench", "actor_name": item["dept"],
                "note": NOTES[str(action)], "details": details, "occurred_at": moment, "recorded_at": moment,
                "client_id": None, "event_id": None}

    def fill(self) -> None:
        from ..applications.models import Application, ApplicationEvent

        session = self.db.session
        for start in range(0, self.count, CHUNK):
            apps, events = self.rows(start, min(self.count, start + CHUNK))
            session.execute(sa.insert(Application.__table__), apps)
            session.execute(sa.insert(ApplicationEvent.__table__), events)
        if self.db.engine.dialect.name == "postgresql":
            # The ids were given explicitly: move the sequence past them.
            session.execute(sa.text("SELECT setval(pg_get_serial_sequence('applications_application', 'id'), "
                                    "(SELECT max(id) FROM applications_application))"))
        session.commit()
        with self.db.engine.begin() as conn:  # statistics, as autovacuum / a periodic ANALYZE keep them
            conn.execute(sa.text("ANALYZE"))


# ---------------------------------------------------------------- measuring

def _timed(session, calls: Iterable, call: Callable) -> list[float]:
    samples = []
    for args in calls:
        started = time.perf_counter()
        call(*args)
        samples.append(_ms(time.perf_counter() - started))
        session.close()  # the next call starts afresh, as the next request does
    return samples


def _plans(db, number: str, owner_hash: str) -> list[str]:
    postgres = db.engine.dialect.name == "postgresql"
    explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    queries = {
        "lookup": ("SELECT id, id_tail_digest, phone_tail_digest FROM applications_application WHERE number = :v",
                   number),
        "my applications": ("SELECT * FROM applications_application WHERE applicant_id_hash = :v "
                            "ORDER BY received_at DESC, id DESC LIMIT 50", owner_hash),
        "timeline": ("SELECT * FROM applications_event WHERE application_id IN (:v) ORDER BY seq", 1),
    }
    lines = []
    with db.engine.connect() as conn:
        for name, (sql, value) in queries.items():
            rows = [str(row[0] if postgres else row[-1]).strip() for row in conn.execute(sa.text(explain + sql),
                                                                                         {"v": value})]
            # The steps that say how rows are found and ordered, without PostgreSQL's cost figures.
            steps = [re.sub(r"\s+\(cost=.*?\)", "", step) for step in rows
                     if not postgres or re.search(r"Scan|Sort Key|Index Cond", step)]
            text = " | ".join(steps[:4])
            lines.append(f"    plan {name}: {text}")
    return lines


def _line(what: str, stats: dict[str, float], detail: str) -> str:
    return f"{what} p95 {stats['p95']:.2f} ms, p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms ({detail})"


LOOKUP_ENDPOINT = "applications_api.lookup"  # the mini-app's lookup without login (applications/api.py)


def _http_lookups(app, kinds: dict[str, tuple[list[tuple[str, str]], bool]]) -> tuple[str, dict] | None:
    """The mini-app's lookup without login through Flask's test client, the three kinds taking
    turns as in-process; None when the build has no such route."""
    paths = [rule.rule for rule in app.url_map.iter_rules()
             if rule.endpoint == LOOKUP_ENDPOINT and "POST" in (rule.methods or ())]
    if not paths:
        return None
    for name in ("KIOSK_RATELIMIT_LOOKUP_KIOSK", "KIOSK_RATELIMIT_LOOKUP_IP", "KIOSK_RATELIMIT_LOOKUP_NUMBER"):
        app.config[name] = "1000000 per minute"  # one load generator is one IP asking for everyone
    client = app.test_client()
    found: dict[str, tuple[list[float], dict[int, int]]] = {kind: ([], {}) for kind in kinds}
    order = list(kinds)
    for i in range(len(kinds[order[0]][0])):
        for kind in order[i % len(order):] + order[:i % len(order)]:
            number, tail = kinds[kind][0][i]
            samples, statuses = found[kind]
            started = time.perf_counter()
            response = client.post(paths[0], json={"number": number, "tail": tail})
            response.get_data()
            samples.append(_ms(time.perf_counter() - started))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            response.close()
    return paths[0], found


def run_progress_benchmark(counts: list[int], lookups: int = 2000, *, echo: Callable[[str], None] = print,
                           database_url: str | None = None) -> list[dict]:
    from ..catalog import services as catalog

    dialect = "postgresql" if database_url else "sqlite"
    echo(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
         f"{os.cpu_count() or 1} cores, load {os.getloadavg()[0]:.1f}; database: {dialect}")
    results = []
    for count in counts:
        # Quiet while the scratch database is migrated (alembic's env.py sets its own log levels).
        logging.disable(logging.INFO)
        with scratch_app(database_url) as (app, db):
            logging.disable(logging.NOTSET)
            catalog.load_demo_catalog(db.session)
            db.session.commit()
            results.append(_measure(app, db, count, lookups, dialect, echo))
    return results


def _measure(app, db, count: int, lookups: int, dialect: str, echo: Callable[[str], None]) -> dict:
    from ..applications import progress, services
    from ..applications.deadlines import china_day
    from ..core import calendar_store
    from ..core.clock import utcnow
    from ..identity.models import Resident

    now = utcnow()
    filler = Filler(db, count, now=now)
    started = time.perf_counter()
    filler.fill()
    echo(f"built {count} applications and {filler.events} timeline events in "
         f"{time.perf_counter() - started:.1f} s (bulk INSERT; digests by services.tail_digest)")
    n = min(lookups, count)
    rng = random.Random(7)
    picked = rng.sample(range(count), n)
    right, wrong = [], []
    for i in picked:
        person = filler.people[filler.owner[i]]
        right.append((filler.numbers[i], (person.id_number if i % 2 else person.phone)[-4:]))
        tail = person.id_number[-4:]
        while tail in (person.id_number[-4:], person.phone[-4:]):
            tail = f"{rng.randrange(10_000):04d}"
        wrong.append((filler.numbers[i], tail))
    # Numbers of the same shape that nobody has.
    unknown = [(f"JX360403{china_day(now):%Y%m%d}{count + k:06d}", tail) for k, (_number, tail) in enumerate(right)]

    def lookup(number: str, tail: str, expect: bool) -> None:
        try:
            services.lookup(db.session, number, tail)
            found = True
        except services.ApplicationNotFound:
            found = False
        if found != expect:
            raise AssertionError(f"lookup of {number} answered {'found' if found else 'not found'}")

    size = f"n={n}, applications={count}, {dialect}"
    row: dict[str, Any] = {"applications": count, "database": dialect}
    # The three kinds take turns (in a rotating order), so that the machine's ups and downs
    # fall on all three alike and their ratio means something.
    kinds = {"lookup": (right, True), "wrong": (wrong, False), "unknown": (unknown, False)}
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    order = list(kinds)
    for i in range(n):
        for kind in order[i % 3:] + order[:i % 3]:
            pairs, expect = kinds[kind]
            samples[kind] += _timed(db.session, [(*pairs[i], expect)], lookup)
    for kind in kinds:
        row[kind] = _stats(samples[kind])
    echo(_line("lookup", row["lookup"], f"{size}; right last 4, application and timeline loaded"))
    echo(_line("lookup, wrong last 4", row["wrong"], size))
    echo(_line("lookup, unknown number", row["unknown"], size))
    echo(f"    wrong last 4 / unknown number: p50 {row['wrong']['p50'] / row['unknown']['p50']:.2f}, "
         f"p95 {row['wrong']['p95'] / row['unknown']['p95']:.2f} (one answer for both; its time should not tell them apart)")

    owner = Resident(provider="demo", subject="bench", name="王秀英",
                     id_number_hash=filler.people[0].fields["applicant_id_hash"])
    calendar = calendar_store.calendar(db.session)
    today = china_day(now)
    busy = min(BUSY, count)

    def mine(render: bool) -> None:
        found = services.for_resident(db.session, owner)
        if len(found) != busy:
            raise AssertionError(f"my applications: {len(found)} instead of {busy}")
        if render:
            for application in found:
                progress.view(application, calendar=calendar, today=today, timeline=False)

    row["mine"] = _stats(_timed(db.session, ((False,) for _ in range(n)), mine))
    echo(_line("my applications", row["mine"], f"{size}; {busy} applications with timelines"))
    row["mine_views"] = _stats(_timed(db.session, ((True,) for _ in range(n)), mine))
    echo(_line("my applications + views", row["mine_views"], size))

    view_samples, both_samples = [], []
    for number, tail in right:
        started = time.perf_counter()
        application = services.lookup(db.session, number, tail)
        looked = time.perf_counter()
        progress.view(application, calendar=calendar, today=today)
        done = time.perf_counter()
        view_samples.append(_ms(done - looked))
        both_samples.append(_ms(done - started))
        db.session.close()
    row["view"], row["lookup_view"] = _stats(view_samples), _stats(both_samples)
    echo(_line("progress view", row["view"], f"{size}; timeline included"))
    echo(_line("lookup + view", row["lookup_view"], size))

    http = _http_lookups(app, kinds)
    if http is None:
        echo(f"http lookup: skipped (no {LOOKUP_ENDPOINT} route in this build)")
    else:
        path, found = http
        for kind, what in (("lookup", "http lookup"), ("wrong", "http lookup, wrong last 4"),
                           ("unknown", "http lookup, unknown number")):
            samples, statuses = found[kind]
            row[f"http_{kind}"] = _stats(samples)
            echo(_line(what, row[f"http_{kind}"], f"{size}; POST {path}, Flask test client, statuses {statuses}"))
        echo(f"    wrong last 4 / unknown number over HTTP: p50 "
             f"{row['http_wrong']['p50'] / row['http_unknown']['p50']:.2f}, "
             f"p95 {row['http_wrong']['p95'] / row['http_unknown']['p95']:.2f}")

    for line in _plans(db, filler.numbers[picked[0]], filler.people[0].fields["applicant_id_hash"]):
        echo(line)
    p95 = row["lookup"]["p95"]
    scope = "" if count >= BUDGET_COUNT else f" (measured with {count}; the budget is stated for 100,000)"
    verdict = "within budget" if p95 <= BUDGET_MS else "OVER BUDGET"
    echo(f"budget: progress lookup p95 ≤ {BUDGET_MS:.0f} ms in-process with 100,000 applications → "
         f"{p95:.2f} ms, {verdict}{scope}; machine load now {os.getloadavg()[0]:.1f}")
    return row
