"""The Jenkins sync benchmark still runs (on a tiny controller) and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "jenkins_sync.py"


def test_jenkins_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "20", "--builds", "600"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"requests_per_100_builds=([\d.]+) resync_requests=(\d+)", line)
    assert match, line
    # 20 jobs fill two team folders of 10, each with one multibranch project: the first sync
    # lists 5 folders (with the root) and asks each of the 20 jobs once: 25 requests for 600
    # builds; the resync lists the 5 folders only.
    assert float(match.group(1)) == round(100 * 25 / 600, 4)
    assert int(match.group(2)) == 5
