"""benchmarks/webhook.py still runs (on a few events, with a kill) and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "webhook.py"


@pytest.mark.slow
def test_the_webhook_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--events", "200", "--clients", "5", "--kills", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    line = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"events_per_s=(\d+) p99_ms=([\d.]+) lost=(\d+) duplicated=(\d+)", line)
    assert match, line
    assert int(match.group(1)) > 0
    assert (match.group(3), match.group(4)) == ("0", "0")
