"""What a pushed request holds, read from its content type, headers and raw body.

CloudEvents HTTP binding (cloudevents/spec ``cloudevents/bindings/http-protocol-binding.md``):
``application/cloudevents+json`` is the structured mode, the event's attributes in the body and
the CDEvent under ``data``; any other content type with ``ce-*`` headers is the binary mode,
the attributes in the headers (percent-encoded) and the CDEvent as the body. Without either,
a JSON body is a CDEvent when it has ``context`` and ``subject``, else records in the model's
JSON form: one object, an array of them, or JSON Lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STRUCTURED = "application/cloudevents+json"
JSON_TYPES = frozenset({"application/json", "text/json"})
# The reason of a body nested too deep to parse: kept (under the digest of its body) and skipped
# as too_deep when normalized, like any record out of bounds, rather than refused.
TOO_DEEP = "too_deep"
LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})


class EnvelopeError(Exception):
    """The request cannot be read: ``status`` is the HTTP answer, ``reason`` the counter label."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Envelope:
    """A readable request: a CDEvent, or model records, and the key that spots a redelivery."""

    dedup_key: str
    cdevent: Mapping[str, Any] | None = None
    records: list[Any] = field(default_factory=list)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_known(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind == STRUCTURED or kind in JSON_TYPES or kind in LINES_TYPES


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EnvelopeError(400, "unparseable", f"the body is not UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise EnvelopeError(400, "unparseable", f"the body is not JSON ({exc})") from None
    except RecursionError:
        raise EnvelopeError(400, TOO_DEEP, "the body is JSON nested too deep to read") from None


def _ce_header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(f"ce-{name}")
    return urllib.parse.unquote(value) if value is not None else None


def _cdevent_key(event: Mapping[str, Any]) -> str | None:
    context = event.get("context")
    if isinstance(context, Mapping):
        source, event_id = context.get("source"), context.get("id")
        if isinstance(source, str) and isinstance(event_id, str) and source and event_id:
            return "cdevent:" + json.dumps([source, event_id], separators=(",", ":"))
    return None


def fallback_key(headers: Mapping[str, str], body: bytes) -> str:
    webhook_id = headers.get("webhook-id")
    if webhook_id:
        return "webhook-id:" + webhook_id
    return "sha256:" + hashlib.sha256(body).hexdigest()


# ``read``'s default for ``parsed``: the body is parsed there.
UNPARSED: Any = object()


def read(
    content_type: str, headers: Mapping[str, str], body: bytes, parsed: Any = UNPARSED
) -> Envelope:
    """The envelope of a request; raises :class:`EnvelopeError` (415 or 400) when unreadable.

    ``headers`` are keyed by lower-case name. The dedup key is the CDEvent's
    ``(context.source, context.id)``, else the CloudEvent's ``(source, id)``, else the
    ``webhook-id`` header, else a SHA-256 digest of the body. ``parsed``, when given, is the
    body as ``json.loads`` of its UTF-8 text gave it already (the normalizer parses each body
    for the bounds' checks), so it is not parsed twice.
    """
    kind = media_type(content_type)
    if kind == STRUCTURED:
        event = _json(body) if parsed is UNPARSED else parsed
        if not isinstance(event, dict):
            raise EnvelopeError(400, "unparseable", "a structured CloudEvent must be an object")
        data = event.get("data")
        if data is None and isinstance(event.get("data_base64"), str):
            try:
                data = _json(base64.b64decode(event["data_base64"], validate=True))
            except (binascii.Error, ValueError):
                raise EnvelopeError(400, "unparseable", "data_base64 is not base64") from None
        elif isinstance(data, str):
            data = _json(data.encode())
        cdevent = data if isinstance(data, dict) else {}
        key = _cdevent_key(cdevent)
        if key is None and isinstance(event.get("source"), str) and event.get("id"):
            key = "cloudevent:" + json.dumps([event["source"], str(event["id"])])
        return Envelope(key or fallback_key(headers, body), cdevent=cdevent)
    if kind in LINES_TYPES:
        lines = [line for line in body.split(b"\n") if line.strip()]
        return Envelope(fallback_key(headers, body), records=[_json(line) for line in lines])
    if kind not in JSON_TYPES:
        raise EnvelopeError(
            415,
            "unsupported_type",
            f"content type {kind or '(none)'!r} is not one of {STRUCTURED}, application/json, "
            "application/x-ndjson",
        )
    value = _json(body) if parsed is UNPARSED else parsed
    if "ce-specversion" in headers:
        if not isinstance(value, dict):
            raise EnvelopeError(400, "unparseable", "a binary-mode CDEvent must be an object")
        key = _cdevent_key(value)
        ce_source, ce_id = _ce_header(headers, "source"), _ce_header(headers, "id")
        if key is None and ce_source and ce_id:
            key = "cloudevent:" + json.dumps([ce_source, ce_id])
        return Envelope(key or fallback_key(headers, body), cdevent=value)
    if isinstance(value, dict) and "context" in value and "subject" in value:
        return Envelope(_cdevent_key(value) or fallback_key(headers, body), cdevent=value)
    if isinstance(value, list):
        return Envelope(fallback_key(headers, body), records=value)
    return Envelope(fallback_key(headers, body), records=[value])
