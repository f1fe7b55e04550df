"""The compute and scrape benchmarks still run (on tiny organisations) and print their figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def last_line(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_compute_benchmark_prints_its_figures() -> None:
    line = last_line(str(BENCHMARKS / "compute.py"), "--records", "3000", "--runs", "1")
    match = re.fullmatch(
        r"records=(\d+) full_compute_s=([\d.]+) incremental_compute_s=([\d.]+) "
        r"peak_rss_mb=(\d+)",
        line,
    )
    assert match, line
    assert int(match.group(1)) > 1000  # the organisation really had records


def test_scrape_benchmark_prints_its_figures() -> None:
    line = last_line(
        str(BENCHMARKS / "scrape.py"), "--records", "3000", "--small", "2000", "--requests", "3"
    )
    match = re.fullmatch(r"scrape_p99_ms=([\d.]+) scrape_p99_ratio_vs_small=([\d.]+)", line)
    assert match, line
    assert float(match.group(1)) > 0
