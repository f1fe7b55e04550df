"""The map page's routes over real HTTP: /, /streams/<team>/<app>, /api/v1/snapshot."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from tests.exposition.map_example import NOW, example

from streamgauge.config import ServerConfig
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.exposition.http import WebApp, make_server, stop_server
from streamgauge.exposition.site import MapSite
from streamgauge.metrics.snapshot import Snapshot


class Served:
    def __init__(self, snapshot: Snapshot | None) -> None:
        self.exposition = Exposition(ServedState(snapshot=snapshot))
        self.site = MapSite(self.exposition, windows=["7d", "30d"], teams={"pay": ["api"]})
        app = WebApp(self.exposition, lambda: (True, "ready"), site=self.site)
        self.server = make_server(app, host="127.0.0.1", port=0, threads=2, limits=ServerConfig())
        self.port: int = self.server.effective_port  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def get(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        stop_server(self.server)
        self.thread.join(timeout=10)


@pytest.fixture
def served() -> Iterator[Served]:
    srv = Served(example())
    yield srv
    srv.stop()


def test_the_root_shows_the_first_configured_stream_in_the_default_window(served: Served) -> None:
    status, headers, body = served.get("/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "Value stream of pay / api" in page
    assert "Window 30d" in page  # 30d is configured: it is the default
    # the same page as its own address
    assert served.get("/streams/pay/api?window=30d")[2] == body
    assert served.get("/streams/pay/api?window=720h")[2] == body  # 720h is 30d


def test_links_choose_the_stream_and_the_window(served: Served) -> None:
    page = served.get("/")[2].decode()
    assert 'href="/streams/pay/api?window=7d"' in page
    assert 'href="/streams/pay/all?window=30d"' in page
    status, _, body = served.get("/streams/pay/all?window=7d")
    assert status == 200
    assert "Value stream of pay / all" in body.decode()


def test_unknown_streams_and_windows_are_404_and_bad_queries_400(served: Served) -> None:
    for path in ("/streams/nope/api", "/streams/pay/web", "/streams/pay", "/streams/pay/api/x"):
        status, headers, body = served.get(path)
        assert status == 404, path
        assert headers["content-type"].startswith("text/html")
        assert b"No such stream" in body
        assert b'href="/streams/pay/api?window=30d"' in body  # the streams there are
    status, _, body = served.get("/streams/pay/api?window=90d")
    assert status == 404
    assert b"Window 90d is not configured; use one of 7d, 30d." in body
    for query in ("window=soon", "window=7d&window=30d", "colour=red", "window"):
        status, _, body = served.get(f"/streams/pay/api?{query}")
        assert status == 400, query
        assert b"Bad query" in body


def test_a_page_is_rendered_once_per_snapshot(served: Served) -> None:
    first = served.get("/streams/pay/api")[2]
    assert served.site._rendered is not None
    cached = served.site._rendered.pages[("pay", "api", "30d")]
    assert served.get("/streams/pay/api")[2] == first
    assert served.site._rendered.pages[("pay", "api", "30d")] is cached  # not rendered again
    # a new snapshot: deployment frequency 1.5 -> 2.5 per day
    newer = example()
    newer.computed_at = NOW.replace(hour=13)
    newer.samples = [
        replace(s, value=2.5) if s.name == "streamgauge_deployment_frequency_window_per_day" else s
        for s in newer.samples
    ]
    served.exposition.update(ServedState(snapshot=newer))
    again = served.get("/streams/pay/api")[2].decode()
    assert "2.50/day" in again
    assert "1.50/day" not in again


def test_the_api_gives_every_sample_and_histogram_of_the_snapshot(served: Served) -> None:
    status, headers, body = served.get("/api/v1/snapshot")
    assert status == 200
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["computed_at"] == "2026-03-01T12:00:00+00:00"
    snapshot = example()
    assert len(data["samples"]) == len(snapshot.samples)
    got = {(s["name"], tuple(sorted(s["labels"].items()))): s["value"] for s in data["samples"]}
    assert got == {(s.name, s.labels): s.value for s in snapshot.samples}
    assert data["histograms"] == []
    # gzip when asked; the ETag changes with the snapshot, If-None-Match gives 304
    status, zipped, packed = served.get("/api/v1/snapshot", headers={"Accept-Encoding": "gzip"})
    assert zipped["content-encoding"] == "gzip"
    assert gzip.decompress(packed) == body
    tag = headers["etag"]
    assert served.get("/api/v1/snapshot", "HEAD")[1]["etag"] == tag
    assert served.get("/api/v1/snapshot", headers={"If-None-Match": tag})[0] == 304


def test_before_the_first_snapshot_the_page_and_the_api_answer_503() -> None:
    srv = Served(None)
    try:
        status, _, body = srv.get("/api/v1/snapshot")
        assert status == 503
        assert json.loads(body) == {
            "error": "no snapshot yet: the first computation has not finished"
        }
        status, _, body = srv.get("/")
        assert status == 503
        assert b"No snapshot yet" in body
        assert b"<script>" in body  # it reloads itself once a snapshot is served
    finally:
        srv.stop()


def test_a_team_name_with_a_slash_and_angle_brackets_has_its_page() -> None:
    from tests.exposition.map_example import stream

    snapshot = Snapshot(computed_at=NOW)
    stream(snapshot, team="a/<b>", app="x")
    srv = Served(snapshot)
    try:
        status, _, body = srv.get("/streams/a%2F%3Cb%3E/x")
        assert status == 200
        assert b"Value stream of a/&lt;b&gt; / x" in body
    finally:
        srv.stop()
