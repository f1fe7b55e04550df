"""Slices of at most six months, split in halves where offset paging would pass its cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from tests.connectors.pagerduty.conftest import NOW, Factory
from tests.fakes.pagerduty import TOKEN, FakePagerDuty, generate_account

from streamgauge.connectors.pagerduty.streams import Window, slices
from streamgauge.store import Store
from streamgauge.sync import sync_source

BUSY = "PBUSY01"


def test_slices_cover_the_range_without_gaps_or_overlap() -> None:
    start = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)  # a fraction of a second dropped
    end = datetime(2026, 3, 12, tzinfo=UTC)
    got = slices(start, end, timedelta(days=30))
    # 1 Jan -> 31 Jan -> 2 Mar -> 12 Mar (the last one shorter)
    assert got == [
        Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)),
        Window(datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        Window(datetime(2026, 3, 2, tzinfo=UTC), end),
    ]
    assert slices(end, end, timedelta(days=30)) == []


def test_a_window_halves_on_whole_seconds_until_it_cannot() -> None:
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC))
    halves = window.halves()
    assert halves is not None
    # 5 s -> 2 s and 3 s
    assert [h.until - h.since for h in halves] == [timedelta(seconds=2), timedelta(seconds=3)]
    one = Window(window.since, window.since + timedelta(seconds=1))
    assert one.halves() is None


def busy(count: int) -> FakePagerDuty:
    """One service with ``count`` incidents in the 30 days before NOW."""
    account = generate_account(5, services={BUSY: count}, start=NOW - timedelta(days=30), days=30)
    return FakePagerDuty(account, offset_cap=500)


@pytest.mark.parametrize("honour_total", [True, False])
def test_a_slice_over_the_cap_is_split_and_read_whole(
    honour_total: bool, connector_for: Factory, sqlite_store: Store
) -> None:
    # 1,200 incidents in one 30-day slice; the cap is 500 (offset + limit), pages hold 100.
    fake = busy(1200)
    fake.honour_total = honour_total
    with fake:
        connector = connector_for(
            fake,
            offset_cap=500,
            services={BUSY: {"app": "busy"}},
            history="30d",
            slice="30d",
        )
        outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert fake.cap_refusals == 0  # never asked past the cap
        asked = fake.list_requests()
    for query in asked:
        assert int(query["offset"][0]) + int(query["limit"][0]) <= 500
    stored = {i.key for i in sqlite_store.load_dataset().incidents}
    assert stored == {i.id for i in fake.account.incidents}
    assert len(stored) == 1200
    # the slice was split: some request covers less than the whole 30 days
    spans = {
        datetime.fromisoformat(q["until"][0]) - datetime.fromisoformat(q["since"][0]) for q in asked
    }
    assert min(spans) < timedelta(days=30)


def test_the_fake_refuses_paging_past_the_cap_with_pagerdutys_error() -> None:
    with busy(10) as fake:
        answer = requests.get(
            f"{fake.url}/incidents",
            params={"offset": 450, "limit": 100},
            headers={"Authorization": f"Token token={TOKEN}"},
            timeout=5,
        )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["code"] == 2001
    assert body["error"]["message"] == "Invalid Input Provided"


@pytest.mark.slow
def test_the_real_cap_of_ten_thousand(connector_for: Factory, sqlite_store: Store) -> None:
    # 10,050 incidents in one slice: more than classic paging reaches (offset + limit <= 10,000)
    account = generate_account(9, services={BUSY: 10_050}, start=NOW - timedelta(days=30), days=30)
    with FakePagerDuty(account) as fake:
        connector = connector_for(
            fake, services={BUSY: {"app": "busy"}}, history="30d", slice="30d"
        )
        outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert fake.cap_refusals == 0
    assert sqlite_store.counts()["incident"] == 10_050


def test_a_long_history_is_read_in_slices_of_at_most_six_months(
    fake_small: FakePagerDuty, connector_for: Factory, sqlite_store: Store
) -> None:
    # 400 days in slices of 180: 180 + 180 + 40 days, three requests a service; the fake
    # refuses any range over six months, as PagerDuty does
    connector = connector_for(fake_small, history="400d", slice="180d")
    outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
    assert outcome.ok, outcome.error
    spans = [
        (datetime.fromisoformat(q["until"][0]) - datetime.fromisoformat(q["since"][0])).days
        for q in fake_small.list_requests()
    ]
    assert spans == [180, 180, 40] * 2
    # "Old outage" (1 Dec 2025) is within the 400 days this time
    assert "Old outage" in {i.title for i in sqlite_store.load_dataset().incidents}


def test_the_fake_refuses_more_than_six_months(fake_small: FakePagerDuty) -> None:
    answer = requests.get(
        f"{fake_small.url}/incidents",
        params={"since": "2025-01-01T00:00:00Z", "until": "2025-12-01T00:00:00Z"},
        headers={"Authorization": f"Token token={TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 2001
