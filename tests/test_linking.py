"""Cross-tool joins: keys in text, the deployment that shipped a change, incident blame."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import at, change, deployment, incident, work_item

from streamgauge.linking import Links, find_keys
from streamgauge.model import Dataset, Environment, RunResult, Severity

DAY = timedelta(days=1)


def test_keys_in_capitals_are_found_in_order_once_each() -> None:
    keys = find_keys("PAY-12: refunds (see PAY-7, PAY-12)", None, "OPS-3 follow-up")
    assert keys == ("PAY-12", "PAY-7", "OPS-3")


def test_lower_case_words_are_not_keys_without_a_project_list() -> None:
    # "utf-8" and "feature/pay-3" look like keys in lower case; only capitals count by default
    assert find_keys("switch to utf-8", "feature/pay-3-refunds") == ()


def test_project_list_accepts_any_case_and_drops_look_alikes() -> None:
    keys = find_keys("feature/pay-3-refunds", "hash with SHA-256", "Fixes PAY-4", projects=["PAY"])
    assert keys == ("PAY-3", "PAY-4")


def test_keys_inside_longer_tokens_are_not_split_out() -> None:
    # "XPAY-1" is one key of project XPAY; "PAY-1x" is not a key at all
    assert find_keys("XPAY-1 and PAY-1x") == ("XPAY-1",)


def test_work_items_are_found_by_key() -> None:
    item = work_item(created_at=at(), key="PAY-9")
    links = Links.build(Dataset(work_items=[item]), incident_window=DAY)
    assert links.work_items_for(["PAY-1", "PAY-9"]) == [item]


def test_change_is_shipped_by_the_first_successful_production_deployment() -> None:
    # The change's commits c1 and c2 reach production in two deployments; the earlier one ships
    # it. A staging deployment and a failed production one earlier still do not count.
    staging = deployment(
        finished_at=at(days=1), commit_shas=("c1",), environment=Environment.STAGING
    )
    failed = deployment(finished_at=at(days=2), commit_shas=("c1",), result=RunResult.FAILURE)
    second = deployment(finished_at=at(days=5), commit_shas=("c2", "m"))
    first = deployment(finished_at=at(days=3), commit_shas=("c1",), app="other-app")
    pr = change(created_at=at(), merged_at=at(hours=1), merge_sha="m", commit_shas=("c1", "c2"))
    links = Links.build(
        Dataset(deployments=[staging, failed, second, first], changes=[pr]), incident_window=DAY
    )
    # first (day 3, another app: any app counts) beats second (day 5)
    assert links.shipping_deployment(pr) == first
    assert links.shipping_deployment_of_commit("c2") == second
    assert links.shipping_deployment_of_commit("nope") is None


def test_deployment_sha_counts_as_shipped_and_unknown_commits_ship_nothing() -> None:
    d = deployment(finished_at=at(days=1), sha="m")
    shipped = change(created_at=at(), merged_at=at(hours=1), merge_sha="m")
    lost = change(created_at=at(), merged_at=at(hours=1), merge_sha="zzz")
    links = Links.build(Dataset(deployments=[d]), incident_window=DAY)
    assert links.shipping_deployment(shipped) == d
    assert links.shipping_deployment(lost) is None


def test_incident_is_blamed_on_its_explicit_deployment() -> None:
    # The explicit link wins even though a later deployment of the same app is nearer.
    named = deployment(finished_at=at(days=1))
    nearer = deployment(finished_at=at(days=3))
    inc = incident(opened_at=at(days=3, hours=1), deployment_id=named.id)
    links = Links.build(Dataset(deployments=[named, nearer], incidents=[inc]), incident_window=DAY)
    assert links.blame[inc.id] == named
    assert inc.id in links.blame_explicit
    assert links.incidents_of[named.id] == [inc]


def test_incident_is_inferred_on_latest_success_of_the_app_within_the_window() -> None:
    # window 24 h; incident opens day 3 06:00
    #   day 2 12:00 success (18 h before)  <- latest success within 24 h: blamed
    #   day 3 03:00 failure (3 h before)   <- failures are not candidates
    #   day 3 04:00 success of another app <- other apps are not candidates
    #   day 3 07:00 success (after opening) <- too late
    older = deployment(finished_at=at(days=2, hours=12))
    failure = deployment(finished_at=at(days=3, hours=3), result=RunResult.FAILURE)
    elsewhere = deployment(finished_at=at(days=3, hours=4), app="search")
    later = deployment(finished_at=at(days=3, hours=7))
    # an explicit id naming no known deployment falls back to inference
    inc = incident(opened_at=at(days=3, hours=6), deployment_id="test:deployment:gone")
    links = Links.build(
        Dataset(deployments=[later, elsewhere, failure, older], incidents=[inc]),
        incident_window=DAY,
    )
    assert links.blame[inc.id] == older
    assert inc.id not in links.blame_explicit


def test_incident_with_no_deployment_in_the_window_stays_unattributed() -> None:
    # The only deployment is 3 days before the incident: outside the 24 h window, so the
    # incident is not pinned on it.
    months_ago = deployment(finished_at=at(days=1))
    inc = incident(opened_at=at(days=4))
    no_app = incident(opened_at=at(days=1, hours=1), app=None)
    links = Links.build(
        Dataset(deployments=[months_ago], incidents=[inc, no_app]), incident_window=DAY
    )
    assert inc.id not in links.blame
    assert no_app.id not in links.blame
    assert links.incidents_of == {}


def test_incident_before_any_deployment_stays_unattributed() -> None:
    d = deployment(finished_at=at(days=2))
    inc = incident(opened_at=at(days=1))
    links = Links.build(Dataset(deployments=[d], incidents=[inc]), incident_window=DAY)
    assert inc.id not in links.blame


def test_longer_incident_window_reaches_further_back() -> None:
    # same records as above, a 4-day window: 3 days before the incident is now inside it
    d = deployment(finished_at=at(days=1))
    inc = incident(opened_at=at(days=4))
    links = Links.build(Dataset(deployments=[d], incidents=[inc]), incident_window=4 * DAY)
    assert links.blame[inc.id] == d


def test_an_incident_below_the_minimum_severity_is_blamed_but_set_aside() -> None:
    # both incidents open an hour after d, which is blamed for each; with min severity high
    # only the critical one counts against d, the low one is set aside, and only the critical
    # one's key names an incident that a fix may fix
    d = deployment(finished_at=at(days=2))
    low = incident(opened_at=at(days=2, hours=1), native_id="1", severity=Severity.LOW)
    critical = incident(opened_at=at(days=2, hours=1), native_id="2", severity=Severity.CRITICAL)
    data = Dataset(deployments=[d], incidents=[low, critical])
    links = Links.build(data, incident_window=DAY, min_severity=Severity.HIGH)
    assert links.blame == {low.id: d, critical.id: d}
    assert links.incidents_of == {d.id: [critical]}
    assert links.set_aside == {d.id: [low]}
    assert (links.counts_key("INC-2"), links.counts_key("INC-1")) == (True, False)
    assert not links.counts_key("INC-404")  # no known incident: of unknown severity
    # by default every incident counts, and so does any key
    every = Links.build(data, incident_window=DAY)
    assert every.incidents_of == {d.id: [low, critical]}
    assert every.set_aside == {}
    assert every.counts_key("INC-404")
