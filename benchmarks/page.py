"""Benchmark: the value-stream map page served from the snapshot of a ~1,000,000-record store.

The snapshot is computed once from the compute benchmark's cached store (``compute_store.py``;
generated there when missing) at the moment that store ends, and kept as JSON under
``benchmarks/out/page/`` (delete it to compute anew). Each figure is the median over ``--runs``
requests made to the WSGI app in this process (no socket, so it is the page's own cost):

* ``root_cold_ms`` / ``stream_cold_ms``: ``/`` and a stream page (the second stream, 7d) from a
  snapshot the site has not seen: indexing the snapshot's samples plus rendering the page;
* ``root_ms`` / ``stream_ms``: the same pages again, served from the per-snapshot cache;
* ``api_cold_ms`` / ``api_ms``: ``/api/v1/snapshot``, first and again.

The last line is ``samples=<n> root_cold_ms=… stream_cold_ms=… root_ms=… stream_ms=…
api_cold_ms=… api_ms=… page_bytes=…``; the target is at most 50 ms per page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compute_store import (
    CACHE,
    bench_settings,
    bench_teams,
    cache_folder,
    cached_meta,
    generate,
    work_copy,
)

from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.exposition.http import WebApp
from streamgauge.exposition.site import MapSite, default_window
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.store import Store


def held_back(records: int) -> int:
    """The records the compute benchmark holds back (so its cached store is shared): 5 updates
    of 1,000, or of 100 for its --quick organisation of 3,000."""
    return 5000 if records > 10_000 else 500


def snapshot_of(records: int, seed: int, cache_dir: Path) -> Snapshot:
    """The snapshot of the cached store, computed once and kept as JSON."""
    cached = cache_folder(cache_dir, records, seed, held_back(records))
    kept = cache_dir.parent / "page" / f"{cached.name}.json"  # out/page beside out/compute
    if kept.exists():
        return Snapshot.from_json(json.loads(kept.read_text(encoding="utf-8")))
    if not (cached / "meta.json").exists():
        cached.mkdir(parents=True, exist_ok=True)
        generate(cached, records, held_back(records), seed)
    end, teams = cached_meta(cached)
    with tempfile.TemporaryDirectory(prefix="sg-page-") as scratch:
        work = Path(scratch) / "work.db"
        work_copy(cached, work)  # the cached store stays untouched
        with Store.open(f"sqlite:///{work}") as store:
            dataset = store.load_dataset()
    began = time.perf_counter()
    snapshot = compute_all(dataset, now=end, settings=bench_settings(teams))
    print(f"compute_s={time.perf_counter() - began:.1f}", flush=True)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(snapshot.to_json()), encoding="utf-8")
    return snapshot


class State:
    """The served state alone: the site reads nothing else (no /metrics rendering here)."""

    def __init__(self, state: ServedState) -> None:
        self.state = state


def get(app: WebApp, path: str, query: str = "") -> tuple[str, bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: Iterable[tuple[str, str]]) -> None:
        answer["status"] = status

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": f"{path}?{query}" if query else path,
    }
    body = b"".join(app(environ, start_response))  # type: ignore[arg-type]
    return answer["status"], body


def timed(app: WebApp, path: str, query: str = "") -> tuple[float, bytes]:
    began = time.perf_counter()
    status, body = get(app, path, query)
    took = (time.perf_counter() - began) * 1000
    if not status.startswith("200"):
        raise SystemExit(f"{path}?{query} answered {status}")
    return took, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="generated stores")
    args = parser.parse_args()
    snapshot = snapshot_of(args.records, args.seed, args.cache_dir)
    _, teams = cached_meta(
        cache_folder(args.cache_dir, args.records, args.seed, held_back(args.records))
    )
    windows = ["7d", "30d", "90d"]
    team_apps = {t: c["apps"] for t, c in bench_teams(teams).items()}
    names = ("root_cold", "stream_cold", "root", "stream", "api_cold", "api")
    figures: dict[str, list[float]] = {name: [] for name in names}
    size = 0
    for run in range(args.runs):
        # a snapshot the site has not seen: a copy, so nothing is cached for it
        fresh = Snapshot(snapshot.computed_at, list(snapshot.samples), list(snapshot.histograms))
        site = MapSite(State(ServedState(snapshot=fresh)), windows=windows, teams=team_apps)
        app = WebApp(Exposition(), lambda: (True, "ready"), site=site)
        took, body = timed(app, "/")
        figures["root_cold"].append(took)
        size = len(body)
        assert site._rendered is not None
        streams = site._rendered.index.streams(team_apps)
        if not streams:
            raise SystemExit("the snapshot has no value stream: no work item was done")
        team, app_name = streams[min(1, len(streams) - 1)]
        path = f"/streams/{team}/{app_name}"
        figures["stream_cold"].append(timed(app, path, "window=7d")[0])
        figures["root"].append(timed(app, "/")[0])
        figures["stream"].append(timed(app, path, "window=7d")[0])
        figures["api_cold"].append(timed(app, "/api/v1/snapshot")[0])
        figures["api"].append(timed(app, "/api/v1/snapshot")[0])
        if run == 0:
            at = snapshot.computed_at.isoformat()
            print(
                f"streams={len(streams)} default_window={default_window(windows)} computed_at={at}"
            )
    medians = {k: statistics.median(v) for k, v in figures.items()}
    print(" ".join(f"{k}_max_ms={max(v):.2f}" for k, v in figures.items()), flush=True)
    print(
        f"samples={len(snapshot.samples)} "
        + " ".join(f"{k}_ms={v:.2f}" for k, v in medians.items())
        + f" page_bytes={size}"
    )


if __name__ == "__main__":
    main()
