"""Where a restart of ``serve`` spends its seconds: one restart under py-spy, summed by part.

``compute.py --profile FILE`` starts one more ``serve`` (not counted in the figures) under
``py-spy record --format raw`` (py-spy installed in the environment by hand: it is no
dependency), stops it when ``/readyz`` answers 200, keeps the collapsed stacks in ``FILE`` and
prints ``profile_<part>_s=<seconds>`` for each part below: every sample goes to the first
part whose marker is in its stack, looked for in this order.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 100  # samples a second

PARTS = (
    ("model_decoding", ("store/codec.py",)),
    ("store_read", ("Store.load_dataset",)),
    ("linking", ("streamgauge/linking.py",)),
    ("facts", ("compute_facts",)),
    ("aggregation", ("snapshot_of",)),
    ("calculator_load", ("Calculator.load",)),
    ("snapshot_store", ("Store.save_snapshot",)),
    ("exposition_render", ("Exposition.update",)),
    ("calculator_other", ("Calculator.snapshot",)),
    ("waiting", ("Condition.wait", "BaseWSGIServer.run", "Event.wait")),
    ("start", ("_run_module_as_main",)),
)


def py_spy() -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy (in the environment only)")
    return spy


def command(out: Path) -> list[str]:
    return [py_spy(), "record", "--rate", str(RATE), "--format", "raw", "--output", str(out), "--"]


def served_pid(spy: subprocess.Popen[bytes]) -> int | None:
    """The profiled process: py-spy's child."""
    children = Path(f"/proc/{spy.pid}/task/{spy.pid}/children")
    found = children.read_text().split() if children.exists() else []
    return int(found[0]) if found else None


Parts = tuple[tuple[str, tuple[str, ...]], ...]


def summary(raw: Path, parts: Parts = PARTS, rate: int = RATE) -> dict[str, float]:
    """Seconds of samples by part (threads add up, so the sum can pass the wall time)."""
    found: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = re.sub(r":\d+\)", ")", stack)
        part = next((p for p, marks in parts if any(m in frames for m in marks)), "other")
        found[part] += int(count)
    return {p: found[p] / rate for p, _ in (*parts, ("other", ()))}


def print_summary(raw: Path) -> None:
    for part, seconds in summary(raw).items():
        print(f"profile_{part}_s={seconds:.2f}", flush=True)
