"""Reading JSON Lines files incrementally: per file a byte offset and its identity, whole lines."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from streamgauge.connectors.base import FatalError, Page, RawRecord, Stream, SyncContext
from streamgauge.connectors.file.tracking import (
    FileState,
    change_of,
    dump_cursor,
    find_inode,
    holds,
    identify,
    is_copy,
    parse_cursor,
    same_inode,
    unseen_rotations,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
INVALID = "_invalid_line"  # payload key of a line that is not a JSON object
REASON = "_reason"  # payload key of the skip reason of an invalid line, when not `malformed`
_CHUNK = 1 << 20
DEFAULT_MAX_LINE_BYTES = 1 << 20


def lines_before(fh: BinaryIO, offset: int) -> int:
    """How many lines end before ``offset``: the line number a resumed read continues from."""
    count = 0
    fh.seek(0)
    while offset > 0:
        chunk = fh.read(min(_CHUNK, offset))
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset -= len(chunk)
    return count


def payload_of(line: bytes) -> dict[str, Any] | None:
    """The JSON object a line holds; a marked payload when it holds none; None when blank."""
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

    A line without its newline is still being written and waits for the next sync. A file is
    known by its device, inode and fingerprints (see :mod:`.tracking`): one renamed within the
    folder is read on where it was left; a name that holds another file, or a file truncated
    or rewritten, is read again from its start, after the rest of the former file when it is
    still in the folder. A line longer than ``max_line_bytes`` is skipped without being held.
    """

    name: ClassVar[str] = "records"

    def __init__(
        self, path: Path, pattern: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.pattern = pattern
        self.max_line_bytes = max_line_bytes

    def files(self, known: dict[str, FileState]) -> list[tuple[str, Path]]:
        if self.path.is_file():
            return [(self.path.name, self.path)]
        if self.path.is_dir():
            found = (p for p in self.path.glob(self.pattern) if p.is_file())
            return sorted((p.relative_to(self.path).as_posix(), p) for p in found)
        if self.path.name in known and self.path.parent.is_dir():
            # A file read before is being rotated: moved away, its successor not made yet.
            log.info("%s: not there now; waiting for it to be created again", self.path)
            return []
        raise FatalError(
            f"file source: {self.path} is neither a file nor a folder; "
            "set `path` to a .jsonl file or a folder of them"
        )

    def folder_of(self, name: str) -> Path:
        base = self.path if self.path.is_dir() else self.path.parent
        return (base / name).parent

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        states = parse_cursor(cursor)
        files = self.files(states)
        infos: dict[str, os.stat_result] = {}
        for name, path in files:
            try:
                infos[name] = path.stat()
            except OSError:
                continue  # gone since it was listed: the next sync sees what replaced it
        reader = _Reader(self.name, ctx, self.max_line_bytes)
        # Names still listed keep their states until read; a name gone keeps its state only
        # while its file is found renamed in the folder (see below).
        reader.states = {name: s for name, s in states.items() if name in infos}
        held = {(i.st_dev, i.st_ino) for i in infos.values()}
        known = held | {(s.dev, s.ino or 0) for s in states.values() if s.dev is not None}
        paths = dict(files)
        for name, state in sorted(states.items()):
            if state.dev is None:
                continue
            now = paths.get(name) if name in infos else None
            if now is not None and same_inode(state, infos[name]) and holds(str(now), state):
                continue  # the name holds the file read, grown or not: read on below
            yield from self._rotated(name, state, reader, infos, held, known)
        for name, path in files:
            info = infos.get(name)
            if info is None:
                continue
            start = self._start(name, info, states, infos, reader.states.get(name))
            yield from reader.read(name, path, start)
        yield reader.page()

    def _rotated(
        self,
        name: str,
        state: FileState,
        reader: _Reader,
        infos: dict[str, os.stat_result],
        held: set[tuple[int, int]],
        known: set[tuple[int, int]],
    ) -> Iterator[Page]:
        """The rest of the files ``name`` held since it was read: the file read, where it was
        rotated to, then any file that held the name after it and was rotated too."""
        folder = str(self.folder_of(name))
        unseen = unseen_rotations(folder, Path(name).name, state, known)
        continued = False  # whether the lines after the offset read were read from a file yet
        if (state.dev, state.ino) not in held:
            # The file read as `name` is no longer listed under any name: finish it first where
            # it was rotated to, so lines written to it before the rotation are not lost.
            moved = find_inode(folder, state)
            if moved is None:
                if not unseen and (name in infos or name == self.path.name):
                    log.warning(
                        "%s: the file read before is gone; lines written to it after the "
                        "last sync cannot be read",
                        name,
                    )
                reader.states.pop(name, None)
            else:
                log.info(
                    "%s: finishing the rotated file %s from byte %d", name, moved, state.offset
                )
                # Its state stays under its name: while the name is not listed again, the next
                # sync reads on whatever the writer still appended to it.
                yield from reader.read(name, Path(moved), state)
                continued = True
        for path in unseen:
            try:
                with open(path, "rb") as fh:
                    copy = not continued and is_copy(fh.fileno(), state)
                    info = os.fstat(fh.fileno())
            except OSError:
                continue  # gone since it was found: nothing of it can be read
            if copy:
                # copytruncate: the copy holds what was read, then what was not yet
                log.info("%s: reading on its copy %s from byte %d", name, path, state.offset)
                start = dataclasses.replace(state, dev=info.st_dev, ino=info.st_ino)
            else:
                log.warning("%s: reading %s, a file that held the name since", name, path)
                generation = reader.states.get(name, state).generation + 1
                start = FileState(generation=generation)
            yield from reader.read(name, Path(path), start)
            continued = True

    def _start(
        self,
        name: str,
        info: os.stat_result,
        states: dict[str, FileState],
        infos: dict[str, os.stat_result],
        own: FileState | None,
    ) -> FileState:
        """Where to read ``name`` from: its own state, the state of the file it was renamed
        from, or a new generation of the name (``own`` is its state as read so far)."""
        own = own or states.get(name)
        if own is not None and (own.dev is None or same_inode(own, info)):
            return own
        for old, state in states.items():
            if old == name or not same_inode(state, info):
                continue
            old_info = infos.get(old)
            if old_info is None or not same_inode(state, old_info):
                log.info("%s: is %s renamed; reading on from byte %d", name, old, state.offset)
                return state
        generation = 0 if own is None else own.generation + 1
        if own is not None:
            log.warning("%s: replaced by another file; reading it from its start", name)
        return FileState(generation=generation)


class _Reader:
    """Lines of files into pages of raws, with the cursor of every file as far as it is read."""

    def __init__(self, stream: str, ctx: SyncContext, max_line_bytes: int) -> None:
        self.stream = stream
        self.ctx = ctx
        self.max_line_bytes = max_line_bytes
        self.states: dict[str, FileState] = {}
        self.raws: list[RawRecord] = []

    def page(self) -> Page:
        page = Page(self.raws, dump_cursor(self.states))
        self.raws = []
        return page

    def read(self, name: str, path: Path, state: FileState) -> Iterator[Page]:
        try:
            fh = path.open("rb")
        except OSError as exc:
            log.warning("%s: cannot be read now (%s); trying again next sync", name, exc.strerror)
            return
        with fh:
            fd = fh.fileno()
            why = change_of(fd, state)
            if why is not None:
                log.warning("%s: %s; reading it again from its start", name, why)
                state = FileState(generation=state.generation + 1)
            line = state.line if state.line is not None else lines_before(fh, state.offset)
            offset = state.offset
            fh.seek(offset)
            while True:
                taken = self._line(fh)
                if taken is None:
                    break
                size, payload = taken
                offset += size
                line += 1
                if payload is not None:
                    self.raws.append(
                        RawRecord(
                            stream=self.stream,
                            native_id=state.native_id(name, line),
                            payload=payload,
                            fetched_at=self.ctx.started_at,
                        )
                    )
                if len(self.raws) >= PAGE_SIZE:
                    self.states[name] = identify(
                        fd, dataclasses.replace(state, offset=offset), line
                    )
                    yield self.page()
            self.states[name] = identify(fd, dataclasses.replace(state, offset=offset), line)

    def _line(self, fh: BinaryIO) -> tuple[int, dict[str, Any] | None] | None:
        """The next whole line: its size in bytes and payload; None when no whole line is left.

        A line over the limit is read on in chunks to its newline and only its size kept, so a
        100 MB line costs one chunk of memory; it comes back as a payload saying why it is
        skipped. Left without a newline, it waits, like any partial line.
        """
        limit = self.max_line_bytes
        data = fh.readline(limit + 1)
        if data.endswith(b"\n") and len(data) <= limit:
            return len(data), payload_of(data)
        if len(data) <= limit:
            return None  # empty, or a partial line the writer is still writing
        size, start = len(data), data[:200]
        while not data.endswith(b"\n"):
            data = fh.readline(_CHUNK)
            if not data:
                return None
            size += len(data)
        return size, {
            INVALID: repr(start),
            "error": f"line of {size} bytes is longer than max_line_bytes ({limit}); skipped",
            REASON: "too_large",
        }
