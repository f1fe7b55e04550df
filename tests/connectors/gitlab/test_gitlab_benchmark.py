"""The GitLab sync benchmark still runs (on a small group) and keeps within its targets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "gitlab_sync.py"


def test_gitlab_sync_benchmark_prints_its_figures_within_target() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--projects", "3", "--merged-mrs", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"requests_per_merged_mr=([\d.]+) resync_requests=(\d+)", line)
    assert match, line
    # at most 0.1 requests per merged MR on a first sync; a resync of unchanged data at most
    # one request per project and stream (3 projects x 5 project streams, plus the group list)
    assert 0 < float(match.group(1)) <= 0.1
    assert int(match.group(2)) <= 3 * 5 + 1
