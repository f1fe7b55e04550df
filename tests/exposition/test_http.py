"""The HTTP port stays available: idle connections, bodies on GET, HEAD, its configured limits."""

from __future__ import annotations

import http.client
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamgauge.config import ConfigError, ServerConfig, load_settings
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.exposition.http import WebApp, make_server, stop_server
from streamgauge.metrics.snapshot import Snapshot

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def exposition() -> Exposition:
    snap = Snapshot(computed_at=NOW)
    snap.add("streamgauge_deployments_total", 5, team="pay", app="checkout", result="success")
    return Exposition(ServedState(snapshot=snap, sources=("demo",)))


class Running:
    def __init__(self, limits: ServerConfig) -> None:
        self.exposition = exposition()
        self.server = make_server(
            WebApp(self.exposition, lambda: (True, "ready")),
            host="127.0.0.1",
            port=0,
            threads=2,
            limits=limits,
        )
        self.port: int = self.server.effective_port  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def get(self, path: str, *, method: str = "GET") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def stop(self) -> None:
        stop_server(self.server)
        self.thread.join(timeout=10)


@pytest.fixture
def running() -> Iterator[Running]:
    srv = Running(ServerConfig())
    yield srv
    srv.stop()


def test_metrics_and_healthz_answer_while_300_idle_connections_are_held(
    running: Running,
) -> None:
    # waitress's own default closed the port to new connections at 100 open ones.
    idle: list[socket.socket] = []
    try:
        for _ in range(300):
            idle.append(running.connect())
        time.sleep(0.5)  # let the server accept them all before asking
        assert running.get("/healthz") == (200, b"ok\n")
        status, body = running.get("/metrics")
        assert status == 200
        assert b'streamgauge_deployments_total{app="checkout",result="success",team="pay"}' in body
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    srv = Running(ServerConfig(idle_timeout=timedelta(seconds=2)))
    try:
        sock = srv.connect()
        sock.settimeout(15)
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server closed it without being asked anything
        waited = time.monotonic() - started
        sock.close()
        # closed after the 2 s timeout, at most one 1 s cleanup pass (2 // 4 -> 1 s) late, plus
        # scheduling slack
        assert 1.5 <= waited <= 6, waited
    finally:
        srv.stop()


def _open_temp_files(folder: Path) -> list[str]:
    """Files this process holds open under ``folder`` (an unlinked temp file included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_a_body_sent_with_get_is_dropped_and_never_spooled_to_disk(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where waitress would spool it
    size = 800 * 1024  # below the 1 MiB body limit, above waitress's 512 KiB spool threshold
    sock = running.connect()
    try:
        head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
        sock.sendall(head + b"x" * (size - 1024))
        time.sleep(0.5)  # the server has read what was sent; the body is not complete yet
        assert _open_temp_files(tmp_path) == []
        # The rest of the body, then a second request on the same connection: both answered,
        # so the body was read off the socket, not left to be parsed as a request.
        sock.sendall(b"x" * 1024 + b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"ready\n")


def test_a_get_body_over_the_limit_is_refused() -> None:
    srv = Running(ServerConfig(max_request_body=4096))
    try:
        sock = srv.connect()
        head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n"
        sock.sendall(head)
        answer = sock.recv(65536)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413 ")
    finally:
        srv.stop()


def test_head_answers_the_headers_of_get_without_the_body(running: Running) -> None:
    _, metrics = running.get("/metrics")
    sock = running.connect()
    try:
        sock.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert f"Content-Length: {len(metrics)}".encode() in head
    assert rest == b""


def test_server_limits_are_read_from_config_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGAUGE_SERVER__CONNECTION_LIMIT", "2500")
    settings = load_settings(
        overrides={"server": {"idle_timeout": "30s", "max_request_body": 65536}}
    )
    assert settings.server.connection_limit == 2500
    assert settings.server.idle_timeout == timedelta(seconds=30)
    assert settings.server.max_request_body == 65536
    defaults = ServerConfig()
    assert defaults.connection_limit >= 300
    assert defaults.idle_timeout == timedelta(seconds=60)


def test_a_bad_server_limit_names_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides={"server": {"connection_limit": 5, "idle_timeout": "0s"}})
    text = str(caught.value)
    assert "server.connection_limit: must be at least 10 (got 5)" in text
    assert "server.idle_timeout: must be longer than zero" in text
