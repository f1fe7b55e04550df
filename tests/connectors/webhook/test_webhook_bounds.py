"""Pushed events are held to the record bounds pulled sources are held to: a poisoned event is
answered 202 and kept, then skipped by reason when normalized, and the events after it land
(each test on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.connectors.webhook.conftest import SOURCE
from tests.fakes.webhook.sender import IntakeServer, post, standard_headers
from tests.fakes.webhook.spec_examples import example

from streamgauge.connectors.webhook.intake import Intake
from streamgauge.store import Store

JSON = {"Content-Type": "application/json"}


def _deployment(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"{SOURCE}:deployment:{name}",
        "environment": "production",
        "started_at": "2026-02-01T10:00:00Z",
        "finished_at": "2026-02-01T10:05:00Z",
        "result": "success",
        **fields,
    }


def _send(server: IntakeServer, body: bytes) -> None:
    assert post(server.url, body, {**JSON, **standard_headers(body)}) == 202


def _json(value: Any) -> bytes:
    # ensure_ascii (the default) writes a NUL or a lone surrogate as its \u escape
    return json.dumps(value).encode()


def _deep_cdevent(levels: int) -> bytes:
    event = example("service.deployed", "0.5.1")
    event["context"]["id"] = "deep"
    text = json.dumps(event)
    # customData nested `levels` lists deep, written as text: json.dumps could not
    nested = "[" * levels + "]" * levels
    return text.replace('"subject":', f'"customData": {nested}, "subject":', 1).encode()


POISONED: dict[str, bytes] = {
    # 100,000 nested lists: no JSON parser of Python reads that
    "too_deep": b"[" * 100_000 + b"]" * 100_000,
    "invalid_text": _json(_deployment("nul", sha="abc\u0000def")),
    "integer_range": _json(
        {
            "kind": "change",
            "id": f"{SOURCE}:change:big",
            "repo": "acme/pay",
            "number": 2**63,
            "state": "open",
            "created_at": "2026-02-01T09:00:00Z",
        }
    ),
    "timestamp_range": _json(_deployment("late", started_at="9999-01-01T00:00:00Z")),
    "invalid_id": _json(_deployment("x" * 2000)),
}


def _skips_by_reason(store: Store) -> dict[str, int]:
    (health,) = [h for h in store.health() if h.source == SOURCE]
    return dict(health.skipped_by_reason)


@pytest.mark.parametrize("reason", sorted(POISONED))
def test_a_poisoned_event_is_skipped_by_reason_and_the_next_lands(
    reason: str, server: IntakeServer, intake: Intake, store: Store
) -> None:
    _send(server, POISONED[reason])
    _send(server, _json(_deployment("after")))
    done = intake.normalize_pending()
    # two events: the poisoned one kept as malformed, the next normalized
    assert (done.events, done.malformed, done.normalized) == (2, 1, 1)
    assert store.event_counts() == {(SOURCE, "malformed"): 1, (SOURCE, "normalized"): 1}
    assert [d.id for d in store.load_dataset().deployments] == [f"{SOURCE}:deployment:after"]
    (skipped,) = store.skipped(SOURCE)
    assert skipped.skip.reason == reason
    assert skipped.skip.stream == "events"
    assert skipped.skip.location.startswith("event 1 ")
    # what streamgauge_sync_records_skipped_total{source, reason} is rendered from
    assert _skips_by_reason(store) == {reason: 1}
    # nothing is left pending: a second pass finds no event, and the count stays
    assert intake.normalize_pending().events == 0
    assert _skips_by_reason(store) == {reason: 1}


def test_a_lone_surrogate_in_a_cdevent_is_skipped(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    event = example("service.deployed", "0.5.1")
    event["subject"]["id"] = "\ud800"
    _send(server, _json(event))
    _send(server, _json(_deployment("after")))
    done = intake.normalize_pending()
    assert (done.malformed, done.normalized) == (1, 1)
    (skipped,) = store.skipped(SOURCE)
    assert skipped.skip.reason == "invalid_text"
    assert "U+D800" in skipped.skip.detail
    assert [d.id for d in store.load_dataset().deployments] == [f"{SOURCE}:deployment:after"]


def test_a_cdevent_nested_past_the_bound_is_skipped_as_too_deep(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    # 200 levels parse, but are over the bound of 64 every raw payload is held to
    _send(server, _deep_cdevent(200))
    done = intake.normalize_pending()
    assert (done.events, done.malformed) == (1, 1)
    (skipped,) = store.skipped(SOURCE)
    assert skipped.skip.reason == "too_deep"
    assert store.load_dataset().deployments == []


def test_one_bad_record_of_a_list_is_skipped_and_the_others_land(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    records = [_deployment("one"), _deployment("late", started_at="9999-01-01T00:00:00Z")]
    _send(server, _json([*records, _deployment("three")]))
    done = intake.normalize_pending()
    # the event is kept as malformed, for a replay once the sender is fixed
    assert (done.events, done.malformed) == (1, 1)
    ids = sorted(d.id for d in store.load_dataset().deployments)
    assert ids == [f"{SOURCE}:deployment:one", f"{SOURCE}:deployment:three"]
    (skipped,) = store.skipped(SOURCE)
    assert (skipped.skip.reason, skipped.skip.record_id) == (
        "timestamp_range",
        f"{SOURCE}:deployment:late",
    )


def test_a_stored_body_that_is_not_utf8_is_malformed_not_mapped_from_a_repaired_text(
    intake: Intake, store: Store
) -> None:
    # The receipt refuses such a body (400), so it is stored here directly, as a store written
    # by hand or by another version could hold it. The normalizer parses each body once for
    # the bounds' checks, from text where a bad byte becomes U+FFFD; the mapping must not be
    # given that repaired parse: this deployment would then land with the sha "ab\ufffd".
    body = _json(_deployment("bad-byte", sha="ab__")).replace(b"__", b"\xff")
    assert store.receive_event(
        source=SOURCE, dedup_key="k1", content_type="application/json", headers={}, body=body
    )
    done = intake.normalize_pending()
    assert (done.events, done.malformed, done.normalized) == (1, 1, 0)
    assert store.load_dataset().deployments == []
    (skipped,) = store.skipped(SOURCE)
    assert "not UTF-8" in skipped.skip.detail
