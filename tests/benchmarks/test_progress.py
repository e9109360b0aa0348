"""`kiosk bench progress` runs end to end on a small database and prints its figures
(speed itself is measured by running the benchmark, never asserted here)."""
from __future__ import annotations

import re

from kiosk_backend.benchmarks.progress import run_progress_benchmark
from tests.conftest import PG_URL


def test_the_progress_benchmark_builds_a_small_database_and_prints_every_figure():
    lines: list[str] = []
    results = run_progress_benchmark([200], 40, echo=lines.append, database_url=PG_URL)
    out = "\n".join(lines)
    dialect = "postgresql" if PG_URL else "sqlite"
    assert re.search(r"built 200 applications and \d+ timeline events", out)
    for what in ("lookup", "lookup, wrong last 4", "lookup, unknown number", "my applications",
                 "my applications \\+ views", "progress view", "lookup \\+ view"):
        assert re.search(rf"^{what} p95 [\d.]+ ms, p50 [\d.]+ ms, p99 [\d.]+ ms \(n=40, applications=200, {dialect}",
                         out, re.MULTILINE), what
    # The mini-app's lookup without login answers 200 for the right last 4 and one 404 for both others.
    for what, status in (("http lookup", 200), ("http lookup, wrong last 4", 404), ("http lookup, unknown number", 404)):
        assert re.search(rf"^{what} p95 [\d.]+ ms, .*POST /api/v1/application-lookup, .*statuses \{{{status}: 40\}}\)$",
                         out, re.MULTILINE), what
    assert re.search(r"plan lookup: .*(USING INDEX sqlite_autoindex_applications_application_1|Index Scan using uq_applications_application_number)",
                     out)
    assert "budget: progress lookup p95 ≤ 50 ms in-process with 100,000 applications" in out
    assert results[0]["applications"] == 200 and results[0]["lookup"]["p50"] > 0


def test_kiosk_bench_progress_is_a_command(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kiosk_backend.cli import main

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "progress", "--help"])
    assert result.exit_code == 0 and "--count" in result.output and "--database-url" in result.output
