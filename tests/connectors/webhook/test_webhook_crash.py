"""`serve` killed with SIGKILL at random moments while clients post events, retrying each until
it is acknowledged: after a restart every event is stored and normalized exactly once."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from tests.fakes.webhook.load import Results, deployment_event, post_all
from tests.fakes.webhook.serve import SOURCE, Serve, write_config

from streamgauge.store import Store

EVENTS = 5_000
KILLS = 5
CLIENTS = 8
BOUND_S = 150.0  # the posting stops by then, whatever happens


def wait_normalized(url: str, expected: int, within: float) -> dict[tuple[str, str], int]:
    deadline = time.monotonic() + within
    with Store.open(url) as store:
        while True:
            counts = store.event_counts()
            if counts.get((SOURCE, "normalized"), 0) >= expected or time.monotonic() > deadline:
                return counts
            time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_while_posting_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    serve = Serve(write_config(tmp_path), data_dir).start()
    serve.wait_up()
    bodies = [deployment_event(n) for n in range(EVENTS)]
    results = Results()
    started = time.monotonic()
    poster = threading.Thread(
        target=post_all,
        args=(serve.url, bodies),
        kwargs={"clients": CLIENTS, "results": results, "deadline": started + BOUND_S},
    )
    poster.start()
    # killed when the clients have had so many events acknowledged: at random points of the
    # receiving and of the normalizing that follows it
    rng = random.Random(20261203)
    thresholds = sorted(rng.sample(range(100, EVENTS - 100), KILLS))
    kills = 0
    try:
        for threshold in thresholds:
            while poster.is_alive() and results.acknowledged < threshold:
                time.sleep(rng.uniform(0.001, 0.02))
            if not poster.is_alive():
                break
            serve.kill()
            kills += 1
            serve.start()
            serve.wait_up()
        poster.join()
        counts = wait_normalized(f"sqlite:///{data_dir / 'streamgauge.db'}", EVENTS, 60)
    finally:
        serve.stop()
    assert results.errors == []
    assert results.acknowledged == EVENTS
    assert kills == KILLS, "the server was killed while events were being posted"
    # every event kept once (the dedup key is unique) and normalized once
    assert counts == {(SOURCE, "normalized"): EVENTS}
    with Store.open(f"sqlite:///{data_dir / 'streamgauge.db'}") as store:
        deployments = store.load_dataset().deployments
    expected = {f"{SOURCE}:deployment:deploy-{n:06d}" for n in range(EVENTS)}
    assert len(deployments) == EVENTS
    assert {d.id for d in deployments} == expected
