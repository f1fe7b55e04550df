"""Clients that post numbered, signed CDEvents until each is acknowledged, for load and crashes."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

import requests
from tests.fakes.webhook.sender import as_body, standard_headers
from tests.fakes.webhook.spec_examples import example


def deployment_event(n: int) -> bytes:
    """Deployment number ``n``: the spec's service.deployed with its own id and minute."""
    event = example("service.deployed", "0.5.1")
    event["context"]["id"] = f"deploy-{n:06d}"
    minute = n % (60 * 24 * 28)
    day, rest = divmod(minute, 60 * 24)
    event["context"]["timestamp"] = f"2026-02-{day + 1:02d}T{rest // 60:02d}:{rest % 60:02d}:00Z"
    event["subject"]["content"]["environment"]["id"] = "production"
    return as_body(event)


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    failures: int = 0  # answers that were not 202 nor a refused connection (retried too)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_all(
    url: str,
    bodies: Sequence[bytes],
    *,
    clients: int,
    results: Results,
    deadline: float,
    retry_pause: float = 0.05,
) -> None:
    """Post every body, ``clients`` at a time, each until it is answered 202 (or time is up).

    Each client keeps one HTTP/1.1 connection (http.client: the lightest client at hand, so
    that a benchmark measures the server more than its clients) and opens a new one after an
    error.
    """
    cursor = iter(range(len(bodies)))
    take = threading.Lock()
    parts = urllib.parse.urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            send(connection)
        finally:
            connection.close()

    def send(connection: http.client.HTTPConnection) -> None:
        while True:
            with take:
                n = next(cursor, None)
            if n is None:
                return
            body = bodies[n]
            while True:
                if time.monotonic() > deadline:
                    with results.lock:
                        results.errors.append(f"event {n}: not acknowledged in time")
                    return
                headers = {"Content-Type": "application/json", **standard_headers(body)}
                started = time.perf_counter()
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    answer = connection.getresponse()
                    answer.read()
                except (OSError, http.client.HTTPException):
                    connection.close()  # the next request opens a new connection
                    time.sleep(retry_pause)
                    continue
                took = time.perf_counter() - started
                if answer.status == 202:
                    with results.lock:
                        results.latencies.append(took)
                        results.acknowledged += 1
                    break
                with results.lock:
                    results.failures += 1
                    if answer.status != 503:
                        results.errors.append(f"event {n}: HTTP {answer.status}")
                time.sleep(retry_pause)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def post_for(url: str, *, clients: int, seconds: float, results: Results) -> set[str]:
    """``clients`` clients post new events for ``seconds``; nothing is retried, every answer
    but 202 is an error. Returns the context ids acknowledged."""
    acknowledged: set[str] = set()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        session = requests.Session()
        sent = 0
        while time.monotonic() < stop_at:
            event = example("service.deployed", "0.5.1")
            event_id = f"c{number:02d}-{sent:05d}"
            event["context"]["id"] = event_id
            event["subject"]["content"]["environment"]["id"] = "production"
            body = as_body(event)
            headers = {"Content-Type": "application/json", **standard_headers(body)}
            sent += 1
            started = time.perf_counter()
            try:
                answer = session.post(url, data=body, headers=headers, timeout=30)
            except requests.RequestException as exc:
                with results.lock:
                    results.errors.append(f"{event_id}: {type(exc).__name__}")
                continue
            took = time.perf_counter() - started
            with results.lock:
                if answer.status_code == 202:
                    results.latencies.append(took)
                    results.acknowledged += 1
                    acknowledged.add(event_id)
                else:
                    results.errors.append(f"{event_id}: HTTP {answer.status_code}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged
