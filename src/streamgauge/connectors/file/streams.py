"""Reading JSON Lines files incrementally: a byte offset per file, whole lines only."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from streamgauge.connectors.base import FatalError, Page, RawRecord, Stream, SyncContext

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
INVALID = "_invalid_line"  # payload key of a line that is not a JSON object
REASON = "_reason"  # payload key of the skip reason of an invalid line, when not `malformed`
_CHUNK = 1 << 20
MAX_LINE_BYTES = 8 << 20  # as large as a raw payload may be


def parse_offsets(cursor: str | None) -> dict[str, int]:
    """The cursor: JSON of {file name: byte offset just after the last whole line consumed}."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in data.values()
    ):
        log.warning(
            "file cursor %r is not readable; every file is read from its start", cursor[:80]
        )
        return {}
    return {str(k): v for k, v in data.items()}


def lines_before(path: Path, offset: int) -> int:
    """How many lines end before ``offset``: the line number a resumed read continues from."""
    count = 0
    with path.open("rb") as fh:
        while offset > 0:
            chunk = fh.read(min(_CHUNK, offset))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def payload_of(line: bytes) -> dict[str, Any] | None:
    """The JSON object a line holds; a marked payload when it holds none; None when blank."""
    if len(line) > MAX_LINE_BYTES:
        # Refused before decoding and parsing, each of which would hold another copy of it.
        error = f"a line of {len(line)} bytes, over {MAX_LINE_BYTES}"
        return {INVALID: repr(line[:200]), "error": error, REASON: "too_large"}
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {INVALID: repr(line[:200]), "error": f"not UTF-8 ({exc.reason})"}
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {INVALID: text[:1000], "error": f"not JSON ({exc})"}
    except RecursionError:
        return {INVALID: text[:1000], "error": "nested too deeply to parse", REASON: "too_deep"}
    if not isinstance(data, dict):
        return {INVALID: text[:1000], "error": "not a JSON object"}
    return data


class JsonLinesStream(Stream):
    """Every record line of a file, or of each matching file in a folder, in name order.

    A line without its newline is still being written and waits for the next sync; a file
    shorter than its offset was truncated or replaced and is read again from its start.
    """

    name: ClassVar[str] = "records"

    def __init__(self, path: Path, pattern: str) -> None:
        self.path = path
        self.pattern = pattern

    def files(self) -> list[tuple[str, Path]]:
        if self.path.is_file():
            return [(self.path.name, self.path)]
        if self.path.is_dir():
            found = (p for p in self.path.glob(self.pattern) if p.is_file())
            return sorted((p.relative_to(self.path).as_posix(), p) for p in found)
        raise FatalError(
            f"file source: {self.path} is neither a file nor a folder; "
            "set `path` to a .jsonl file or a folder of them"
        )

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        files = self.files()
        names = {name for name, _ in files}
        offsets = {k: v for k, v in parse_offsets(cursor).items() if k in names}
        raws: list[RawRecord] = []
        for name, path in files:
            offset = offsets.get(name, 0)
            size = path.stat().st_size
            if size < offset:
                log.info("%s: shorter than already read; reading it again from the start", name)
                offset = 0
            if size == offset:
                continue
            line_no = lines_before(path, offset)
            with path.open("rb") as fh:
                fh.seek(offset)
                for line in fh:
                    if not line.endswith(b"\n"):
                        break  # the writer has not finished this line yet
                    line_no += 1
                    offset += len(line)
                    offsets[name] = offset
                    payload = payload_of(line)
                    if payload is not None:
                        raws.append(
                            RawRecord(
                                stream=self.name,
                                native_id=f"{name}:{line_no}",
                                payload=payload,
                                fetched_at=ctx.started_at,
                            )
                        )
                    if len(raws) >= PAGE_SIZE:
                        yield Page(raws, json.dumps(offsets, sort_keys=True))
                        raws = []
            offsets[name] = offset
        yield Page(raws, json.dumps(offsets, sort_keys=True))
