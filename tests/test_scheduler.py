"""The scheduler's stop: bounded, whatever its jobs are doing, and never a lock held across it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.test_sync import ListConnector, ListStream, items

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.base import Page, RawRecord, SyncContext
from streamgauge.connectors.file.connector import FileConfig
from streamgauge.scheduler import Scheduler


class WaitingStream(ListStream):
    """One page, then a wait between retries that only the stop ends (as a 429's would)."""

    def __init__(self, connector: ListConnector | None = None) -> None:
        super().__init__(items(1), size=1)
        self.connector = connector
        self.waiting = threading.Event()

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        yield Page([RawRecord(self.name, "0", {"n": 0}, ctx.started_at)], cursor="1")
        self.waiting.set()
        assert self.connector is not None
        self.connector.wait(3600)  # raises Stopped when the stop comes
        yield Page([], cursor="2")  # never reached


class StuckStream(ListStream):
    """A request that never answers, deaf to the stop (a socket read with no time-out)."""

    def __init__(self) -> None:
        super().__init__(items(1), size=1)
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        self.entered.set()
        self.release.wait(60)
        yield from ()


def app_with(stream: ListStream, tmp_path: Path) -> App:
    source = FileConfig(name="src", type="file", path=tmp_path / "none.jsonl", interval="1h")
    app = App(Settings(data_dir=tmp_path, sources=[source]))
    connector = ListConnector(stream)
    connector.stop = app.stop
    if isinstance(stream, WaitingStream):
        stream.connector = connector
    app.connectors["src"] = connector
    return app


def shutdown_time(scheduler: Scheduler, timeout: float) -> tuple[float, list[str]]:
    """Seconds the shutdown took; a shutdown that hangs fails the test instead of hanging it."""
    result: list[list[str]] = []
    started = time.monotonic()
    stopper = threading.Thread(target=lambda: result.append(scheduler.shutdown(timeout=timeout)))
    stopper.start()
    stopper.join(timeout + 10)
    assert not stopper.is_alive(), "the scheduler's shutdown hung"
    return time.monotonic() - started, result[0]


def test_a_sync_waiting_between_retries_ends_at_the_stop_and_its_page_is_kept(
    tmp_path: Path,
) -> None:
    stream = WaitingStream()
    app = app_with(stream, tmp_path)
    scheduler = Scheduler(app)
    try:
        scheduler.start()
        assert stream.waiting.wait(30), "the sync never reached its wait"
        took, left = shutdown_time(scheduler, timeout=2)
        # The wait ends on the stop event and the job finishes: nothing is left running, and
        # the job's own look-up of itself after the sync found no lock held by the shutdown.
        assert left == []
        assert took < 1.0, f"shutdown took {took:.2f}s"
        assert app.store.get_cursor("src", "commits") == "1"  # the page before the wait
        assert app.store.health() == []  # a stopped sync is neither success nor failure
    finally:
        app.close()


def test_a_job_deaf_to_the_stop_is_left_after_the_bound(tmp_path: Path) -> None:
    stream = StuckStream()
    app = app_with(stream, tmp_path)
    scheduler = Scheduler(app)
    try:
        scheduler.start()
        assert stream.entered.wait(30), "the sync never started"
        took, left = shutdown_time(scheduler, timeout=1)
        assert left == ["job sync:src"]
        assert 1.0 <= took < 2.0, f"shutdown took {took:.2f}s"
    finally:
        stream.release.set()
        app.close()
