"""`streamgauge backfill`: past values as timestamped OpenMetrics that promtool and Prometheus load."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.deploy.promstack import Prometheus, binary

from streamgauge.backfill import (
    default_step,
    moments,
    parse_labels,
    run_backfill,
    write_openmetrics,
)
from streamgauge.cli import _parser, _settings, embedded_demo_config, main
from streamgauge.config import format_duration, load_settings, parse_duration
from streamgauge.metrics import compute_all
from streamgauge.metrics.catalog import BY_NAME
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.store import Store

# 2026-01-01T00:00:00Z is 1767225600 s after the epoch (56 years, 14 of them leap: 20454 days).
NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)
T1 = 1767225600 + 3600  # 01:00
T2 = 1767225600 + 7200  # 02:00


def test_moments_are_whole_steps_within_the_range() -> None:
    # From 00:30 to 03:00 by hours: 01:00, 02:00 and 03:00 (the end is included).
    got = moments(
        start=NEW_YEAR + timedelta(minutes=30),
        end=NEW_YEAR + timedelta(hours=3),
        step=timedelta(hours=1),
    )
    assert got == [NEW_YEAR + timedelta(hours=h) for h in (1, 2, 3)]
    # Six-hour steps fall on 00:00, 06:00, 12:00 and 18:00 UTC, whatever the start.
    got = moments(
        start=NEW_YEAR + timedelta(hours=1),
        end=NEW_YEAR + timedelta(days=1),
        step=timedelta(hours=6),
    )
    assert [m.hour for m in got] == [6, 12, 18, 0]
    assert moments(start=NEW_YEAR, end=NEW_YEAR - timedelta(hours=1), step=timedelta(hours=1)) == []


def _snapshot(
    at: datetime, deployments: int, load: int, counts: tuple[int, int], total: float
) -> Snapshot:
    snap = Snapshot(computed_at=at)
    snap.add(
        "streamgauge_deployments_total",
        deployments,
        team="payments",
        app="payments-api",
        result="success",
    )
    snap.add(
        "streamgauge_flow_load", load, team='a"b', app="all", type="feature", flow_state="active"
    )
    snap.histograms.append(
        HistogramSample(
            "streamgauge_change_lead_time_seconds",
            labels(team="payments", app="payments-api"),
            (3600.0, 86400.0),
            counts,
            counts[-1] + 1,  # one change slower than a day
            total,
        )
    )
    return snap


def test_each_moment_is_written_whole_with_its_families_and_stamped() -> None:
    catalog = [
        BY_NAME[n]
        for n in (
            "streamgauge_deployments_total",
            "streamgauge_change_lead_time_seconds",
            "streamgauge_flow_load",
        )
    ]
    snapshots = [
        _snapshot(NEW_YEAR + timedelta(hours=1), 3, 2, (1, 2), 200000.0),
        _snapshot(NEW_YEAR + timedelta(hours=2), 4, 1, (1, 3), 250000.5),
    ]
    out = io.StringIO()
    written = write_openmetrics(snapshots, out, labels={"job": "streamgauge"}, catalog=catalog)
    # per moment: 1 counter + 1 gauge + 3 buckets (3600, 86400, +Inf) + count + sum = 7
    assert written == 14
    h = {d.name: d.help for d in catalog}
    lt = 'team="payments",app="payments-api"'

    def moment(
        stamp: int, deployed: str, buckets: tuple[str, str, str], total: str, load: str
    ) -> str:
        return f"""\
# HELP streamgauge_deployments {h["streamgauge_deployments_total"]}
# TYPE streamgauge_deployments counter
streamgauge_deployments_total{{team="payments",app="payments-api",result="success",job="streamgauge"}} {deployed} {stamp}
# HELP streamgauge_change_lead_time_seconds {h["streamgauge_change_lead_time_seconds"]}
# TYPE streamgauge_change_lead_time_seconds histogram
streamgauge_change_lead_time_seconds_bucket{{{lt},le="3600.0",job="streamgauge"}} {buckets[0]} {stamp}
streamgauge_change_lead_time_seconds_bucket{{{lt},le="86400.0",job="streamgauge"}} {buckets[1]} {stamp}
streamgauge_change_lead_time_seconds_bucket{{{lt},le="+Inf",job="streamgauge"}} {buckets[2]} {stamp}
streamgauge_change_lead_time_seconds_count{{{lt},job="streamgauge"}} {buckets[2]} {stamp}
streamgauge_change_lead_time_seconds_sum{{{lt},job="streamgauge"}} {total} {stamp}
# HELP streamgauge_flow_load {h["streamgauge_flow_load"]}
# TYPE streamgauge_flow_load gauge
streamgauge_flow_load{{team="a\\"b",app="all",type="feature",flow_state="active",job="streamgauge"}} {load} {stamp}
"""

    expected = (
        moment(T1, "3.0", ("1.0", "2.0", "3.0"), "200000.0", "2.0")
        + moment(T2, "4.0", ("1.0", "3.0", "4.0"), "250000.5", "1.0")
        + "# EOF\n"
    )
    assert out.getvalue() == expected
    # and promtool reads it as it is
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sg-backfill-{os.getpid()}.om"
    try:
        path.write_text(expected)
        done = subprocess.run(
            [
                binary("promtool"),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(path),
                str(path) + ".blocks",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        path.unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(path) + ".blocks"], check=True)


def test_labels_default_to_the_job_and_refuse_a_malformed_pair() -> None:
    assert parse_labels([]) == {"job": "streamgauge"}
    assert parse_labels(["instance=sg:9464", "job=flow"]) == {"job": "flow", "instance": "sg:9464"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_labels(["instance"])


def test_backfill_refuses_a_bad_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "backfill",
            "--data-dir",
            str(tmp_path),
            "--since",
            "ninety days",
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2
    assert "not a duration" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    done = subprocess.run(
        [sys.executable, "-m", "streamgauge", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _key(name: str, pairs: dict[str, str]) -> tuple[str, frozenset[tuple[str, object]]]:
    # Prometheus stores no empty label: streamgauge_target{app=""} comes back without `app`
    norm: dict[str, object] = {k: v for k, v in pairs.items() if v != ""}
    if "le" in norm:
        norm["le"] = float(str(norm["le"]))  # "3600.0", "+Inf" -> numbers on both sides
    return name, frozenset(norm.items())


@pytest.mark.slow
def test_backfilled_history_equals_the_calculator_thirty_days_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run("sync", "--data-dir", str(data))
    out = tmp_path / "history.om"
    step = timedelta(hours=12)
    printed = _run(
        "backfill", "--data-dir", str(data), "--since", "32d", "--step", "12h",
        "--label", "instance=demo:9464", "--out", str(out),
    )  # fmt: skip
    assert "samples at" in printed
    assert out.read_text().endswith("\n# EOF\n")

    blocks = tmp_path / "tsdb"
    done = subprocess.run(
        [
            binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(out),
            str(blocks),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    # The moment: the last whole 12 hours at least 30 days ago, one of the backfilled moments.
    size = step.total_seconds()
    at = math.floor((datetime.now(UTC) - timedelta(days=30)).timestamp() / size) * size
    moment = datetime.fromtimestamp(at, tz=UTC)

    settings = load_settings(embedded_demo_config(), overrides={"data_dir": data})
    with Store.open(settings.store_url) as store:
        dataset = store.load_dataset()
    snapshot = compute_all(dataset, now=moment, settings=settings)
    expected: dict[tuple[str, frozenset[tuple[str, object]]], float] = {}
    for s in snapshot.samples:
        expected[_key(s.name, dict(s.labels))] = s.value
    for h in snapshot.histograms:
        for bound, count in zip((*h.bounds, math.inf), (*h.counts, h.count), strict=True):
            expected[_key(h.name + "_bucket", {**dict(h.labels), "le": str(bound)})] = count
        expected[_key(h.name + "_count", dict(h.labels))] = h.count
        expected[_key(h.name + "_sum", dict(h.labels))] = h.sum
    frequency = expected[
        _key(
            "streamgauge_deployment_frequency_window_per_day",
            {"team": "all", "app": "all", "window": "7d"},
        )
    ]
    assert frequency > 0  # the demo deployed in the week before that moment

    config = tmp_path / "prometheus.yml"
    config.write_text("global: {}\nscrape_configs: []\n")
    # Retention counts back from the newest block: keep more than the 32 days written.
    prometheus = Prometheus(config, blocks, "--storage.tsdb.retention.time=400d")
    try:
        prometheus.wait_ready()
        result = prometheus.query('{__name__=~"streamgauge_.+"}', at=at)
    finally:
        prometheus.stop()
    got: dict[tuple[str, frozenset[tuple[str, object]]], float] = {}
    for series in result:
        metric = dict(series["metric"])
        name = metric.pop("__name__")
        assert metric.pop("job") == "streamgauge"
        assert metric.pop("instance") == "demo:9464"
        assert float(series["value"][0]) == at
        got[_key(name, metric)] = float(series["value"][1])
    assert got.keys() == expected.keys()
    mismatched = {
        k: (got[k], v)
        for k, v in expected.items()
        if got[k] != v and not (math.isnan(v) and math.isnan(got[k]))
    }
    assert mismatched == {}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty store still has moments to compute: 12:00 to 18:00 by hours is 7 of them, minus
    # the default 3 hours left out, so 12:00..15:00 = 4 moments.
    args = [
        "backfill",
        "--data-dir",
        str(tmp_path),
        "--since",
        "6h",
        "--step",
        "1h",
        "--out",
        str(tmp_path / "h.om"),
    ]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    now = datetime(2026, 1, 1, 18, tzinfo=UTC)
    parsed = _parser().parse_args(args)
    assert run_backfill(_settings(parsed), parsed, now=now) == 0
    drawn = terminal.getvalue()
    assert "backfill  1/4 moments, at 2026-01-01 12:00" in drawn
    assert drawn.endswith("\r")  # the line is wiped when done
    assert (tmp_path / "h.om").read_text().endswith("# EOF\n")

    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert run_backfill(_settings(parsed), parsed, now=now) == 0
    # piped: the estimate, printed before anything is written, and no progress line
    (estimate,) = piped.getvalue().splitlines()
    assert estimate.startswith("backfill: 4 moments every 1h, at most ")
    assert "\r" not in piped.getvalue()


@pytest.mark.parametrize(
    ("since", "step"),
    [("6h", "1m"), ("7d", "30m"), ("30d", "2h"), ("90d", "6h"), ("365d", "7d"), ("520w", "7d")],
)
def test_the_default_step_keeps_a_span_within_360_moments(since: str, step: str) -> None:
    # The shortest of 1m 5m 15m 30m 1h 2h 3h 6h 12h 1d 1w giving at most 360 moments:
    # 6 h / 360 = 1 min; 7 d = 10,080 min / 360 = 28 min -> 30m; 30 d = 720 h / 360 = 2 h;
    # 90 d = 2,160 h / 360 = 6 h; 365 d / 360 = 1.01 d -> a week (52 moments);
    # ten years: a week, the coarsest, even though that gives 520 moments
    chosen = default_step(parse_duration(since))
    assert format_duration(chosen) == step


def test_each_moment_reaches_the_file_before_the_next_is_computed(tmp_path: Path) -> None:
    path = tmp_path / "h.om"
    seen: list[str] = []

    def snapshots() -> Iterator[Snapshot]:
        yield _snapshot(NEW_YEAR + timedelta(hours=1), 3, 2, (1, 2), 200000.0)
        seen.append(path.read_text())  # the second moment is not computed yet
        yield _snapshot(NEW_YEAR + timedelta(hours=2), 4, 1, (1, 3), 250000.5)

    with path.open("w", encoding="utf-8") as out:
        write_openmetrics(snapshots(), out)
    (after_first,) = seen
    assert f" {T1}\n" in after_first
    assert f" {T2}\n" not in after_first
    assert path.read_text().startswith(after_first)
