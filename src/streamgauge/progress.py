"""Progress of long commands on a terminal: a sync's live display, with log lines printed above
it and never on it, and the one-line display of a backfill."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class SyncProgress:
    """``sources ━━━━━╸━━━ 1/3  github: pulls  1,234 records  0:00:12``, drawn only on a terminal.

    The number of sources is known up front; a source's records are not (no API says how many
    changed since the cursor), so they are counted as they are stored, without an ETA. While the
    display is live, rich places whatever is written to stderr above it: the log handlers that
    write to stderr are pointed at that stream for the duration, so a log line is never glued
    onto the progress line.
    """

    def __init__(self, sources: Sequence[str], out: IO[str]) -> None:
        self.console = Console(file=out, highlight=False)
        self.enabled = self.console.is_terminal
        self._progress = Progress(
            TextColumn("sources"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[source]}: {task.fields[stream]}"),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._task = TaskID(0)
        self._total = len(sources)
        self._moved: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []

    def start(self, source: str) -> None:
        """A source's sync begins."""
        if self.enabled:
            self._progress.update(self._task, source=source, stream="", records=0)

    def update(self, stream: str, records: int) -> None:
        """A page of ``stream`` was stored: ``records`` so far in this source's sync."""
        if self.enabled:
            self._progress.update(self._task, stream=stream, records=records)

    def done(self) -> None:
        """A source's sync ended, well or not."""
        if self.enabled:
            self._progress.advance(self._task)

    def __enter__(self) -> SyncProgress:
        if not self.enabled:
            return self
        self._task = self._progress.add_task(
            "sync", total=self._total, source="", stream="", records=0
        )
        original = sys.stderr
        self._progress.start()  # replaces sys.stderr with rich's proxy while live
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                self._moved.append((handler, original))
                handler.setStream(sys.stderr)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.enabled:
            return
        for handler, stream in self._moved:
            handler.setStream(stream)
        self._moved.clear()
        self._progress.stop()


class ProgressLine:
    """``source  stream  1,234 records  12.3s`` rewritten in place, at most ten times a second."""

    def __init__(self, label: str, out: TextIO, *, interval: float = 0.1) -> None:
        self.label = label
        self.out = out
        self.interval = interval
        self.enabled = out.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._width = 0

    def update(self, stream: str, records: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < self.interval:
            return
        self._last_draw = now
        text = f"{self.label}  {stream}  {records:,} records  {now - self._started:.1f}s"
        self.out.write("\r" + text.ljust(self._width))
        self._width = len(text)
        self.out.flush()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self.out.flush()
