"""The compute and scrape benchmarks still run (on tiny organisations) and print their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def output(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip().splitlines()


def last_line(*args: str) -> str:
    return output(*args)[-1]


def test_compute_benchmark_prints_its_figures(tmp_path: Path) -> None:
    # --quick: 3,000 records, one restart of `serve`, five updates of 100 records, a backfill
    # of two days of a three-day demo store
    lines = output(
        str(BENCHMARKS / "compute.py"), "--quick", "--cache-dir", str(tmp_path / "cache")
    )
    # every line is name=value pairs, the last one the figures in their order
    for each in lines:
        assert re.fullmatch(r"\w+=\S+( \w+=\S+)*", each), each
    line = lines[-1]
    match = re.fullmatch(
        r"records=(\d+) restart_s=([\d.]+) full_compute_s=([\d.]+) "
        r"incremental_compute_s=([\d.]+) incremental_max_s=([\d.]+) peak_rss_mb=(\d+) "
        r"backfill_90d_s=([\d.]+)",
        line,
    )
    assert match, line
    assert int(match.group(1)) > 1000  # the organisation really had records
    restart, incremental, slowest = (float(match.group(n)) for n in (2, 4, 5))
    assert restart > 0
    assert slowest >= incremental  # the max of the updates is at least their median
    # the store generated once is kept for the next run, keyed by its parameters
    assert list((tmp_path / "cache").glob("r3000-s42-*/bench.db"))


def test_scrape_benchmark_prints_its_figures() -> None:
    line = last_line(
        str(BENCHMARKS / "scrape.py"), "--records", "3000", "--small", "2000", "--requests", "3"
    )
    match = re.fullmatch(r"scrape_p99_ms=([\d.]+) scrape_p99_ratio_vs_small=([\d.]+)", line)
    assert match, line
    assert float(match.group(1)) > 0


def test_page_benchmark_prints_its_figures(tmp_path: Path) -> None:
    lines = output(
        str(BENCHMARKS / "page.py"),
        *("--records", "3000", "--runs", "2", "--cache-dir", str(tmp_path / "compute")),
    )
    for each in lines:
        assert re.fullmatch(r"\w+=\S+( \w+=\S+)*", each), each
    match = re.fullmatch(
        r"samples=(\d+) root_cold_ms=([\d.]+) stream_cold_ms=([\d.]+) root_ms=([\d.]+) "
        r"stream_ms=([\d.]+) api_cold_ms=([\d.]+) api_ms=([\d.]+) page_bytes=(\d+)",
        lines[-1],
    )
    assert match, lines[-1]
    assert int(match.group(1)) > 100
    assert int(match.group(8)) > 10_000  # a page with a map on it
    # the snapshot is computed once and kept as JSON for the next run
    assert list((tmp_path / "page").glob("r3000-s42-*.json"))
