"""Fixtures for the PagerDuty connector: a small hand-made account, the fake, connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.fakes.pagerduty import TOKEN, FakeAccount, FakePagerDuty

from streamgauge.config import Settings
from streamgauge.connectors.pagerduty import PagerdutyConfig, PagerdutyConnector

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
CHECKOUT = "PCHK001"
SEARCH = "PSRCH01"
Factory = Callable[..., PagerdutyConnector]


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in March 2026, UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def small_account() -> FakeAccount:
    """Two services; the tests' comments work out their numbers by hand."""
    account = FakeAccount()
    account.service(CHECKOUT, "Checkout API")
    account.service(SEARCH, "Search")
    # 1: checkout, P1 and high urgency, 6 Mar 09:00, acknowledged 09:05, resolved 11:00.
    account.add(
        CHECKOUT,
        "Checkout returns 500",
        at(6, 9),
        priority="P1",
        acknowledged_at=at(6, 9, 5),
        resolved_at=at(6, 11),
    )
    # 2: checkout, low urgency, no priority, 20 Mar 10:00, acknowledged 10:15, still open.
    account.add(
        CHECKOUT, "Slow checkout", at(20, 10), urgency="low", acknowledged_at=at(20, 10, 15)
    )
    # 3: search, P3, 15 Mar 08:00, resolved 08:30.
    account.add(SEARCH, "Search index stale", at(15, 8), priority="P3", resolved_at=at(15, 8, 30))
    # 4: search, a `created_at` that is no timestamp: skipped and counted.
    account.add(SEARCH, "Garbled", at(16, 8), malformed=True)
    # 5: checkout, a priority no rule names ("P9") and high urgency, 28 Mar 12:00, triggered.
    account.add(CHECKOUT, "Cart empty", at(28, 12), priority="P9")
    # 6: checkout, 1 Dec 2025: before the 90 days the first sync reads.
    account.add(
        CHECKOUT,
        "Old outage",
        datetime(2025, 12, 1, tzinfo=UTC),
        resolved_at=datetime(2025, 12, 1, 1, tzinfo=UTC),
    )
    return account


SETTINGS = Settings(teams={"payments": {"apps": ["checkout"]}})


@pytest.fixture
def fake_small() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(small_account()) as fake:
        yield fake


def pd_config(fake: FakePagerDuty, **overrides: Any) -> PagerdutyConfig:
    values: dict[str, Any] = {
        "name": "pagerduty",
        "type": "pagerduty",
        "base_url": fake.url,
        "token": TOKEN,
        "services": {CHECKOUT: {"app": "checkout"}, SEARCH: {"app": "search", "team": "discovery"}},
        "backoff": 0.01,
        "timeout": 5,
    }
    values.update(overrides)
    return PagerdutyConfig(**values)


class Sleeps(list[float]):
    """Records the back-off sleeps instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connector_for(sleeps: Sleeps) -> Iterator[Factory]:
    made: list[PagerdutyConnector] = []

    def make(
        fake: FakePagerDuty,
        settings: Settings = SETTINGS,
        *,
        clock: Callable[[], datetime] = lambda: NOW,
        offset_cap: int | None = None,
        **overrides: Any,
    ) -> PagerdutyConnector:
        connector = PagerdutyConnector(
            pd_config(fake, **overrides),
            settings,
            clock=clock,
            sleep=sleeps,
            **({"offset_cap": offset_cap} if offset_cap is not None else {}),
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
