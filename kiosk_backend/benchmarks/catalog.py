"""Benchmarks for catalog search and import (run by ``kiosk bench search|http|import``).

Each size gets a scratch database (a temporary SQLite file, or a fresh schema in the
PostgreSQL database named by KIOSK_BENCH_DATABASE_URL) migrated to head, filled with the
demo catalog plus generated items, then queried in-process through ``services.search``
exactly as the API does (revision check included).
"""
from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable

from ..core.actors import SYSTEM
from . import gunicorn, have_wrk, scratch_app, wrk

QUERY_MIX = {
    "2-char": ["社保", "户口", "医保", "护照", "低保", "驾照", "公积金", "结婚", "退休", "残疾"],
    "4-char": ["身份证补", "户口迁移", "养老保险", "不动产登记", "异地就医", "失业保险", "居住证办", "营业执照"],
    "phrase": ["我想办身份证", "结婚证丢了怎么办", "异地看病怎么备案", "我要迁户口", "怎么提取公积金", "生孩子上户口"],
    "pinyin-initials": ["sfz", "hkqy", "jsz", "gjj", "jzz", "ydjy", "sbk"],
    "full-pinyin": ["shenfenzheng", "hukou", "gongjijin", "huzhao", "jiashizheng", "yibao"],
    "traditional": ["戶口遷移", "護照", "駕駛證", "醫保", "身分證", "結婚登記"],
}


def _fill(db, size: int) -> tuple[int, float]:
    from ..catalog import services
    from ..catalog.generate import generate_items
    from ..catalog.importer import Checked

    demo = services.load_demo_catalog(db.session)
    extra = max(0, size - demo.created)
    started = time.perf_counter()
    if extra:
        rows = list(generate_items(extra))
        checked = services.check_file(json.dumps(rows, ensure_ascii=False).encode(), fmt="json")
        assert not checked.problems, checked.problems[:3]
        services.import_items(db.session, Checked(rows=len(checked.valid), valid=checked.valid), actor=SYSTEM)
    db.session.commit()
    return demo.created + extra, time.perf_counter() - started


def _index_megabytes(db) -> float:
    """Memory a freshly built index keeps alive, measured with tracemalloc."""
    import gc
    import tracemalloc

    from ..catalog import services

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = services.build_index(db.session)
    db.session.expunge_all()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del index
    return (after - before) / 2**20


def _percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_search_benchmark(sizes: list[int], queries: int, *, echo: Callable[[str], None] = print,
                         database_url: str | None = None) -> list[dict]:
    from ..catalog import services

    dialect = "postgresql" if database_url else "sqlite"
    echo(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
         f"{_cpu_count()} cores; database: {dialect}")
    flat = [(kind, q) for kind, qs in QUERY_MIX.items() for q in qs]
    results = []
    for size in sizes:
        with scratch_app(database_url) as (app, db):
            items, fill_s = _fill(db, size)
            started = time.perf_counter()
            services.search(db.session, q="社保")  # builds the index
            build_ms = (time.perf_counter() - started) * 1000
            index = services.search_index(db.session)
            index_mb = _index_megabytes(db)
            echo(f"index of {items} items holds ≈ {index_mb:.0f} MB (tracemalloc, one process)")
            for mode in ("cold", "warm"):
                # cold: the ranking memo is cleared before every query, so each one is scored
                # from scratch; warm: repeated queries come from the memo, as on a busy kiosk.
                per_kind: dict[str, list[float]] = {kind: [] for kind in QUERY_MIX}
                samples = []
                for i in range(queries):
                    kind, q = flat[i % len(flat)]
                    if mode == "cold":
                        index.clear_memo()
                    t0 = time.perf_counter()
                    services.search(db.session, q=q, page_size=20)
                    elapsed = (time.perf_counter() - t0) * 1000
                    samples.append(elapsed)
                    per_kind[kind].append(elapsed)
                row = {"items": items, "mode": mode, "p50": statistics.median(samples),
                       "p95": _percentile(samples, 95), "p99": _percentile(samples, 99), "build_ms": build_ms}
                results.append(row)
                echo(f"search p95 {row['p95']:.2f} ms, p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms "
                     f"(n={queries}, items={items}, {dialect}, {mode}; index build {build_ms:.0f} ms, fill {fill_s:.1f} s)")
                echo("    by kind p95: " + ", ".join(f"{k} {_percentile(v, 95):.2f}" for k, v in per_kind.items() if v))
    return results


def run_import_benchmark(items: int, *, echo: Callable[[str], None] = print, database_url: str | None = None) -> float:
    from ..catalog import services
    from ..catalog.generate import generate_items

    dialect = "postgresql" if database_url else "sqlite"
    data = json.dumps(list(generate_items(items)), ensure_ascii=False).encode()
    with scratch_app(database_url) as (app, db):
        started = time.perf_counter()
        checked = services.check_file(data, fmt="json")
        checked_s = time.perf_counter() - started
        result = services.import_items(db.session, checked, actor=SYSTEM)
        db.session.commit()
        total = time.perf_counter() - started
    echo(f"import {items} items in {total:.1f} s (validate {checked_s:.1f} s, write {total - checked_s:.1f} s; "
         f"created {result.created}, {dialect})")
    return total


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


# ---------------------------------------------------------------- HTTP throughput

def bench_app():
    """WSGI app for the HTTP benchmark: the real app plus a bare JSON "hello" to compare with."""
    from flask import jsonify

    from ..app import create_app

    app = create_app()

    @app.get("/bench/hello")
    def _hello():
        return jsonify(hello="world")

    return app


def _load(port: int, paths: list[str], seconds: float, connections: int) -> tuple[int, int]:
    """Requests completed and errors, from ``connections`` keep-alive clients in threads."""
    import http.client
    import threading
    from urllib.parse import quote

    done, errors = [0] * connections, [0] * connections
    stop_at = time.perf_counter() + seconds

    def client(n: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = n
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            try:
                conn.request("GET", quote(path, safe="/?=&"))
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    done[n] += 1
                else:
                    errors[n] += 1
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done), sum(errors)


def _wrk(port: int, paths: list[str], seconds: float, connections: int) -> tuple[int, int]:
    from urllib.parse import quote

    lua = ("paths = {" + ",".join('"' + quote(p, safe="/?=&") + '"' for p in paths) + "}\n"
           "counter = 0\n"
           "request = function()\n  counter = counter + 1\n"
           "  return wrk.format('GET', paths[(counter % #paths) + 1])\nend\n")
    return wrk(port, lua, seconds, connections)


def run_http_benchmark(items: int, seconds: float, *, workers: int = 2, threads: int = 4, connections: int = 8,
                       echo: Callable[[str], None] = print, database_url: str | None = None) -> dict:

    dialect = "postgresql" if database_url else "sqlite"
    with scratch_app(database_url) as (app, db):
        items, _ = _fill(db, items)
        env = {"KIOSK_DATABASE_URL": db.engine.url.render_as_string(hide_password=False), "KIOSK_SECRET_KEY": "bench",
               "KIOSK_INSTANCE_PATH": app.instance_path}
        with gunicorn("kiosk_backend.benchmarks.catalog:bench_app()", env=env, workers=workers, threads=threads) as port:
            queries = [q for qs in QUERY_MIX.values() for q in qs]
            search_paths = [f"/api/v1/catalog/items?q={q}&page_size=20" for q in queries]
            load = _wrk if have_wrk() else _load
            client = "wrk" if load is _wrk else "python threads (install wrk for a lighter client)"
            load(port, search_paths + ["/bench/hello"], 2, connections)  # warm every worker's index
            hello, hello_err = load(port, ["/bench/hello"], seconds, connections)
            search, search_err = load(port, search_paths, seconds, connections)
    hello_rps, search_rps = hello / seconds, search / seconds
    ratio = search_rps / hello_rps if hello_rps else 0.0
    echo(f"gunicorn {workers} workers × {threads} threads, {connections} keep-alive connections from {client}, "
         f"{seconds:.0f} s each, items={items}, {dialect}")
    echo(f"hello  {hello_rps:8.0f} req/s  (errors {hello_err})")
    echo(f"search {search_rps:8.0f} req/s  (errors {search_err})")
    echo(f"search/hello throughput ratio {ratio:.0%} (budget ≥ 50%)")
    return {"hello_rps": hello_rps, "search_rps": search_rps, "ratio": ratio}


