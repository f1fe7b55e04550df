"""Syncing the small account: what each incident becomes, what is asked, and incremental resync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.connectors.pagerduty.conftest import CHECKOUT, NOW, SEARCH, Factory, at
from tests.fakes.pagerduty import TOKEN, FakePagerDuty

from streamgauge.connectors.pagerduty.client import ACCEPT
from streamgauge.model import Incident, Severity
from streamgauge.store import Store
from streamgauge.sync import sync_source


def incidents(store: Store) -> dict[str, Incident]:
    return {i.title: i for i in store.load_dataset().incidents}


def test_incidents_are_normalized(
    fake_small: FakePagerDuty, connector_for: Factory, store: Store
) -> None:
    outcome = sync_source(connector_for(fake_small), store, clock=lambda: NOW)
    assert outcome.ok, outcome.error
    assert outcome.skipped == 1  # "Garbled": its created_at is no timestamp
    found = incidents(store)
    # "Old outage" (1 Dec 2025) is older than the 90 days the first sync reads (from 31 Dec).
    assert sorted(found) == [
        "Cart empty",
        "Checkout returns 500",
        "Search index stale",
        "Slow checkout",
    ]
    one = found["Checkout returns 500"]
    native = fake_small.account.incidents[0].id
    assert one.id == f"pagerduty:incident:{native}"
    assert one.key == native
    assert (one.opened_at, one.resolved_at) == (at(6, 9), at(6, 11))
    assert (one.severity, one.original_severity) == (Severity.CRITICAL, "P1")
    # the checkout service maps to app checkout; team payments lists that app
    assert (one.team, one.app) == ("payments", "checkout")
    assert one.deployment_id is None  # PagerDuty names no deployment: blame is by app and time
    slow = found["Slow checkout"]
    # acknowledged at 10:15, so last_status_change_at is 10:15, but it is not resolved
    assert slow.resolved_at is None
    assert (slow.severity, slow.original_severity) == (Severity.LOW, "low")
    # P3 -> medium; the search service names its own team
    stale = found["Search index stale"]
    assert (stale.severity, stale.original_severity) == (Severity.MEDIUM, "P3")
    assert (stale.team, stale.app, stale.resolved_at) == ("discovery", "search", at(15, 8, 30))
    # P9 is in no rule: the urgency (high) decides
    cart = found["Cart empty"]
    assert (cart.severity, cart.original_severity) == (Severity.HIGH, "high")


def test_requests_are_bounded_slices_of_one_service(
    fake_small: FakePagerDuty, connector_for: Factory, sqlite_store: Store
) -> None:
    assert sync_source(connector_for(fake_small), sqlite_store, clock=lambda: NOW).ok
    assert fake_small.accept == {ACCEPT}
    asked = fake_small.list_requests()
    # 90 days in slices of 30: 31 Dec 12:00 -> 30 Jan 12:00 -> 1 Mar 12:00 -> 31 Mar 12:00,
    # one request each (every slice holds fewer than 100), for each of the two services
    assert len(asked) == 6
    for query in asked:
        assert len(query["service_ids[]"]) == 1
        assert query["urgencies[]"] == ["high", "low"]
        since = datetime.fromisoformat(query["since"][0])
        until = datetime.fromisoformat(query["until"][0])
        assert timedelta(0) < until - since <= timedelta(days=30)
    windows = [(q["service_ids[]"][0], q["since"][0], q["until"][0]) for q in asked]
    assert windows[:3] == [
        (CHECKOUT, "2025-12-31T12:00:00Z", "2026-01-30T12:00:00Z"),
        (CHECKOUT, "2026-01-30T12:00:00Z", "2026-03-01T12:00:00Z"),
        (CHECKOUT, "2026-03-01T12:00:00Z", "2026-03-31T12:00:00Z"),
    ]
    assert [w[0] for w in windows[3:]] == [SEARCH] * 3


def test_incremental_sync_reads_new_incidents_and_the_resolution_of_open_ones(
    fake_small: FakePagerDuty, connector_for: Factory, store: Store
) -> None:
    connector = connector_for(fake_small)
    assert sync_source(connector, store, clock=lambda: NOW).ok
    state = json.loads(store.get_cursor("pagerduty", "incidents") or "{}")
    account = fake_small.account
    slow, garbled, cart = account.incidents[1], account.incidents[3], account.incidents[4]
    # the cursor stops at the sync's start and remembers what was open: "Slow checkout" and
    # "Cart empty" on checkout, "Garbled" (triggered, though it could not be normalized) on search
    assert state == {
        CHECKOUT: {"since": NOW.isoformat(), "open": sorted([slow.id, cart.id])},
        SEARCH: {"since": NOW.isoformat(), "open": [garbled.id]},
    }
    # two days later: "Slow checkout" was resolved on 1 Apr 09:00, a new search incident came
    slow.resolved_at = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    account.add(
        SEARCH,
        "Query timeouts",
        datetime(2026, 4, 1, 10, 0, tzinfo=UTC),
        resolved_at=datetime(2026, 4, 1, 10, 20, tzinfo=UTC),
    )
    later = NOW + timedelta(days=2)
    before = len(fake_small.requests)
    outcome = sync_source(
        connector_for(fake_small, clock=lambda: later), store, clock=lambda: later
    )
    assert outcome.ok, outcome.error
    asked = fake_small.requests[before:]
    # one slice per service, from the cursor less the 10 minute overlap to the sync's start,
    # then the three open incidents one by one
    lists = [q for path, q in asked if path == "/incidents"]
    assert [(q["since"][0], q["until"][0]) for q in lists] == [
        ("2026-03-31T11:50:00Z", "2026-04-02T12:00:00Z")
    ] * 2
    assert sorted(path for path, _ in asked if path != "/incidents") == sorted(
        f"/incidents/{i}" for i in (slow.id, cart.id, garbled.id)
    )
    found = incidents(store)
    assert found["Slow checkout"].resolved_at == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert found["Query timeouts"].app == "search"
    state = json.loads(store.get_cursor("pagerduty", "incidents") or "{}")
    assert state[CHECKOUT] == {"since": later.isoformat(), "open": [cart.id]}
    # a third sync with nothing new: two list requests and the two still open, nothing changed
    third = later + timedelta(hours=1)
    before = len(fake_small.requests)
    again = sync_source(connector_for(fake_small, clock=lambda: third), store, clock=lambda: third)
    assert again.ok
    assert len(fake_small.requests) - before == 4
    assert again.written.changed == 0


def test_the_token_travels_only_in_the_authorization_header(
    fake_small: FakePagerDuty, connector_for: Factory, sqlite_store: Store
) -> None:
    connector = connector_for(fake_small)
    assert sync_source(connector, sqlite_store, clock=lambda: NOW).ok
    assert connector.client.session.headers["Authorization"] == f"Token token={TOKEN}"
    for query in fake_small.list_requests():
        assert TOKEN not in json.dumps(query)
    assert TOKEN not in repr(connector.pd_config)


def test_health_counts_the_requests_the_skip_and_the_budget_left(
    fake_small: FakePagerDuty, connector_for: Factory, sqlite_store: Store
) -> None:
    assert sync_source(connector_for(fake_small), sqlite_store, clock=lambda: NOW).ok
    (health,) = sqlite_store.health()
    assert health.source == "pagerduty"
    assert health.api_calls_total == len(fake_small.requests) == 6
    assert health.skipped_total == 1
    # the fake counts down from 960 a minute: 959 after the first answer, 954 after the sixth
    assert health.rate_limit_remaining == 954
    # every incident read is kept raw, with the web address PagerDuty gave, even the garbled one
    raws = list(sqlite_store.iter_raw("pagerduty", "incidents"))
    assert len(raws) == 5
    assert {r.url for r in raws} == {
        f"https://acme.pagerduty.com/incidents/{i.id}" for i in fake_small.account.incidents[:5]
    }


def test_an_open_incident_gone_since_is_dropped_from_the_cursor(
    fake_small: FakePagerDuty, connector_for: Factory, sqlite_store: Store
) -> None:
    assert sync_source(connector_for(fake_small), sqlite_store, clock=lambda: NOW).ok
    account = fake_small.account
    cart = account.incidents[4]
    account.incidents.remove(cart)  # merged into another incident: its id now answers 404
    later = NOW + timedelta(hours=1)
    outcome = sync_source(
        connector_for(fake_small, clock=lambda: later), sqlite_store, clock=lambda: later
    )
    assert outcome.ok, outcome.error
    state = json.loads(sqlite_store.get_cursor("pagerduty", "incidents") or "{}")
    assert state[CHECKOUT]["open"] == [account.incidents[1].id]  # "Slow checkout" only
    # what was stored of it stays: the store keeps history, the cursor stops asking
    assert "Cart empty" in incidents(sqlite_store)
