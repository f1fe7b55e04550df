"""The faults benchmark still runs end to end (two faults, a small file) and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"
LAST_LINE = re.compile(
    r"faults=(\d+) lost=(\d+) duplicated=(\d+) counter_decreases=(\d+) max_stop_s=(\d+(?:\.\d+)?)"
)


@pytest.mark.slow
def test_faults_benchmark_completes_and_prints_its_last_line() -> None:
    # seed 4 throws a connection reset and a 5xx burst: quick faults, so the test is short
    command = ["--seed", "4", "--faults", "2", "--records", "200", "--stop-timeout", "10"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(line)
    assert match, line
    assert int(match.group(1)) == 2  # as many faults as asked for
