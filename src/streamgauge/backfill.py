"""History from day one: the metrics as they stood at past moments, as timestamped OpenMetrics.

``streamgauge backfill`` recomputes every metric at each moment of a past range (the calculator
treats anything after ``now`` as not yet happened) and writes the samples, each with its moment
as timestamp, for ``promtool tsdb create-blocks-from openmetrics``. Each moment is written as
soon as it is computed, its families each in one piece with their ``# HELP`` and ``# TYPE``
lines: the file grows while the command runs, memory stays flat however long the range, and
promtool reads a family's metadata again at every moment. promtool reads its whole input once
for every block it writes, so the import wants ``--max-block-duration`` as long as the span. With no ``--step``, the step is chosen
from the span so that a range holds at most :data:`TARGET_MOMENTS` moments (6 hours for 90 days).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from prometheus_client.utils import floatToGoString

from streamgauge.config import Settings, format_duration, parse_duration
from streamgauge.exposition.collector import snapshot_families
from streamgauge.metrics import compute_all
from streamgauge.metrics.catalog import COMPUTED, MetricDef
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, utc
from streamgauge.progress import ProgressLine
from streamgauge.store import Store

# Prometheus keeps the most recent hours in its in-memory head block; blocks written for that span
# may overlap it, so by default the backfill stops this long before now.
DEFAULT_STOP_BEFORE = timedelta(hours=3)

Progress = Callable[[int, int, datetime, int], None]  # done, total, moment, samples written

# The default step gives at most this many moments: 90 days in 6-hour steps. Each moment costs a
# computation of every metric and a few hundred kilobytes of output per hundred series.
TARGET_MOMENTS = 360
_NICE_STEPS = tuple(
    timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120, 180, 360, 720, 1440, 10080)
)


def default_step(span: timedelta) -> timedelta:
    """The shortest of 1m, 5m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d and 1w that keeps ``span`` within
    :data:`TARGET_MOMENTS` moments (7 days -> 30m, 30 days -> 2h, 90 days -> 6h)."""
    for step in _NICE_STEPS:
        if span / step <= TARGET_MOMENTS:
            return step
    return _NICE_STEPS[-1]


def moments(*, start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Every whole multiple of ``step`` since the Unix epoch in ``[start, end]``, oldest first.

    Whole multiples make two backfills of overlapping ranges write the same timestamps, and a
    moment easy to name in a query.
    """
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    size = step.total_seconds()
    first = math.ceil(utc(start).timestamp() / size)
    last = math.floor(utc(end).timestamp() / size)
    return [datetime.fromtimestamp(i * size, tz=UTC) for i in range(first, last + 1)]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


@dataclass(frozen=True, slots=True)
class _Family:
    name: str  # the OpenMetrics family name: counters without `_total`
    kind: str
    help: str


def _family_of(defn: MetricDef) -> _Family:
    name = defn.name.removesuffix("_total") if defn.kind == "counter" else defn.name
    return _Family(name, defn.kind, defn.help)


def sample_lines(
    snapshot: Snapshot, *, labels: Mapping[str, str], catalog: Sequence[MetricDef] = COMPUTED
) -> Iterator[tuple[str, str]]:
    """``(family name, sample line)`` for every sample of ``snapshot``, stamped with its time.

    The samples are the ones the live exposition serves for the same snapshot, so backfilled and
    scraped series have the same names, labels and values.
    """
    seconds = snapshot.computed_at.timestamp()
    stamp = str(int(seconds)) if seconds.is_integer() else repr(seconds)
    extra = [f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())]
    for family in snapshot_families(snapshot, catalog):
        for sample in family.samples:
            pairs = [f'{k}="{_escape(v)}"' for k, v in sample.labels.items()] + extra
            text = "{" + ",".join(pairs) + "}" if pairs else ""
            yield family.name, f"{sample.name}{text} {_value(sample.value)} {stamp}\n"


def moment_text(
    snapshot: Snapshot, *, labels: Mapping[str, str], catalog: Sequence[MetricDef] = COMPUTED
) -> tuple[str, int]:
    """One moment's families, each with its metadata, and how many samples they hold."""
    families = {_family_of(d).name: _family_of(d) for d in catalog}
    parts: list[str] = []
    current = None
    written = 0
    for name, line in sample_lines(snapshot, labels=labels, catalog=catalog):
        if name != current:
            family = families[name]
            parts.append(f"# HELP {name} {_escape(family.help)}\n# TYPE {name} {family.kind}\n")
            current = name
        parts.append(line)
        written += 1
    return "".join(parts), written


def write_openmetrics(
    snapshots: Iterable[Snapshot],
    out: TextIO,
    *,
    labels: Mapping[str, str] | None = None,
    catalog: Sequence[MetricDef] = COMPUTED,
) -> int:
    """Write ``snapshots`` (oldest first) moment by moment, each flushed as soon as it is made,
    then ``# EOF``; returns the samples written."""
    written = 0
    for snapshot in snapshots:
        text, count = moment_text(snapshot, labels=labels or {}, catalog=catalog)
        out.write(text)
        out.flush()
        written += count
    out.write("# EOF\n")
    return written


def past_snapshots(
    dataset: Dataset,
    settings: Settings,
    at: Sequence[datetime],
    *,
    progress: Progress | None = None,
) -> Iterator[Snapshot]:
    """The snapshot ``compute_all`` gives at each moment of ``at``, in order."""
    samples = 0
    for done, moment in enumerate(at, start=1):
        snapshot = compute_all(dataset, now=moment, settings=settings)
        samples += len(snapshot.samples) + len(snapshot.histograms)
        if progress is not None:
            progress(done, len(at), moment, samples)
        yield snapshot


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    """``["instance=streamgauge:9464"]`` -> labels, with ``job=streamgauge`` unless given."""
    labels = {"job": "streamgauge"}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"--label {pair!r}: write NAME=VALUE, e.g. instance=streamgauge:9464")
        labels[name] = value
    return labels


def run_backfill(
    settings: Settings, args: argparse.Namespace, *, now: datetime | None = None
) -> int:
    """The ``backfill`` command: returns the exit status."""
    try:
        since, stop_before = parse_duration(args.since), parse_duration(args.stop_before)
        step = default_step(since) if args.step is None else parse_duration(args.step)
        labels = parse_labels(args.label)
        if step <= timedelta(0):
            raise ValueError("--step must be positive")
    except ValueError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2
    now = utc(now) if now is not None else datetime.now(UTC)
    at = moments(start=now - since, end=now - stop_before, step=step)
    with Store.open(settings.store_url) as store:
        dataset = store.load_dataset()
    if at:
        # The last moment has the most series: its size times the moments bounds the file.
        text, count = moment_text(
            compute_all(dataset, now=at[-1], settings=settings), labels=labels
        )
        print(
            f"backfill: {len(at)} moments every {format_duration(step)}, at most {count * len(at):,} "
            f"samples, about {len(text.encode()) * len(at) / 1e6:,.0f} MB or less",
            file=sys.stderr,
        )
    with ProgressLine("backfill", sys.stderr) as line:

        def progress(done: int, total: int, moment: datetime, samples: int) -> None:
            line.update(f"{done}/{total} moments, at {moment:%Y-%m-%d %H:%M}", samples)

        with args.out.open("w", encoding="utf-8") as out:
            written = write_openmetrics(
                past_snapshots(dataset, settings, at, progress=progress), out, labels=labels
            )
    if at:
        span = f"{at[0].isoformat()} to {at[-1].isoformat()}"
    else:
        span = "no moment (is --since shorter than --stop-before?)"
    print(f"{args.out}: {written} samples at {len(at)} moments, {span}")
    return 0
