"""The bottleneck named: growing queues first, then wait share, then %C&A, on worked examples.

Seen at day 30; the 7d window is (day 23, day 30], the 30d one (day 0, day 30]. Every expected
number is computed by hand in the comment beside it. Stages: ``dev`` is an active (process)
status, ``backlog``, ``review`` and ``test`` waiting ones.
"""

from __future__ import annotations

from datetime import timedelta

from tests.builders import at, change, deployment, work_item
from tests.metrics.helpers import NOW, checkout, gauge, settings
from tests.metrics.test_incremental import START, everything, sync
from tests.metrics.test_stages import path

from streamgauge.config import Settings
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.linking import Links
from streamgauge.metrics import compute_all, compute_facts
from streamgauge.metrics.bottleneck import (
    ARRIVALS,
    BOTTLENECK,
    DEPARTURES,
    QUEUE,
    QUEUE_TREND,
    WAIT_SHARE,
    StageEvidence,
    name_bottleneck,
)
from streamgauge.metrics.queues import queues_of
from streamgauge.metrics.stage_metrics import STAGE_CA, STAGE_TIME
from streamgauge.metrics.stages import DELIVERY
from streamgauge.model import ChangeState, Dataset, FlowState, StatusChange, WorkItem

NEW, ACTIVE, WAITING, DONE = FlowState.NEW, FlowState.ACTIVE, FlowState.WAITING, FlowState.DONE


def dataset(*paths: tuple[WorkItem, list[StatusChange]]) -> Dataset:
    return Dataset(
        work_items=[item for item, _ in paths],
        status_changes=[c for _, history in paths for c in history],
    )


def named(snap_samples: dict[tuple[tuple[str, str], ...], float], window: str) -> list[str]:
    """The stages named for payments/checkout in ``window``."""
    return [
        dict(key)["stage"]
        for key, value in snap_samples.items()
        if dict(key)["team"] == "payments"
        and dict(key)["app"] == "checkout"
        and dict(key)["window"] == window
        and value == 1
    ]


def growing_queue() -> Dataset:
    # A: backlog (new) 24-26 = 2 d wait, dev 26-27, done day 27
    a = work_item(created_at=at(days=24), key="PAY-1", flow_state=DONE)
    # B: backlog 24-25 = 1 d wait, dev 25-26, done day 26
    b = work_item(created_at=at(days=24), key="PAY-2", flow_state=DONE)
    # E: dev 24-25, test (waiting) 25-25.5 = 0.5 d wait, done day 25.5
    e = work_item(created_at=at(days=24), key="PAY-3", flow_state=DONE)
    # C and D: dev from day 25, then waiting in test from day 26 and day 28, still there
    c = work_item(created_at=at(days=25), key="PAY-4", flow_state=WAITING)
    d = work_item(created_at=at(days=25), key="PAY-5", flow_state=WAITING)
    return dataset(
        (a, path(a, ("backlog", NEW), (26, "dev", ACTIVE), (27, None, DONE))),
        (b, path(b, ("backlog", NEW), (25, "dev", ACTIVE), (26, None, DONE))),
        (e, path(e, ("dev", ACTIVE), (25, "test", WAITING), (25.5, None, DONE))),
        (c, path(c, ("dev", ACTIVE), (26, "test", WAITING))),
        (d, path(d, ("dev", ACTIVE), (28, "test", WAITING))),
    )


def test_a_growing_queue_wins_over_a_larger_wait_share() -> None:
    snap = compute_all(growing_queue(), now=NOW, settings=settings())
    for window in ("7d", "30d"):  # nothing happened before day 24: both windows see the same
        # wait of the items done (A, B, E): backlog 2 + 1 = 3 d, test 0.5 d; total 3.5 d
        assert checkout(WAIT_SHARE, snap, window, stage="backlog") == 3 / 3.5  # 6/7
        assert checkout(WAIT_SHARE, snap, window, stage="test") == 0.5 / 3.5  # 1/7
        assert checkout(WAIT_SHARE, snap, window, stage="dev") == 0.0  # active only
        # test: C and D wait there at day 30, nobody at the window's start: trend 2 - 0 = +2;
        # arrivals E (25), C (26), D (28) = 3; departures E (25.5) = 1 < 3: it grows
        assert checkout(QUEUE_TREND, snap, window, stage="test") == 2
        assert checkout(ARRIVALS, snap, window, stage="test") == 3
        assert checkout(DEPARTURES, snap, window, stage="test") == 1
        # backlog: A and B created into it (day 24) and gone (26, 25): 2 in, 2 out, trend 0
        assert checkout(ARRIVALS, snap, window, stage="backlog") == 2
        assert checkout(DEPARTURES, snap, window, stage="backlog") == 2
        assert checkout(QUEUE_TREND, snap, window, stage="backlog") == 0
        # dev: in A 26, B 25, E 24, C 25, D 25 = 5; out A 27, B 26, E 25, C 26, D 28 = 5
        assert checkout(ARRIVALS, snap, window, stage="dev") == 5
        assert checkout(DEPARTURES, snap, window, stage="dev") == 5
        # the only growing queue is test's: named though backlog waits 6 times as long
        assert named(snap.values(BOTTLENECK), window) == ["test"]
    # queue now: C and D in test; dev is active (no queue), backlog empty
    assert gauge(snap, QUEUE, team="payments", app="checkout", stage="test") == 2
    assert gauge(snap, QUEUE, team="payments", app="checkout", stage="dev") == 0
    assert gauge(snap, QUEUE, team="payments", app="checkout", stage="backlog") == 0
    # the all groups name the same: payments/checkout is the only pair
    assert gauge(snap, BOTTLENECK, team="all", app="all", window="7d", stage="test") == 1


def test_without_a_growing_queue_the_highest_wait_share_wins() -> None:
    # A: backlog 24-25 (1 d wait), dev 25-26, test 26-29 (3 d wait), done day 29
    a = work_item(created_at=at(days=24), key="PAY-1", flow_state=DONE)
    # B: backlog 24-25.5 (1.5 d wait), dev 25.5-27, done day 27
    b = work_item(created_at=at(days=24), key="PAY-2", flow_state=DONE)
    # K: in dev (active) since day 20, waiting in dev from day 27 on: dev's queue goes from 0
    #   at day 23 to 1 at day 30 (trend +1), though nothing more arrived than departed
    k = work_item(created_at=at(days=20), key="PAY-3", flow_state=WAITING)
    data = dataset(
        (
            a,
            path(a, ("backlog", NEW), (25, "dev", ACTIVE), (26, "test", WAITING), (29, None, DONE)),
        ),
        (b, path(b, ("backlog", NEW), (25.5, "dev", ACTIVE), (27, None, DONE))),
        (k, path(k, ("dev", ACTIVE), (27, "dev", WAITING))),
    )
    snap = compute_all(data, now=NOW, settings=settings())
    # wait: backlog 1 + 1.5 = 2.5 d, test 3 d; total 5.5 d
    assert checkout(WAIT_SHARE, snap, "7d", stage="test") == 3 / 5.5  # 6/11
    assert checkout(WAIT_SHARE, snap, "7d", stage="backlog") == 2.5 / 5.5  # 5/11
    # dev: trend 1 - 0 = +1, arrivals A 25, B 25.5 = 2, departures A 26, B 27 = 2: 2 < 2 is
    #   false, so it does not grow (K moved within dev: neither an arrival nor a departure)
    assert checkout(QUEUE_TREND, snap, "7d", stage="dev") == 1
    assert checkout(ARRIVALS, snap, "7d", stage="dev") == 2
    assert checkout(DEPARTURES, snap, "7d", stage="dev") == 2
    # no queue grows: the highest wait share, test's 6/11, names it
    assert named(snap.values(BOTTLENECK), "7d") == ["test"]


def test_a_tie_on_wait_share_goes_to_the_lowest_complete_and_accurate() -> None:
    # P: dev 24-25, review 25-26 (1 d wait), test 26-27 (1 d wait), back to dev 27-28, done:
    #   test is left backward (to dev, visited before): not C&A; review is left forward
    p = work_item(created_at=at(days=24), key="PAY-1", flow_state=DONE)
    # Q: dev 24-24.5, review 24.5-25.5 (1 d wait), test 25.5-26.5 (1 d wait), done: all C&A
    q = work_item(created_at=at(days=24), key="PAY-2", flow_state=DONE)
    data = dataset(
        (
            p,
            path(
                p,
                ("dev", ACTIVE),
                (25, "review", WAITING),
                (26, "test", WAITING),
                (27, "dev", ACTIVE),
                (28, None, DONE),
            ),
        ),
        (
            q,
            path(
                q,
                ("dev", ACTIVE),
                (24.5, "review", WAITING),
                (25.5, "test", WAITING),
                (26.5, None, DONE),
            ),
        ),
    )
    snap = compute_all(data, now=NOW, settings=settings())
    # wait: review 1 + 1 = 2 d, test 1 + 1 = 2 d; total 4 d: 1/2 each, a tie
    assert checkout(WAIT_SHARE, snap, "7d", stage="review") == 0.5
    assert checkout(WAIT_SHARE, snap, "7d", stage="test") == 0.5
    # %C&A: review 2 of 2 = 1, test 1 of 2 = 0.5: test is named, though review comes first in
    # stream order (dev, review, test)
    ca = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    assert (checkout(ca, snap, "7d", stage="review"), checkout(ca, snap, "7d", stage="test")) == (
        1.0,
        0.5,
    )
    assert named(snap.values(BOTTLENECK), "7d") == ["test"]


def evidence(
    stage: str,
    order: int,
    *,
    queue: int = 0,
    queue_at_start: int = 0,
    arrivals: int = 0,
    departures: int = 0,
    wait_share: float = 0.0,
    ca: float | None = None,
) -> StageEvidence:
    return StageEvidence(
        stage, order, queue, queue_at_start, arrivals, departures, 0.0, wait_share, ca
    )


def test_the_rule_named_is_the_first_key_that_beats_the_runner_up() -> None:
    # two growing queues (trend 3 - 0 and 2 - 1 > 0, departures 0 < arrivals): the larger, 3
    grow_a = evidence("a", 1, queue=3, arrivals=3)
    grow_b = evidence("b", 2, queue=2, queue_at_start=1, arrivals=2, wait_share=0.9)
    assert name_bottleneck([grow_a, grow_b]) == ("a", "growing_queue")
    # equal queues of 2: the higher wait share, b's 0.9 over 0
    grow_a2 = evidence("a", 1, queue=2, arrivals=3)
    assert name_bottleneck([grow_a2, grow_b]) == ("b", "wait_share")
    # nothing grows, equal wait shares and %C&A (None counts as 1): the first in stream order
    flat_a = evidence("a", 1, wait_share=0.5)
    flat_b = evidence("b", 2, wait_share=0.5, ca=1.0)
    assert name_bottleneck([flat_b, flat_a]) == ("a", "stream_order")
    # a lone stage: named by wait share
    assert name_bottleneck([flat_b]) == ("b", "wait_share")


def test_delivery_queues_are_changes_waiting_for_review_and_for_production() -> None:
    item = work_item(created_at=at(days=20), key="PAY-9", flow_state=FlowState.ACTIVE)
    history = path(item, ("dev", NEW), (21, "dev", ACTIVE))
    # c1: opened day 26, no review: in pickup at day 30
    c1 = change(created_at=at(days=26), work_item_keys=("PAY-9",))
    # c2: opened 25, reviewed 26, merged 27, never deployed: in deploy at day 30
    c2 = change(
        created_at=at(days=25),
        first_review_at=at(days=26),
        merged_at=at(days=27),
        merge_sha="s2",
        work_item_keys=("PAY-9",),
    )
    # c3: opened 27, reviewed 28, open: in code_review (a process stage: no queue)
    c3 = change(created_at=at(days=27), first_review_at=at(days=28), work_item_keys=("PAY-9",))
    # c4: closed without merging: when it closed is unknown, it is left out
    c4 = change(created_at=at(days=24), state=ChangeState.CLOSED, work_item_keys=("PAY-9",))
    # c5: opened day 8, merged 10, in production day 11: out of every stage by day 20
    c5 = change(
        created_at=at(days=8), merged_at=at(days=10), merge_sha="s5", work_item_keys=("PAY-9",)
    )
    shipped = deployment(finished_at=at(days=11), commit_shas=("s5",))
    data = Dataset(
        work_items=[item],
        status_changes=history,
        changes=[c1, c2, c3, c4, c5],
        deployments=[shipped],
    )
    facts = compute_facts(data, now=NOW, settings=settings())
    kept = frozenset([*DELIVERY, "dev"])
    links = Links.build(data, incident_window=timedelta())
    queues = queues_of(facts.flows, data.changes, links, kept, since=at(days=20))
    assert sorted(queues.names) == sorted(["PAY-9", c1.id, c2.id, c3.id])  # not c4, c5
    # asked from day 0, c5 is in: its pickup (8-10) and deploy (10-11) visits
    earlier = queues_of(facts.flows, data.changes, links, kept, since=at(days=0))
    assert c5.id in earlier.names
    assert earlier.queued(at(days=10.5))[0][earlier.stages.index("deploy")] == 1
    (pair,) = queues.pairs
    code = {s: i for i, s in enumerate(queues.stages)}
    now_queue = queues.queued(NOW)[0]
    assert (now_queue[code["pickup"]], now_queue[code["deploy"]]) == (1, 1)  # c1; c2
    assert now_queue[code["code_review"]] == 0
    # at day 26.5: c1 and c2 opened, c2 reviewed at 26: pickup holds c1 only; c3 not opened
    assert queues.queued(at(days=26.5))[0][code["pickup"]] == 1
    arrived, departed = (m[0] for m in queues.moves(at(days=23), NOW))
    # pickup: opened c2 (25), c1 (26), c3 (27) = 3; left c2 (26), c3 (28) = 2
    assert (arrived[code["pickup"]], departed[code["pickup"]]) == (3, 2)
    # deploy: c2 merged (27) = 1 in, none out
    assert (arrived[code["deploy"]], departed[code["deploy"]]) == (1, 0)
    # the item: in dev since its creation (day 20), active from 21; not queued at day 30
    assert now_queue[code["dev"]] == 0
    assert queues.queued(at(days=20.5))[0][code["dev"]] == 1  # waiting (new) in dev then
    assert pair == ("payments", "checkout")


def test_every_stream_of_the_demo_names_exactly_one_stage() -> None:
    config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "seed": 3, "start": START.isoformat()}
    )
    demo = DemoConnector(config, Settings())
    now = START + timedelta(days=40)
    data = everything({r.id: r for r in sync(demo, now, {})})
    rules = Settings(
        teams={"payments": {"apps": ["payments-api"]}, "checkout": {"apps": ["checkout-web"]}},
        windows=["1d", "7d", "30d"],
    )
    snap = compute_all(data, now=now, settings=rules)
    streams: dict[tuple[str, str, str], set[str]] = {}
    # a stream's stages: those its items spent time in or entered
    for key in [*snap.values(STAGE_TIME), *snap.values(STAGE_CA)]:
        found = dict(key)
        streams.setdefault((found["team"], found["app"], found["window"]), set()).add(
            found["stage"]
        )
    named_stages: dict[tuple[str, str, str], list[str]] = {}
    for key, value in snap.values(BOTTLENECK).items():
        found = dict(key)
        assert value == 1
        named_stages.setdefault((found["team"], found["app"], found["window"]), []).append(
            found["stage"]
        )
    assert len(streams) > 6  # groups and windows enough to mean something
    assert set(named_stages) == set(streams)
    for group, stages in named_stages.items():
        assert len(stages) == 1, group
        assert stages[0] in streams[group], group
    shares = snap.values(WAIT_SHARE)
    for team, app, window in streams:
        total = sum(
            v
            for k, v in shares.items()
            if dict(k)["team"] == team and dict(k)["app"] == app and dict(k)["window"] == window
        )
        assert abs(total - 1.0) < 1e-9 or total == 0.0  # the shares of a stream add up to 1


def test_leaving_out_what_ended_before_the_windows_changes_no_count() -> None:
    config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "seed": 5, "start": START.isoformat()}
    )
    now = START + timedelta(days=50)
    data = everything({r.id: r for r in sync(DemoConnector(config, Settings()), now, {})})
    facts = compute_facts(data, now=now, settings=Settings(windows=["7d", "30d"]))
    kept = frozenset([*DELIVERY, "intake", "planning", "development", "review", "testing"])
    since = now - timedelta(days=30)
    some = queues_of(facts.flows, data.changes, facts.links, kept, since)
    every = queues_of(facts.flows, data.changes, facts.links, kept, START)
    assert len(some.names) < len(every.names)  # some items and changes were done by then
    assert some.pairs == every.pairs
    # the same stages, maybe coded in another order
    order = [every.stages.index(stage) for stage in some.stages]
    assert sorted(order) == list(range(len(every.stages)))
    for instant in (now, since, now - timedelta(days=7)):
        assert (some.queued(instant) == every.queued(instant)[:, order]).all()
    for start in (since, now - timedelta(days=7)):
        for a, b in zip(some.moves(start, now), every.moves(start, now), strict=True):
            assert (a == b[:, order]).all()
