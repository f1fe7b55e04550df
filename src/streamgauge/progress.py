"""A one-line progress display for long syncs, drawn only on a terminal."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO


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
