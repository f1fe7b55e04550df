"""The map page's routes: ``/``, ``/streams/<team>/<app>?window=W`` and ``/api/v1/snapshot``,
each answer rendered once per snapshot and then served from memory."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, unquote

from streamgauge.config import Settings, format_duration, parse_duration
from streamgauge.exposition.collector import ServedState
from streamgauge.exposition.page import message_page, stream_href, stream_page
from streamgauge.exposition.stream_view import SnapshotIndex, stream_view
from streamgauge.metrics.snapshot import Snapshot

HTML = "text/html; charset=utf-8"
JSON = "application/json"
API = "/api/v1/snapshot"


class Served(Protocol):
    """Where the served state is read (the exposition): replaced whole on each change."""

    @property
    def state(self) -> ServedState: ...


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def default_window(windows: Sequence[str]) -> str:
    """30d when it is configured, else the first configured window."""
    return "30d" if "30d" in windows else windows[0]


def etag(snapshot: Snapshot) -> str:
    """The snapshot's entity tag: its computation time, to the microsecond."""
    return f'"{snapshot.computed_at.timestamp():.6f}"'


def snapshot_json(snapshot: Snapshot) -> bytes:
    """Every sample as ``{"name", "labels", "value"}``, histograms as a list of their own."""
    body = {
        "computed_at": snapshot.computed_at.isoformat(),
        "samples": [
            {"name": s.name, "labels": dict(s.labels), "value": s.value} for s in snapshot.samples
        ],
        "histograms": [
            {
                "name": h.name,
                "labels": dict(h.labels),
                "bounds": list(h.bounds),
                "counts": list(h.counts),
                "count": h.count,
                "sum": h.sum,
            }
            for h in snapshot.histograms
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(slots=True)
class _Rendered:
    """What was rendered from one snapshot; replaced whole when the snapshot changes."""

    snapshot: Snapshot
    index: SnapshotIndex
    tag: str
    pages: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    api: bytes | None = None
    api_gzip: bytes | None = None


class MapSite:
    """The page's answers, from the exposition's current snapshot (never computed here)."""

    def __init__(
        self,
        exposition: Served,
        *,
        windows: Sequence[str] = ("7d", "30d", "90d"),
        teams: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.exposition = exposition
        self.windows = list(windows)
        self.teams = {t: list(a) for t, a in (teams or {}).items()}
        self._lock = threading.Lock()
        self._rendered: _Rendered | None = None

    def handles(self, path: str) -> bool:
        return path in ("/", API) or path.startswith("/streams/")

    def _current(self) -> _Rendered | None:
        snapshot = self.exposition.state.snapshot
        if snapshot is None:
            return None
        rendered = self._rendered
        if rendered is None or rendered.snapshot is not snapshot:
            with self._lock:
                rendered = self._rendered
                if rendered is None or rendered.snapshot is not snapshot:
                    rendered = _Rendered(snapshot, SnapshotIndex(snapshot), etag(snapshot))
                    self._rendered = rendered
        return rendered

    def answer(self, path: str, query: str, headers: Mapping[str, str]) -> Answer:
        """The answer to a GET (or HEAD) of ``path?query``; ``path`` as sent, still
        percent-encoded; ``headers`` by lower-case name."""
        rendered = self._current()
        if path == API:
            return self._api(rendered, headers)
        if rendered is None:
            page = message_page(
                "No snapshot yet",
                "The first computation of the metrics has not finished; this page reloads "
                "when it has.",
                poll=True,
            )
            return Answer("503 Service Unavailable", HTML, page.encode(), (("Retry-After", "5"),))
        streams = rendered.index.streams(self.teams)
        try:
            window = self._window(query)
        except ValueError as exc:
            return self._problem("400 Bad Request", "Bad query", str(exc), rendered, streams)
        if path == "/":
            if not streams:
                text = "No work item is done yet in any window, so no value stream has numbers."
                return self._problem("200 OK", "No value stream yet", text, rendered, streams)
            team, app = streams[0]
        else:
            parts = path.removeprefix("/streams/").strip("/").split("/")
            if len(parts) != 2:
                text = "A stream's address is /streams/<team>/<app>; choose one below."
                return self._problem("404 Not Found", "No such stream", text, rendered, streams)
            try:
                team, app = (_decode(p) for p in parts)
            except UnicodeDecodeError:
                text = "The stream's address is not UTF-8 text."
                return self._problem("400 Bad Request", "Bad address", text, rendered, streams)
            if (team, app) not in streams:
                text = f"No value stream of team {team!r} and app {app!r} in the snapshot."
                return self._problem("404 Not Found", "No such stream", text, rendered, streams)
        if window not in self.windows:
            text = f"Window {window} is not configured; use one of {', '.join(self.windows)}."
            return self._problem("404 Not Found", "No such window", text, rendered, streams)
        key = (team, app, window)
        body = rendered.pages.get(key)
        if body is None:
            view = stream_view(rendered.index, team, app, window)
            body = stream_page(view, streams, self.windows, rendered.tag).encode()
            rendered.pages[key] = body  # a bounded set: configured streams times windows
        return Answer("200 OK", HTML, body, (("ETag", rendered.tag),))

    def _window(self, query: str) -> str:
        """The window the query names (``window=720h`` is ``30d``), else the default one."""
        if not query:
            return default_window(self.windows)
        try:
            asked = parse_qs(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise ValueError(f"the query {query!r} cannot be read; write ?window=30d") from None
        unknown = sorted(set(asked) - {"window"})
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; the only one is window")
        values = asked.get("window", [])
        if len(values) != 1:
            raise ValueError("give window once, e.g. ?window=30d")
        try:
            return format_duration(parse_duration(values[0]))
        except ValueError:
            raise ValueError(
                f"window {values[0]!r} is not a duration; use one of {', '.join(self.windows)}"
            ) from None

    def _problem(
        self,
        status: str,
        title: str,
        text: str,
        rendered: _Rendered,
        streams: Sequence[tuple[str, str]],
    ) -> Answer:
        window = default_window(self.windows)
        links = [(stream_href(t, a, window), f"{t} / {a}") for t, a in streams]
        body = message_page(title, text, links).encode()
        return Answer(status, HTML, body)

    def _api(self, rendered: _Rendered | None, headers: Mapping[str, str]) -> Answer:
        if rendered is None:
            error = {"error": "no snapshot yet: the first computation has not finished"}
            return Answer(
                "503 Service Unavailable",
                JSON,
                json.dumps(error).encode(),
                (("Retry-After", "5"), ("Cache-Control", "no-store")),
            )
        common = (
            ("ETag", rendered.tag),
            ("Cache-Control", "no-cache"),
            ("Vary", "Accept-Encoding"),
        )
        if headers.get("if-none-match") == rendered.tag:
            return Answer("304 Not Modified", JSON, b"", common)
        if rendered.api is None:
            rendered.api = snapshot_json(rendered.snapshot)
        if "gzip" in headers.get("accept-encoding", ""):
            if rendered.api_gzip is None:
                rendered.api_gzip = gzip.compress(rendered.api, compresslevel=5)
            return Answer(
                "200 OK", JSON, rendered.api_gzip, (*common, ("Content-Encoding", "gzip"))
            )
        return Answer("200 OK", JSON, rendered.api, common)


def _decode(part: str) -> str:
    """A segment of the raw (still percent-encoded) path as text: a team may hold a ``/``."""
    return unquote(part, errors="strict")


def teams_of(settings: Settings) -> dict[str, list[str]]:
    """The configured teams and their apps, in the configuration's order: the page's order."""
    return {team: list(conf.apps) for team, conf in settings.teams.items()}
