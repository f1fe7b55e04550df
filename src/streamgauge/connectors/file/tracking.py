"""Which file a name holds now: identity by device and inode, and fingerprints of what was read.

A file read up to byte ``offset`` is the same file on the next sync when it has the same
device and inode, is at least ``offset`` bytes long, and its first bytes and the bytes just
before ``offset`` hash as they did. Anything else means it was rotated, truncated, replaced or
rewritten, and its current content is read from its start. Inodes are reused as soon as a file
is deleted, which is why the fingerprints are needed beside them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024  # hashed at the start of a file and just before its read offset


@dataclass(frozen=True, slots=True)
class FileState:
    """How far one file has been read, and what tells it apart from another file.

    ``generation`` counts the times the name was found holding new content (rotated, truncated,
    replaced); the native ids of a later generation carry it, so the raw lines of an earlier
    one are kept beside them.
    """

    offset: int = 0
    line: int | None = 0  # lines before ``offset``; None in a cursor that did not record it
    dev: int | None = None
    ino: int | None = None
    head: str | None = None  # sha256 of bytes [0, min(offset, FINGERPRINT_BYTES))
    tail: str | None = None  # sha256 of the FINGERPRINT_BYTES (or fewer) bytes before offset
    generation: int = 0
    mtime: int | None = None  # the file's modification time (ns) when it was last read

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if v is not None}

    def native_id(self, name: str, line: int) -> str:
        """``name:line``, and ``name@generation:line`` once the name held new content."""
        return f"{name}:{line}" if self.generation == 0 else f"{name}@{self.generation}:{line}"


def parse_cursor(cursor: str | None) -> dict[str, FileState]:
    """The cursor's states by file name; an unreadable cursor reads every file anew.

    A cursor of plain byte offsets (``{name: offset}``) is still understood: its files are
    taken to be the ones read, and get their identity on this read.
    """
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        data = None
    states: dict[str, FileState] = {}
    if isinstance(data, dict):
        for name, value in data.items():
            state = _state(value)
            if state is None:
                data = None
                break
            states[str(name)] = state
    if not isinstance(data, dict):
        log.warning(
            "file cursor %r is not readable; every file is read from its start", cursor[:80]
        )
        return {}
    return states


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _state(value: Any) -> FileState | None:
    if _is_count(value):
        return FileState(offset=value, line=None)
    if not isinstance(value, dict) or not _is_count(value.get("offset")):
        return None
    ints = {k: value.get(k) for k in ("line", "dev", "ino", "mtime")}
    if not all(v is None or _is_count(v) for v in ints.values()):
        return None
    texts = {k: value.get(k) for k in ("head", "tail")}
    if not all(v is None or isinstance(v, str) for v in texts.values()):
        return None
    generation = value.get("generation", 0)
    if not _is_count(generation):
        return None
    return FileState(offset=value["offset"], generation=generation, **ints, **texts)


def dump_cursor(states: dict[str, FileState]) -> str:
    return json.dumps({name: s.to_json() for name, s in sorted(states.items())}, sort_keys=True)


def _hash(fd: int, start: int, end: int) -> str:
    data = os.pread(fd, end - start, start)
    return hashlib.sha256(data).hexdigest()


def fingerprint(fd: int, offset: int) -> tuple[str, str]:
    """(head, tail) of an open file read up to ``offset``."""
    head = _hash(fd, 0, min(offset, FINGERPRINT_BYTES))
    tail = _hash(fd, max(0, offset - FINGERPRINT_BYTES), offset)
    return head, tail


def identify(fd: int, state: FileState, line: int) -> FileState:
    """``state`` at its offset and ``line``, stamped with the identity of the open file ``fd``."""
    info = os.fstat(fd)
    head, tail = fingerprint(fd, state.offset)
    return dataclasses.replace(
        state,
        line=line,
        dev=info.st_dev,
        ino=info.st_ino,
        head=head,
        tail=tail,
        mtime=info.st_mtime_ns,
    )


def same_inode(state: FileState, info: os.stat_result) -> bool:
    return state.dev == info.st_dev and state.ino == info.st_ino


def change_of(fd: int, state: FileState) -> str | None:
    """Why the open file ``fd`` is not the one ``state`` read, or None when it is.

    A state with no identity yet (from a cursor of plain offsets) is only checked for length.
    """
    info = os.fstat(fd)
    if state.dev is not None and not same_inode(state, info):
        return "replaced by another file"
    if info.st_size < state.offset:
        return f"truncated (now {info.st_size} bytes, {state.offset} were read)"
    if state.head is None or state.tail is None:
        return None
    head, tail = fingerprint(fd, state.offset)
    if head != state.head:
        return "rewritten: its first bytes changed"
    if tail != state.tail:
        return "rewritten: the bytes before the read offset changed (truncated mid-line?)"
    return None


def find_inode(folder: str, state: FileState) -> str | None:
    """A file in ``folder`` that is the file ``state`` read (rotated there), else None."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if same_inode(state, info):
            # shorter than what was read: truncated before it was moved; the read notices it
            # (its fingerprints no longer match) and reads it again from its start
            return entry.path
    return None


def holds(path: str, state: FileState) -> bool:
    """Whether ``path`` is still the file ``state`` read, unchanged up to its offset."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return change_of(fd, state) is None
    finally:
        os.close(fd)


def is_copy(fd: int, state: FileState) -> bool:
    """Whether the open file ``fd`` begins with what ``state`` read (a copy made by copytruncate)."""
    if state.offset == 0 or state.head is None or os.fstat(fd).st_size < state.offset:
        return False
    return fingerprint(fd, state.offset) == (state.head, state.tail)


COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")


def unseen_rotations(
    folder: str, name: str, state: FileState, known: set[tuple[int, int]]
) -> list[str]:
    """Files rotated from the name ``name`` since ``state`` was read that no sync has seen.

    A writer may replace a file and rotate the replacement away between two syncs: the
    replacement then sits beside the name (``name.1``, ``name-20261203``) under an inode no
    state knows. It is told from older rotations by having been modified at or after the time
    the file read last was; compressed rotations are not lines and are left alone. Oldest first.
    """
    if state.mtime is None:
        return []  # a cursor from before modification times were kept: nothing to compare
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found: list[tuple[int, str]] = []
    for entry in entries:
        if not entry.name.startswith((f"{name}.", f"{name}-")) or entry.name.endswith(COMPRESSED):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in known or info.st_mtime_ns < state.mtime:
            continue
        found.append((info.st_mtime_ns, entry.path))
    return [path for _, path in sorted(found)]
