"""`kiosk bench courier` runs end to end on a small database and prints its figures (speed
itself is measured by running the benchmark, never asserted here)."""
from __future__ import annotations

import re

from kiosk_backend.benchmarks.courier import run_courier_benchmark
from tests.conftest import PG_URL


def test_the_courier_benchmark_builds_a_small_database_and_prints_every_figure():
    lines: list[str] = []
    results = run_courier_benchmark([300], 24, applications=60, echo=lines.append, database_url=PG_URL)
    out = "\n".join(lines)
    dialect = "postgresql" if PG_URL else "sqlite"
    assert re.search(r"built 60 applications", out)
    assert re.search(r"built 300 bookings and \d{4} tracking events, \d+ pickup slots at 10 sites", out)
    for what in ("tracking lookup", "my bookings \\+ views", "carrier event → booking", "record tracking", "booking"):
        assert re.search(rf"^{what} p95 [\d.]+ ms, p50 [\d.]+ ms, p99 [\d.]+ ms \(n=24, bookings=300, {dialect}",
                         out, re.MULTILINE), what
    assert re.search(r"plan booking by order number: .*(sqlite_autoindex_courier_booking|Index Scan using)", out)
    assert re.search(r"plan my bookings: .*(ix_courier_booking_resident_created)", out)
    assert "budget: booking p95 ≤ 50 ms in-process with 100,000 bookings" in out
    assert "budget: tracking lookup p95 ≤ 50 ms" in out
    assert results[0]["bookings"] == 300 and results[0]["book"]["p50"] > 0


def test_kiosk_bench_courier_is_a_command(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kiosk_backend.cli import main

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "courier", "--help"])
    assert result.exit_code == 0 and "--count" in result.output and "--database-url" in result.output
    assert "--applications" in result.output
