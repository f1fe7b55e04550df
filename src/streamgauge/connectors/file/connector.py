"""The file connector: records in the model's JSON Lines form, from a file or a folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, cast

from pydantic import Field

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import (
    Clock,
    Connector,
    RawRecord,
    SkippableRecord,
    Stream,
    system_clock,
)
from streamgauge.connectors.file.streams import (
    DEFAULT_MAX_LINE_BYTES,
    INVALID,
    REASON,
    JsonLinesStream,
)
from streamgauge.model import Record, RecordError, from_json


class FileConfig(SourceConfig):
    """A .jsonl file, or a folder whose files matching ``pattern`` are read in name order."""

    type: Literal["file"]
    path: Path
    pattern: str = "*.jsonl"
    # a longer line is skipped (and counted) without being held in memory whole
    max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1024, le=1 << 30)


class FileConnector(Connector):
    """Lets a tool with no connector feed streamgauge: it writes records, this reads them."""

    type = "file"
    config_model = FileConfig

    def __init__(self, config: SourceConfig, settings: Settings, *, clock: Clock = system_clock):
        super().__init__(config, settings, clock=clock)
        self.file = cast(FileConfig, config)  # checked by Connector.__init__

    def streams(self) -> Sequence[Stream]:
        return [
            JsonLinesStream(
                self.file.path, self.file.pattern, max_line_bytes=self.file.max_line_bytes
            )
        ]

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        """One line's record, of this source whatever its ``source`` field says (a record can
        never be another source's); team and app from the mappings where it names none.

        The skip message names the file and line (the raw's native id) and the field at fault.
        """
        where = raw.native_id
        if INVALID in raw.payload:
            raise SkippableRecord(
                f"{where}: {raw.payload.get('error', 'not a record')}",
                reason=str(raw.payload.get(REASON, "malformed")),
            )
        data = dict(raw.payload)
        data["source"] = self.name
        try:
            record = from_json(data)
        except RecordError as exc:
            raise SkippableRecord(f"{where}: {exc}", reason=exc.reason) from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise SkippableRecord(f"{where}: {exc}") from None
        if record.team is None or record.app is None:
            team, app = self.settings.resolve(
                repo=getattr(record, "repo", None),
                project=getattr(record, "project", None),
                labels=getattr(record, "labels", ()),
                default_team=self.file.team,
                default_app=self.file.app,
            )
            # A record that names its app but no team belongs to the app's owning team, the
            # team its deployments' and changes' metrics are grouped under.
            owner = self.settings.team_of_app(record.app) if record.app else None
            record = dataclasses.replace(
                record, team=record.team or owner or team, app=record.app or app
            )
        return [record]
