"""Every exported counter only grows, whatever corrections the records receive, across restarts.

A property test: random sequences of re-sent records (a deployment's result corrected, its app
changed, an item reopened, an incident re-dated), each followed by a sync of a real `file`
source and a recompute, sometimes by a restart of the whole app on the same store. After every
step, every counter series and every histogram bucket, count and sum on the real exposition
(the bytes a scrape gets) is at least what it was after the step before, and no counter series
disappears.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from streamgauge.app import App
from streamgauge.config import load_settings
from streamgauge.metrics.snapshot import HistogramSample, Sample, Snapshot, never_below

NOW = datetime.now(UTC).replace(microsecond=0)

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def cumulative_series(text: str) -> Series:
    """Each sample of the counter and histogram families of an exposition, by name and labels."""
    found: Series = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram") or not family.name.startswith(
            "streamgauge_"
        ):
            continue
        if family.name.startswith("streamgauge_sync_"):
            continue  # the sync log's own counters are kept by the store, not recomputed
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def at(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


def deployment(n: int, app: str, result: str, hours_ago: int) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"ci:deployment:{n}",
        "app": app,
        "environment": "production",
        "started_at": at(hours_ago + 0.1),
        "finished_at": at(hours_ago),
        "result": result,
        "sha": f"sha{n}",
        "commit_shas": [f"sha{n}"],
    }


def item(n: int, done: bool, hours_ago: int) -> dict[str, Any]:
    return {
        "kind": "work_item",
        "id": f"ci:work_item:{n}",
        "app": "checkout",
        "key": f"PAY-{n}",
        "type": "feature",
        "status": "Done" if done else "In Progress",
        "flow_state": "done" if done else "active",
        "created_at": at(hours_ago + 48),
        "started_at": at(hours_ago + 24),
        "done_at": at(hours_ago) if done else None,
    }


def incident(n: int, hours_ago: int, resolved: bool) -> dict[str, Any]:
    return {
        "kind": "incident",
        "id": f"ci:incident:{n}",
        "app": "checkout",
        "key": f"INC-{n}",
        "opened_at": at(hours_ago + 1),
        "resolved_at": at(hours_ago) if resolved else None,
        "severity": "high",
        "deployment_id": "ci:deployment:1",
    }


record = st.one_of(
    st.builds(
        deployment,
        st.integers(1, 4),
        st.sampled_from(["checkout", "search"]),
        st.sampled_from(["success", "failure"]),
        st.integers(1, 200),
    ),
    st.builds(item, st.integers(1, 3), st.booleans(), st.integers(1, 200)),
    st.builds(incident, st.integers(1, 2), st.integers(1, 100), st.booleans()),
)
step = st.tuples(st.lists(record, min_size=1, max_size=4), st.booleans())  # records, restart?


def configure(folder: Path) -> Path:
    config = folder / "streamgauge.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(folder / "data"),
                "teams": {"payments": {"apps": ["checkout", "search"]}},
                "sources": [{"name": "ci", "type": "file", "path": str(folder / "records.jsonl")}],
            }
        )
    )
    return config


@pytest.mark.slow
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=2, max_size=6))
def test_counters_never_go_down(tmp_path_factory: pytest.TempPathFactory, steps: Any) -> None:
    folder = tmp_path_factory.mktemp("counters")
    records = folder / "records.jsonl"
    # one deployment and one done item from the start, so counters are exported whatever the
    # steps re-send
    start = [deployment(5, "checkout", "success", 300), item(5, True, 300)]
    records.write_text("".join(json.dumps(line) + "\n" for line in start))
    settings = load_settings(configure(folder))
    app = App(settings)
    before: Series = {}
    try:
        for lines, restart in steps:
            with records.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(line) + "\n" for line in lines)
            if restart:
                app.close()
                app = App(settings)
                # what a restarted process serves first is the stored snapshot
                assert_not_below(before, cumulative_series(app.exposition.rendered.text.decode()))
            app.sync("ci")
            app.recompute()
            now = cumulative_series(app.exposition.rendered.text.decode())
            assert_not_below(before, now)
            before = now
    finally:
        app.close()
    assert before, "the steps exported counters"


def assert_not_below(before: Series, now: Series) -> None:
    lower = {key: (old, now.get(key)) for key, old in before.items() if now.get(key, -1) < old}
    assert lower == {}


def test_a_corrected_deployment_keeps_its_first_count() -> None:
    # Worked example: two successes exported (success = 2); then deployment 2 is re-sent as a
    # failure. Recomputed alone, success would fall to 1 and failure rise to 1; exported, success
    # stays at 2 (the highest it reached) and failure is 1. The series no longer computed at all
    # (app "search", which the corrected record left) stays at its last value, 1.
    t = datetime(2026, 3, 1, tzinfo=UTC)

    def snap(success: float, failure: float | None, search: float | None) -> Snapshot:
        samples = [Sample("d_total", (("app", "checkout"), ("result", "success")), success)]
        if failure is not None:
            samples.append(Sample("d_total", (("app", "checkout"), ("result", "failure")), failure))
        if search is not None:
            samples.append(Sample("d_total", (("app", "search"), ("result", "success")), search))
        samples.append(Sample("ratio", (), 0.5))  # a gauge: never held up
        hist = HistogramSample("h", (), (60.0, 3600.0), (1, 2), 2, 100.0)
        return Snapshot(computed_at=t, samples=samples, histograms=[hist])

    first = snap(2, None, 1)
    corrected = snap(1, 1, None)
    corrected.samples[-1] = Sample("ratio", (), 0.25)
    corrected.histograms = [HistogramSample("h", (), (60.0, 3600.0), (0, 1), 1, 40.0)]
    got = never_below(first, corrected, frozenset({"d_total", "h"}))
    assert {(s.labels, s.value) for s in got.samples if s.name == "d_total"} == {
        ((("app", "checkout"), ("result", "success")), 2.0),
        ((("app", "checkout"), ("result", "failure")), 1.0),
        ((("app", "search"), ("result", "success")), 1.0),
    }
    assert got.values("ratio") == {(): 0.25}
    (h,) = got.histograms
    assert (h.counts, h.count, h.sum) == ((1, 2), 2, 100.0)
