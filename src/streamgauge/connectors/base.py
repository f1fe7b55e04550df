"""The connector contract: streams with cursors, paging, the three kinds of error, retries."""

from __future__ import annotations

import builtins
import email.utils
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from streamgauge.config import Settings, SourceConfig
from streamgauge.model import Record

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]


def parse_time(value: str) -> datetime:
    """An API's ISO 8601 timestamp (``2026-01-10T09:00:00Z``, fractions and offsets too)."""
    return datetime.fromisoformat(value)


def optional_time(value: Any) -> datetime | None:
    """:func:`parse_time` of a field that may be missing or null."""
    return parse_time(value) if value else None


def required_time(value: Any, name: str) -> datetime:
    """:func:`parse_time` of a field the record cannot do without."""
    if not value:
        raise ValueError(f"{name} is missing")
    return parse_time(value)


def iso(value: datetime) -> str:
    """A UTC time as the APIs' query parameters take it: ``2026-01-10T09:00:00Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def system_clock() -> datetime:
    return datetime.now(UTC)


# --- the three kinds of error ----------------------------------------------------------------


class ConnectorError(Exception):
    """Base of connector errors. Messages never carry secrets."""


class FatalError(ConnectorError):
    """Bad credentials, missing scope, a project that does not exist: stop this source."""


class RetriableError(ConnectorError):
    """429, 5xx, time-outs: try again after ``retry_after`` seconds (or a backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetriableError):
    """The API budget is spent until ``reset_at``: pause the source, do not sleep in a request."""

    def __init__(self, message: str, *, reset_at: datetime) -> None:
        super().__init__(message, retry_after=None)
        self.reset_at = reset_at


class Stopped(ConnectorError):
    """The process is stopping: the sync ends where it is, its stored pages kept."""


class SkippableRecord(ConnectorError):
    """One malformed record: count it, log it, go on.

    ``reason`` is the label it is counted under (``malformed`` unless the connector knows more,
    e.g. ``too_deep`` for JSON nested beyond what can be parsed).
    """

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


class PaginationLoop(FatalError):
    """The API handed back a page token or page it had already given."""


# --- raw records and pages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A payload as the tool sent it, with its lineage."""

    stream: str
    native_id: str
    payload: Mapping[str, Any]
    fetched_at: datetime
    url: str | None = None


@dataclass(slots=True)
class Page:
    """A batch of raw records and the cursor that covers them.

    ``cursor`` is stored in the same transaction as the records; None leaves the stored cursor
    as it was (a stream that reads newest-first sets it only on its last page).
    """

    raws: list[RawRecord]
    cursor: str | None = None


@dataclass(slots=True)
class SourceStats:
    """What a sync of one source spent and saw; exported as health metrics."""

    api_calls: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: datetime | None = None
    skipped: int = 0
    not_modified: int = 0  # conditional requests answered 304


@dataclass(slots=True)
class SyncContext:
    """Handed to each stream read: the sync's start (cursors never pass it) and its stats."""

    source: str
    started_at: datetime
    stats: SourceStats = field(default_factory=SourceStats)
    cursors: Mapping[str, str] = field(default_factory=dict)  # every stream's stored cursor


class Stream(ABC):
    """One endpoint of a tool, read incrementally from a cursor."""

    name: ClassVar[str]

    @abstractmethod
    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        """Yield pages of raw records newer than ``cursor`` (with a small overlap)."""


class Connector(ABC):
    """A configured source: its streams and the pure mapping of its raw records."""

    type: ClassVar[str]
    config_model: ClassVar[builtins.type[SourceConfig]]
    # A pushed source is sent to (a webhook): it has no streams to read, and what it was sent
    # is normalized from the store instead of by a sync.
    pushed: ClassVar[bool] = False

    def __init__(self, config: SourceConfig, settings: Settings, *, clock: Clock = system_clock):
        if not isinstance(config, self.config_model):
            raise TypeError(
                f"source {config.name!r}: the {self.type} connector needs a "
                f"{self.config_model.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.settings = settings
        self.clock = clock
        # Set when the process stops; the engine hands every connector its own event.
        self.stop = threading.Event()

    def wait(self, seconds: float) -> None:
        """Sleep between two attempts, cut short by :attr:`stop` (then :class:`Stopped`)."""
        if self.stop.wait(seconds):
            raise Stopped(f"{self.name}: stopping during a {seconds:.1f}s wait between retries")

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    def streams(self) -> Sequence[Stream]:
        """The streams to read, in order (a later stream may use what an earlier one stored)."""

    @abstractmethod
    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        """Map one raw record onto the model; raise :class:`SkippableRecord` when malformed."""

    def close(self) -> None:  # noqa: B027 - optional hook; most connectors hold nothing
        """Release sessions and sockets."""


# --- paging ----------------------------------------------------------------------------------


class Paginator:
    """Follows page tokens and refuses to go round in circles."""

    def __init__(self, *, what: str, max_pages: int = 100_000) -> None:
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[Hashable] = set()

    def advance(self, token: Hashable) -> None:
        """Record the token of the next page; a repeat means the API is looping."""
        if token in self._seen:
            raise PaginationLoop(f"{self.what}: page token {token!r} came back; paging stopped")
        self._seen.add(token)
        self.pages += 1
        if self.pages > self.max_pages:
            raise PaginationLoop(f"{self.what}: more than {self.max_pages} pages; paging stopped")


# --- retries ---------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = RetryPolicy(),
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn``; on :class:`RetriableError` back off (honouring ``retry_after``) and retry.

    :class:`RateLimited` is not retried here: the sync pauses the source until its reset.
    """
    rng = rng or random.Random()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except RateLimited:
            raise
        except RetriableError as exc:
            if attempt == policy.attempts:
                raise
            delay = exc.retry_after
            if delay is None:
                delay = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + rng.random() / 2
            delay = min(delay, policy.max_delay)
            log.warning("%s failed (%s); retry %d in %.1fs", what, exc, attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def classify_http(
    status: int, body: str = "", headers: Mapping[str, str] | None = None
) -> ConnectorError | None:
    """The error kind of an HTTP answer, or None when it is a success."""
    headers = headers or {}
    if status < 400:
        return None
    snippet = " ".join(body.split())[:200]
    if status == 429 or status >= 500:
        return RetriableError(
            f"HTTP {status}: {snippet}", retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    if status in (401, 403):
        return FatalError(f"HTTP {status}: credentials refused or missing permission: {snippet}")
    if status == 404:
        return FatalError(f"HTTP 404: not found or not visible to these credentials: {snippet}")
    return FatalError(f"HTTP {status}: {snippet}")
