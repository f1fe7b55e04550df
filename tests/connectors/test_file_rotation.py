"""File sources know their files: rotation, truncation, replacement and long lines lose nothing.

Each case writes, syncs, changes the file as a writer or a log rotator would, writes again and
syncs again; the store must then hold exactly what one sync of every line ever written holds
(a clean run), with every record inserted once and none rewritten.
"""

from __future__ import annotations

import json
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from tests.builders import T0

from streamgauge.config import Settings
from streamgauge.connectors.base import SkippableRecord, SyncContext
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.model import Record
from streamgauge.store import Store
from streamgauge.sync import SyncOutcome, sync_source


def line(n: int) -> str:
    """Deployment ``n`` as one JSON line; every line has its own id, so a line read twice and a
    line lost both show."""
    return (
        json.dumps(
            {
                "kind": "deployment",
                "id": f"files:deployment:{n}",
                "environment": "production",
                "app": "checkout",
                "started_at": f"2026-01-01T{n % 24:02d}:00:00Z",
                "result": "success",
            }
        )
        + "\n"
    )


def lines(*numbers: int) -> str:
    return "".join(line(n) for n in numbers)


def connector(path: Path, **overrides: Any) -> FileConnector:
    config = FileConfig.model_validate({"name": "files", "type": "file", "path": path, **overrides})
    return FileConnector(config, Settings())


class Synced:
    """A store and the file source synced into it, sync after sync."""

    def __init__(self, path: Path, db: Path, **overrides: Any) -> None:
        self.source = connector(path, **overrides)
        self.store = Store.open(f"sqlite:///{db}")
        self.outcomes: list[SyncOutcome] = []

    def sync(self) -> SyncOutcome:
        outcome = sync_source(self.source, self.store, clock=lambda: T0)
        assert outcome.ok, outcome.error
        self.outcomes.append(outcome)
        return outcome

    def records(self) -> dict[str, Record]:
        return {r.id: r for r in self.store.iter_records("deployment")}

    def close(self) -> None:
        self.store.close()


def clean_run(tmp_path: Path, text: str) -> dict[str, Record]:
    """What one sync of ``text`` in a fresh file and store gives."""
    folder = tmp_path / "clean"
    folder.mkdir()
    (folder / "all.jsonl").write_text(text)
    clean = Synced(folder / "all.jsonl", tmp_path / "clean.db")
    try:
        clean.sync()
        return clean.records()
    finally:
        clean.close()


def check_against_clean_run(synced: Synced, tmp_path: Path, *numbers: int) -> None:
    stored = synced.records()
    assert stored == clean_run(tmp_path, lines(*numbers))
    # Nothing lost, nothing twice: each record inserted once, and a line read again after a
    # rotation rewrote nothing.
    assert sum(o.written.inserted for o in synced.outcomes) == len(numbers)
    assert sum(o.written.updated for o in synced.outcomes) == 0


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder / "deploys.jsonl"


def test_a_rotated_file_is_finished_and_its_longer_successor_read_from_its_start(
    feed: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    feed.write_text(lines(1, 2))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    with feed.open("a") as fh:
        fh.write(line(3))  # written after the sync, before the rotation
    feed.rename(feed.with_name("deploys.jsonl.1"))
    feed.write_text(lines(4, 5, 6, 7, 8))  # longer than what was read of the old file
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5, 6, 7, 8)
    assert "finishing the rotated file" in caplog.text
    assert "replaced by another file" in caplog.text
    cursor = json.loads(synced.store.get_cursor("files", "records") or "{}")
    assert cursor["deploys.jsonl"]["generation"] == 1  # the count of new files under the name
    synced.close()


def test_a_file_moved_away_before_its_successor_exists_is_read_on(
    feed: Path, tmp_path: Path
) -> None:
    feed.write_text(lines(1))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    rotated = feed.with_name("deploys.jsonl.1")
    feed.rename(rotated)
    with rotated.open("a") as fh:
        fh.write(line(2))  # the writer still holds the old file
    synced.sync()  # no deploys.jsonl now: not an error, the rotated file's rest is read
    with rotated.open("a") as fh:
        fh.write(line(3))
    feed.write_text(lines(4, 5))
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5)
    synced.close()


def test_a_file_truncated_and_regrown_past_the_offset_is_read_from_its_start(
    feed: Path, tmp_path: Path
) -> None:
    feed.write_text(lines(1, 2))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    inode = feed.stat().st_ino
    with feed.open("w") as fh:  # truncated in place (copytruncate), then written again
        fh.write(lines(3, 4, 5))
    assert feed.stat().st_ino == inode
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5)
    synced.close()


def test_a_file_truncated_then_rotated_before_the_next_sync_is_read_from_its_start(
    feed: Path, tmp_path: Path
) -> None:
    # Lines 1-3 read; the file is truncated in place and gets one shorter line (4), then it is
    # rotated away and a new file holds 5 before the next sync: the rotated file, shorter than
    # what was read of it, is still the file read before, and line 4 is read from its start.
    feed.write_text(lines(1, 2, 3))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    with feed.open("w") as fh:
        fh.write(lines(4))
    feed.rename(feed.with_name("deploys.jsonl.1"))
    feed.write_text(lines(5))
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5)
    synced.close()


@pytest.mark.parametrize("how", ["in place", "renamed over"])
def test_a_file_replaced_by_one_of_the_same_size_is_read(
    feed: Path, tmp_path: Path, how: str
) -> None:
    feed.write_text(lines(11, 12))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    size = feed.stat().st_size
    new = lines(13, 14)
    assert len(new) == size
    if how == "in place":
        with feed.open("r+") as fh:
            fh.write(new)
    else:
        other = feed.with_name("new.tmp")
        other.write_text(new)
        other.replace(feed)
    assert feed.stat().st_size == size
    synced.sync()
    check_against_clean_run(synced, tmp_path, 11, 12, 13, 14)
    synced.close()


def test_a_file_truncated_mid_line_then_appended_is_read_from_its_start(
    feed: Path, tmp_path: Path
) -> None:
    feed.write_text(lines(1, 2, 3))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    read_to = feed.stat().st_size
    with feed.open("r+") as fh:
        fh.truncate(len(line(1)) + 10)  # ten bytes into line 2
    with feed.open("a") as fh:
        fh.write("\n" + lines(4, 5, 6))  # the writer ends the broken line and goes on
    assert feed.stat().st_size > read_to  # the old check, size against offset, saw nothing
    outcome = synced.sync()
    assert outcome.skipped == 1  # the ten bytes left of line 2 are not a record
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5, 6)
    synced.close()


def test_a_file_renamed_within_the_folder_is_read_on_not_again(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "b.jsonl").write_text(lines(1, 2))
    synced = Synced(folder, tmp_path / "sg.db")
    synced.sync()
    (folder / "b.jsonl").rename(folder / "a.jsonl")
    with (folder / "a.jsonl").open("a") as fh:
        fh.write(line(3))
    second = synced.sync()
    assert (second.written.inserted, second.written.unchanged) == (1, 0)  # only line 3 read
    check_against_clean_run(synced, tmp_path, 1, 2, 3)
    synced.close()


def test_a_deleted_file_whose_inode_is_reused_is_told_apart_by_its_fingerprint(
    feed: Path, tmp_path: Path
) -> None:
    feed.write_text(lines(1, 2))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    # An inode freed by a deletion is often handed to the next new file (tmpfs and ext4 do);
    # whether or not it is here, the new content must be read.
    feed.unlink()
    feed.write_text(lines(3, 4, 5))
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5)
    synced.close()


def test_a_cursor_of_plain_offsets_still_resumes(feed: Path) -> None:
    feed.write_text(lines(1, 2))
    source = connector(feed)
    (stream,) = source.streams()
    old = json.dumps({"deploys.jsonl": len(line(1))})
    pages = list(stream.read(old, SyncContext(source="files", started_at=T0)))
    assert [raw.native_id for p in pages for raw in p.raws] == ["deploys.jsonl:2"]
    state = json.loads(pages[-1].cursor or "{}")["deploys.jsonl"]
    assert (state["offset"], state["line"]) == (feed.stat().st_size, 2)
    assert state["ino"] == feed.stat().st_ino


def test_a_line_over_the_limit_is_skipped_without_being_held_in_memory(feed: Path) -> None:
    long = '{"kind": "deployment", "title": "' + "x" * (20 << 20) + '"}\n'  # 20 MiB
    feed.write_text(line(1) + long + line(2))
    source = connector(feed)  # the default limit, 1 MiB
    (stream,) = source.streams()
    tracemalloc.start()
    try:
        pages = list(stream.read(None, SyncContext(source="files", started_at=T0)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a chunk of 1 MiB and a line of up to 1 MiB at a time, far from the line's 20 MiB
    assert peak < 4 << 20, peak
    raws = [raw for p in pages for raw in p.raws]
    assert [raw.native_id for raw in raws] == [
        "deploys.jsonl:1",
        "deploys.jsonl:2",
        "deploys.jsonl:3",
    ]
    with pytest.raises(SkippableRecord) as skipped:
        source.normalize(raws[1])
    size = len(long.encode())
    assert str(skipped.value) == (
        f"deploys.jsonl:2: line of {size} bytes is longer than max_line_bytes (1048576); skipped"
    )
    assert [r.id for raw in (raws[0], raws[2]) for r in source.normalize(raw)] == [
        "files:deployment:1",
        "files:deployment:2",
    ]


def test_the_line_limit_is_configurable_and_a_long_partial_line_waits(
    feed: Path, tmp_path: Path
) -> None:
    long = '{"kind": "deployment", "title": "' + "y" * 5000 + '"}'
    feed.write_text(line(1) + long)  # its newline not written yet
    synced = Synced(feed, tmp_path / "sg.db", max_line_bytes=4096)
    first = synced.sync()
    assert (first.written.inserted, first.skipped) == (1, 0)
    with feed.open("a") as fh:
        fh.write("\n" + line(2))
    second = synced.sync()
    assert (second.written.inserted, second.skipped) == (1, 1)
    check_against_clean_run(synced, tmp_path, 1, 2)
    synced.close()


def test_a_line_limit_below_a_kibibyte_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        FileConfig.model_validate(
            {"name": "files", "type": "file", "path": "x.jsonl", "max_line_bytes": 10}
        )


def test_a_rotation_read_page_by_page_resumes_after_a_cut(feed: Path, tmp_path: Path) -> None:
    # A sync stopped after its first page, while finishing the rotated file, resumes there.
    feed.write_text(lines(*range(1, 3)))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    with feed.open("a") as fh:
        fh.write(lines(*range(3, 1503)))  # 1,500 more lines: two pages
    feed.rename(feed.with_name("deploys.jsonl.1"))
    feed.write_text(lines(2000, 2001))
    (stream,) = synced.source.streams()
    cursor = synced.store.get_cursor("files", "records")
    first_page = next(iter(stream.read(cursor, SyncContext(source="files", started_at=T0))))
    assert len(first_page.raws) == 1000
    synced.store.write_batch(
        source="files",
        stream="records",
        raws=first_page.raws,
        records=[r for raw in first_page.raws for r in synced.source.normalize(raw)],
        cursor=first_page.cursor,
    )
    synced.sync()
    stored = synced.records()
    assert sorted(stored) == sorted(f"files:deployment:{n}" for n in [*range(1, 1503), 2000, 2001])
    # lines 3-1002 came in the cut page; 1003-1502 of the old file and the new two remain
    assert synced.outcomes[-1].written.inserted == 500 + 2
    synced.close()
