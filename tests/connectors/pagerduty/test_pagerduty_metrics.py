"""Change failure rate and recovery time with PagerDuty incidents, worked out by hand."""

from __future__ import annotations

import pytest
from tests.builders import deployment
from tests.connectors.pagerduty.conftest import NOW, Factory, at
from tests.fakes.pagerduty import FakePagerDuty

from streamgauge.config import Settings
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.store import Store
from streamgauge.sync import sync_source

PAYMENTS = {"team": "payments", "app": "checkout"}


def settings(**rules: str) -> Settings:
    return Settings(
        teams={"payments": {"apps": ["checkout"]}}, windows=["30d"], metrics=dict(rules)
    )


@pytest.mark.parametrize("recovery", ["first_restoration", "incident_resolved"])
def test_failure_rate_and_recovery_of_checkout(
    recovery: str, fake_small: FakePagerDuty, connector_for: Factory, store: Store
) -> None:
    rules = settings(recovery=recovery)
    assert sync_source(connector_for(fake_small, rules), store, clock=lambda: NOW).ok
    dataset = store.load_dataset()
    # Four successful production deployments of checkout (from a deployment tool):
    # A ends 6 Mar 08:10, B 12 Mar 14:00, C 20 Mar 09:30, D 21 Mar 09:00.
    a, b, c, d = (
        deployment(finished_at=at(6, 8, 10), native_id="A"),
        deployment(finished_at=at(12, 14), native_id="B"),
        deployment(finished_at=at(20, 9, 30), native_id="C"),
        deployment(finished_at=at(21, 9), native_id="D"),
    )
    dataset.deployments.extend([a, b, c, d])
    snap = compute_all(dataset, now=NOW, settings=rules)

    def value(name: str, **extra: str) -> float | None:
        return snap.values(name).get(labels(**PAYMENTS, window="30d", **extra))

    # The 30d window is (1 Mar 12:00, 31 Mar 12:00]: all four deployments ended in it.
    # PagerDuty incidents of the checkout service (app checkout):
    # - "Checkout returns 500" opened 6 Mar 09:00, 50 min after A, within the 24h window:
    #   A is blamed. It was resolved (`resolved_at`) 6 Mar 11:00.
    # - "Slow checkout" opened 20 Mar 10:00, 30 min after C: C is blamed. Acknowledged at
    #   10:15 (its last_status_change_at) but still open.
    # - "Cart empty" opened 28 Mar 12:00, 7 days after D, outside the window: unattributed.
    # 2 of 4 deployments failed.
    assert value("streamgauge_change_failure_rate_window_ratio") == pytest.approx(0.5)
    quantile = "streamgauge_failed_deployment_recovery_time_window_seconds"
    if recovery == "first_restoration":
        # A recovers at the first restoration: the incident's resolution 6 Mar 11:00 comes
        # before B: 08:10 -> 11:00 = 2h50m = 10,200 s. C's incident is open, so C recovers
        # when D (which did not fail) ended: 20 Mar 09:30 -> 21 Mar 09:00 = 23h30m = 84,600 s.
        # (Taking last_status_change_at as the resolution would give 45 min, 2,700 s.)
        # Type 7 median of [10,200, 84,600]: h = 0.5, 10,200 + 0.5 x 74,400 = 47,400.
        assert value(quantile, percentile="50") == pytest.approx(47_400)
    else:
        # Only the incidents' resolution counts: A recovers in 10,200 s, C not while its
        # incident is open.
        assert value(quantile, percentile="50") == pytest.approx(10_200)
    # "Cart empty" is blamed on no deployment: the one unattributed checkout incident
    unattributed = snap.values("streamgauge_data_quality_records").get(
        labels(**PAYMENTS, reason="incident_unattributed")
    )
    assert unattributed == 1


def test_a_minimum_severity_of_high_leaves_the_low_urgency_incident_out(
    fake_small: FakePagerDuty, connector_for: Factory, store: Store
) -> None:
    rules = settings(incident_min_severity="high")
    assert sync_source(connector_for(fake_small, rules), store, clock=lambda: NOW).ok
    dataset = store.load_dataset()
    severities = {i.title: i.severity.value for i in dataset.incidents if i.app == "checkout"}
    # P1 -> critical; no priority, low urgency -> low; P9 is no named priority, high urgency
    assert severities == {
        "Checkout returns 500": "critical",
        "Slow checkout": "low",
        "Cart empty": "high",
    }
    dataset.deployments.extend(
        [
            deployment(finished_at=at(6, 8, 10), native_id="A"),
            deployment(finished_at=at(12, 14), native_id="B"),
            deployment(finished_at=at(20, 9, 30), native_id="C"),
            deployment(finished_at=at(21, 9), native_id="D"),
        ]
    )
    snap = compute_all(dataset, now=NOW, settings=rules)
    window = labels(**PAYMENTS, window="30d")
    # "Slow checkout" (low) no longer fails C: only A failed, 1 of 4 = 0.25
    rate = snap.values("streamgauge_change_failure_rate_window_ratio")[window]
    assert rate == pytest.approx(0.25)
    # A alone recovers, at its incident's resolution: 08:10 -> 11:00 = 10,200 s
    recovery = snap.values("streamgauge_failed_deployment_recovery_time_window_seconds")
    assert recovery[labels(**PAYMENTS, window="30d", percentile="50")] == pytest.approx(10_200)
    quality = snap.values("streamgauge_data_quality_records")
    # "Slow checkout" is set aside by its severity; "Cart empty" (high) is still unattributed
    assert quality[labels(**PAYMENTS, reason="incident_below_min_severity")] == 1
    assert quality[labels(**PAYMENTS, reason="incident_unattributed")] == 1
