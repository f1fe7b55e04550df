"""Fifty clients posting at once to `serve` for a bounded time: no error, no event lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.fakes.webhook.load import Results, post_for
from tests.fakes.webhook.serve import SOURCE, Serve, write_config

from streamgauge.store import Store

CLIENTS = 50
SECONDS = 8.0


@pytest.mark.slow
def test_fifty_concurrent_clients_lose_nothing(tmp_path: Path, store_url: str) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + f"store:\n  url: '{store_url}'\n", encoding="utf-8")
    serve = Serve(config, tmp_path / "data").start()
    try:
        serve.wait_up()
        results = Results()
        acknowledged = post_for(serve.url, clients=CLIENTS, seconds=SECONDS, results=results)
        deadline = time.monotonic() + 60
        with Store.open(store_url) as store:
            while time.monotonic() < deadline:
                counts = store.event_counts()
                if counts.get((SOURCE, "pending"), 0) == 0:
                    break
                time.sleep(0.2)
            deployments = store.load_dataset().deployments
    finally:
        serve.stop()
    assert results.errors == []
    assert len(acknowledged) >= CLIENTS  # every client got through at least once
    assert counts == {(SOURCE, "normalized"): len(acknowledged)}
    assert {d.id for d in deployments} == {
        f"{SOURCE}:deployment:{event_id}" for event_id in acknowledged
    }
