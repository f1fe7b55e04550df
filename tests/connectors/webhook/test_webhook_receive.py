"""Receiving over real HTTP: signatures, answers, nothing kept of a refused request, and
normalizing from the stored rows (each test on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from tests.connectors.webhook.conftest import SOURCE, make_connector
from tests.fakes.webhook.sender import (
    SECRET,
    IntakeServer,
    as_body,
    binary,
    github_headers,
    post,
    standard_headers,
    structured,
)
from tests.fakes.webhook.spec_examples import example

from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import Intake
from streamgauge.model import Deployment, RunResult
from streamgauge.store import Store

JSON = {"Content-Type": "application/json"}
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW9mLXRoaXJ0eS10d28tYnl0ZXM="


def _signed(event: Any, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    body = as_body(event)
    return body, {**JSON, **standard_headers(body, **kwargs)}


def _stored(store: Store) -> int:
    return sum(store.event_counts().values())


def _rejected(counters: WebhookCounters, reason: str) -> int:
    return counters.get(SOURCE, reason)


def test_a_signed_event_is_kept_before_the_answer_and_normalized_after(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    body, headers = _signed(example("service.deployed", "0.5.1"))
    assert post(server.url, body, headers) == 202
    # answered: the raw request is committed, the records are not made yet
    assert store.event_counts() == {(SOURCE, "pending"): 1}
    assert store.load_dataset().deployments == []
    done = intake.normalize_pending()
    assert (done.events, done.normalized, done.written.inserted) == (1, 1, 1)
    assert store.event_counts() == {(SOURCE, "normalized"): 1}
    (deployment,) = store.load_dataset().deployments
    assert deployment.original_environment == "test123"
    # a second pass finds nothing left and changes nothing
    assert intake.normalize_pending().events == 0


@pytest.mark.parametrize("mode", [structured, binary])
def test_both_cloudevents_modes_are_received(
    mode: Any, server: IntakeServer, intake: Intake, store: Store
) -> None:
    body, headers = mode(example("incident.reported", "0.4.1"))
    assert post(server.url, body, {**headers, **standard_headers(body)}) == 202
    intake.normalize_pending()
    (incident,) = store.load_dataset().incidents
    assert incident.key == "incident-123"


def test_a_redelivery_answers_202_and_stores_nothing_new(
    server: IntakeServer, store: Store, counters: WebhookCounters
) -> None:
    event = example("service.deployed", "0.5.1")
    for _ in range(3):  # each delivery attempt signed anew, as senders do
        body, headers = _signed(event)
        assert post(server.url, body, headers) == 202
    assert _stored(store) == 1
    assert counters.get(SOURCE, "received") == 1
    assert counters.get(SOURCE, "duplicates") == 2


def test_an_unused_event_type_is_accepted_kept_and_ignored(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    event = example("build.finished", "0.5.1")
    event["context"]["type"] = "dev.cdevents.artifact.published.0.2.0"
    body, headers = _signed(event)
    assert post(server.url, body, headers) == 202
    assert intake.normalize_pending().ignored == 1
    assert store.event_counts() == {(SOURCE, "ignored"): 1}
    assert len(store.load_dataset()) == 0


def test_a_malformed_event_is_kept_counted_and_normalized_again_on_replay(
    server: IntakeServer, intake: Intake, store: Store, counters: WebhookCounters
) -> None:
    event = example("service.deployed", "0.5.1")
    del event["subject"]["content"]["environment"]
    body, headers = _signed(event)
    assert post(server.url, body, headers) == 202
    assert intake.normalize_pending().malformed == 1
    assert store.event_counts() == {(SOURCE, "malformed"): 1}
    assert counters.get(SOURCE, "malformed") == 1
    # a replay normalizes it again; it is still malformed, and still kept
    assert store.requeue_events(SOURCE) == 1
    assert intake.normalize_pending().malformed == 1
    assert store.event_counts() == {(SOURCE, "malformed"): 1}


# --- signatures -----------------------------------------------------------------------------


def _one_byte_changed(body: bytes) -> bytes:
    # "0.5.1" -> "0.5.2": still JSON, still a CDEvent, no longer what was signed
    return body.replace(b'"0.5.1"', b'"0.5.2"', 1)


STANDARD_CASES = {
    "wrong secret": (lambda b: (b, standard_headers(b, secret=OTHER_SECRET)), "bad_signature"),
    "bad signature": (
        lambda b: (b, {**standard_headers(b), "webhook-signature": "v1,AAAA"}),
        "bad_signature",
    ),
    "stale timestamp": (
        lambda b: (b, standard_headers(b, at=time.time() - 301)),  # tolerance is 300 s
        "stale_timestamp",
    ),
    "timestamp from the future": (
        lambda b: (b, standard_headers(b, at=time.time() + 301)),
        "stale_timestamp",
    ),
    "body changed by one byte": (
        lambda b: (_one_byte_changed(b), standard_headers(b)),
        "bad_signature",
    ),
    "missing webhook-signature": (
        lambda b: (b, _without(standard_headers(b), "webhook-signature")),
        "missing_signature",
    ),
    "missing webhook-timestamp": (
        lambda b: (b, _without(standard_headers(b), "webhook-timestamp")),
        "missing_signature",
    ),
    "missing webhook-id": (
        lambda b: (b, _without(standard_headers(b), "webhook-id")),
        "missing_signature",
    ),
}


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize("case", sorted(STANDARD_CASES))
def test_standard_webhooks_signature_refusals(
    case: str, server: IntakeServer, store: Store, counters: WebhookCounters
) -> None:
    make, reason = STANDARD_CASES[case]
    body, headers = make(as_body(example("service.deployed", "0.5.1")))
    assert post(server.url, body, {**JSON, **headers}) == 401
    assert _stored(store) == 0
    assert _rejected(counters, reason) == 1


def test_a_signature_within_the_tolerance_and_a_rotated_key_are_accepted(
    server: IntakeServer, store: Store
) -> None:
    body = as_body(example("service.deployed", "0.5.1"))
    headers = standard_headers(body, at=time.time() - 290)
    stamp = headers["webhook-timestamp"]
    old = standard_headers(body, secret=OTHER_SECRET, msg_id=headers["webhook-id"], at=int(stamp))
    # during a rotation the sender signs with both keys; one matching is enough
    headers["webhook-signature"] = f"{old['webhook-signature']} {headers['webhook-signature']}"
    assert post(server.url, body, {**JSON, **headers}) == 202
    assert _stored(store) == 1


@pytest.fixture
def github_server(store: Store, counters: WebhookCounters) -> Any:
    intake = Intake(make_connector(auth="github"), store, counters)
    running = IntakeServer(intake, counters).start()
    yield running
    running.stop()


def test_github_signatures(
    github_server: IntakeServer, store: Store, counters: WebhookCounters
) -> None:
    body = as_body(example("service.deployed", "0.5.1"))
    url = github_server.url
    assert post(url, body, {**JSON, **github_headers(body, secret=OTHER_SECRET)}) == 401
    assert post(url, _one_byte_changed(body), {**JSON, **github_headers(body)}) == 401
    assert post(url, body, JSON) == 401
    assert _stored(store) == 0
    assert _rejected(counters, "bad_signature") == 2
    assert _rejected(counters, "missing_signature") == 1
    assert post(url, body, {**JSON, **github_headers(body)}) == 202
    assert _stored(store) == 1


@pytest.fixture
def bearer_server(store: Store, counters: WebhookCounters) -> Any:
    intake = Intake(make_connector(auth="bearer"), store, counters)
    running = IntakeServer(intake, counters).start()
    yield running
    running.stop()


def test_bearer_tokens_and_the_token_is_never_stored(
    bearer_server: IntakeServer, store: Store
) -> None:
    body = as_body(example("service.deployed", "0.5.1"))
    url = bearer_server.url
    assert post(url, body, {**JSON, "Authorization": f"Bearer {OTHER_SECRET}"}) == 401
    assert post(url, body, {**JSON, "Authorization": f"Basic {SECRET}"}) == 401
    assert post(url, body, JSON) == 401
    assert _stored(store) == 0
    assert post(url, body, {**JSON, "Authorization": f"Bearer {SECRET}"}) == 202
    (event,) = store.pending_events(SOURCE)
    assert "authorization" not in event.headers
    assert SECRET not in json.dumps(event.headers)
    assert event.body == body


# --- other answers --------------------------------------------------------------------------


@pytest.fixture
def small_server(store: Store, counters: WebhookCounters) -> Any:
    intake = Intake(make_connector(max_body=1024), store, counters)
    running = IntakeServer(intake, counters).start()
    yield running
    running.stop()


def test_a_body_over_the_limit_is_refused_with_413(
    small_server: IntakeServer, store: Store, counters: WebhookCounters
) -> None:
    event = example("service.deployed", "0.5.1")
    event["customData"] = {"padding": "x" * 1024}
    body, headers = _signed(event)
    assert post(small_server.url, body, headers) == 413
    # the same over chunked transfer, where no Content-Length announces the size
    response = requests.post(small_server.url, data=iter([body]), headers=headers, timeout=10)
    assert response.status_code == 413
    assert _stored(store) == 0
    assert _rejected(counters, "too_large") == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"<xml/>", "application/xml", 415, "unsupported_type"),
        (b"deploy", "text/plain", 415, "unsupported_type"),
        (b'{"context": ', "application/json", 400, "unparseable"),
        (b"\xff\xfe{}", "application/json", 400, "unparseable"),
        (b"[1, 2]", "application/cloudevents+json", 400, "unparseable"),
    ],
)
def test_unreadable_requests_are_refused_and_nothing_is_kept(
    body: bytes,
    content_type: str,
    status: int,
    reason: str,
    server: IntakeServer,
    store: Store,
    counters: WebhookCounters,
) -> None:
    headers = {"Content-Type": content_type, **standard_headers(body)}
    assert post(server.url, body, headers) == status
    assert _stored(store) == 0
    assert _rejected(counters, reason) == 1


def test_an_unsigned_unreadable_request_is_refused_as_unsigned(
    server: IntakeServer, counters: WebhookCounters
) -> None:
    # the signature is checked first: a stranger learns nothing about what would be read
    assert post(server.url, b"<xml/>", {"Content-Type": "application/xml"}) == 401
    assert _rejected(counters, "missing_signature") == 1


def test_when_the_store_cannot_take_an_event_the_answer_is_503(
    server: IntakeServer, store_url: str, store: Store, counters: WebhookCounters
) -> None:
    body, headers = _signed(example("service.deployed", "0.5.1"))
    # another process breaks the store under the running server
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE webhook_events RENAME TO webhook_events_away")
    response = requests.post(server.url, data=body, headers=headers, timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert _rejected(counters, "unavailable") == 1
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE webhook_events_away RENAME TO webhook_events")
    engine.dispose()
    assert _stored(store) == 0
    # the sender's retry goes through
    assert post(server.url, body, headers) == 202


def test_other_paths_and_methods(server: IntakeServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert requests.get(server.url, timeout=5).status_code == 405
    assert requests.post(f"{base}/webhooks/nobody", data=b"{}", timeout=5).status_code == 404


def test_counters_are_exported_per_source_at_metrics(server: IntakeServer, intake: Intake) -> None:
    good, headers = _signed(example("service.deployed", "0.5.1"))
    post(server.url, good, headers)
    post(server.url, good, headers)  # duplicate
    post(server.url, good, {**JSON, **standard_headers(good, secret=OTHER_SECRET)})
    intake.normalize_pending()
    text = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    one = (("source", SOURCE),)
    assert samples[("streamgauge_webhook_received_total", one)] == 1
    assert samples[("streamgauge_webhook_duplicates_total", one)] == 1
    assert samples[("streamgauge_webhook_normalized_total", one)] == 1
    assert samples[("streamgauge_webhook_pending", one)] == 0
    bad = (("reason", "bad_signature"), ("source", SOURCE))
    assert samples[("streamgauge_webhook_rejected_total", bad)] == 1


def test_a_restart_normalizes_what_was_received_and_counts_from_the_store(
    store_url: str, server: IntakeServer, store: Store
) -> None:
    for kind in ("service.deployed", "service.rolledback"):
        event = example(kind, "0.5.1")
        event["context"]["id"] = kind  # two deployments
        body, headers = _signed(event)
        assert post(server.url, body, headers) == 202
    # the process that received them stops before normalizing; a new one starts on the store
    with Store.open(store_url) as reopened:
        counters = WebhookCounters([SOURCE])
        counters.load(reopened.event_counts())
        assert counters.get(SOURCE, "received") == 2
        fresh = Intake(make_connector(), reopened, counters)
        assert fresh.normalize_pending().normalized == 2
        deployments = reopened.load_dataset().deployments
    assert sorted(d.id for d in deployments) == [
        f"{SOURCE}:deployment:service.deployed",
        f"{SOURCE}:deployment:service.rolledback",
    ]
    assert all(isinstance(d, Deployment) and d.result is RunResult.SUCCESS for d in deployments)


def test_pending_follows_the_store_after_a_replay(
    server: IntakeServer, intake: Intake, store: Store, counters: WebhookCounters
) -> None:
    event = example("service.deployed", "0.5.1")
    del event["subject"]["content"]["environment"]
    body, headers = _signed(event)
    post(server.url, body, headers)
    assert counters.get(SOURCE, "pending") == 1
    intake.normalize_pending()
    assert counters.get(SOURCE, "pending") == 0
    # another process (streamgauge replay) puts it back in line: the next pass sees it
    store.requeue_events(SOURCE)
    intake.normalize_pending(limit=0)
    assert counters.get(SOURCE, "pending") == 1
    intake.normalize_pending()
    assert counters.get(SOURCE, "pending") == 0
    assert counters.get(SOURCE, "malformed") == 2  # normalized, and counted, twice


def test_secrets_and_tokens_never_reach_the_log(
    bearer_server: IntakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = as_body(example("service.deployed", "0.5.1"))
    wrong = "Bearer not-the-secret-but-close"
    with caplog.at_level("DEBUG"):
        post(bearer_server.url, body, {**JSON, "Authorization": wrong})
        post(bearer_server.url, body, {**JSON, "Authorization": f"Bearer {SECRET}"})
    assert "request refused (401 bad_signature)" in caplog.text
    assert SECRET not in caplog.text
    assert "not-the-secret-but-close" not in caplog.text
