"""The webhook connector: pushed CDEvents and model records, normalized from what was stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import (
    Clock,
    Connector,
    RawRecord,
    SkippableRecord,
    Stream,
    system_clock,
)
from streamgauge.connectors.webhook import envelope
from streamgauge.connectors.webhook.cdevents import Mapper
from streamgauge.connectors.webhook.config import WebhookConfig
from streamgauge.model import Record, RecordError, from_json


@dataclass(frozen=True, slots=True)
class Normalized:
    """What one stored request maps to.

    ``partial``: each record tells part of a change or incident (a CDEvent), to be merged with
    what earlier events told; ``errors``: records of a list that were malformed and skipped.
    """

    records: list[Record]
    partial: bool
    errors: list[str] = field(default_factory=list)


class WebhookConnector(Connector):
    """A source that is sent to rather than read: it has no streams, only a mapping.

    The HTTP side (verify, store, answer) lives in :mod:`.intake`; this class turns
    one stored request into records, the same way every time it is asked.
    """

    type = "webhook"
    config_model = WebhookConfig
    pushed = True

    def __init__(self, config: SourceConfig, settings: Settings, *, clock: Clock = system_clock):
        super().__init__(config, settings, clock=clock)
        self.webhook = cast(WebhookConfig, config)  # checked by Connector.__init__
        self.mapper = Mapper(self.name, self.webhook, settings)

    def streams(self) -> Sequence[Stream]:
        return []

    def normalize_request(
        self,
        content_type: str,
        headers: Mapping[str, str],
        body: bytes,
        parsed: Any = envelope.UNPARSED,
    ) -> Normalized | None:
        """The records of one stored request; None when its event type is of no use.

        Raises :class:`SkippableRecord` naming what is wrong when the request as a whole is
        malformed; a list of records keeps its good ones and names the bad ones in ``errors``.
        ``parsed``: the body already parsed, as for :func:`envelope.read`.
        """
        try:
            read = envelope.read(content_type, headers, body, parsed)
        except envelope.EnvelopeError as exc:
            reason = exc.reason if exc.reason == envelope.TOO_DEEP else "malformed"
            raise SkippableRecord(str(exc), reason=reason) from None
        if read.cdevent is not None:
            records = self.mapper.records(read.cdevent)
            return None if records is None else Normalized(records, partial=True)
        good: list[Record] = []
        errors: list[str] = []
        for n, item in enumerate(read.records, start=1):
            try:
                good.append(self.record(item, f"record {n}"))
            except SkippableRecord as exc:
                errors.append(str(exc))
        if not good and errors:
            raise SkippableRecord("; ".join(errors[:5]))
        return Normalized(good, partial=False, errors=errors)

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        """A raw record holding one request as ``{"content_type", "headers", "body"}``."""
        payload = raw.payload
        body, ctype = payload.get("body"), payload.get("content_type")
        headers = payload.get("headers", {})
        if not isinstance(body, str) or not isinstance(ctype, str) or not isinstance(headers, dict):
            raise SkippableRecord(f"{raw.native_id}: not a stored request")
        normalized = self.normalize_request(ctype, headers, body.encode())
        if normalized is not None and normalized.errors:
            raise SkippableRecord("; ".join(normalized.errors[:5]))
        return normalized.records if normalized is not None else []

    def record(self, data: Any, where: str) -> Record:
        """One record in the model's JSON form (as the file source reads), placed by the rules."""
        if not isinstance(data, dict):
            raise SkippableRecord(f"{where}: not a JSON object")
        data = dict(data)
        data.setdefault("source", self.name)
        try:
            record = from_json(data)
        except (RecordError, ValueError, TypeError) as exc:
            raise SkippableRecord(f"{where}: {exc}") from None
        if record.team is None or record.app is None:
            team, app = self.settings.resolve(
                repo=getattr(record, "repo", None),
                project=getattr(record, "project", None),
                labels=getattr(record, "labels", ()),
                default_team=self.webhook.team,
                default_app=self.webhook.app,
            )
            record = dataclasses.replace(record, team=record.team or team, app=record.app or app)
        return record


def stored_request(content_type: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The raw-record payload form of a request (for :meth:`WebhookConnector.normalize`)."""
    return {"content_type": content_type, "headers": dict(headers), "body": body.decode()}
