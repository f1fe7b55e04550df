"""Files that held a name between two syncs and were moved away before a sync saw them.

A writer can replace the file and rotate it again before the next sync: the file that held the
name in between was never read under it, yet it is in the folder beside the name. Each case
checks the store against one sync of every line ever written (see ``test_file_rotation``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from tests.builders import T0
from tests.connectors.test_file_rotation import Synced, check_against_clean_run, lines

from streamgauge.connectors.base import SyncContext


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder / "deploys.jsonl"


def append(path: Path, *numbers: int) -> None:
    with path.open("a") as fh:
        fh.write(lines(*numbers))


def replace_same_size(feed: Path, *numbers: int) -> None:
    new = lines(*numbers)
    assert len(new) == feed.stat().st_size
    other = feed.with_name("new.tmp")
    other.write_text(new)
    other.replace(feed)  # the old file's inode is freed and may be handed to the next file


@pytest.mark.parametrize("restart", [False, True])
def test_a_same_size_replacement_rotated_before_a_sync_is_read_from_the_rotated_file(
    feed: Path, tmp_path: Path, restart: bool
) -> None:
    # Lines 11-12 read. The file is replaced by one of the same size (13-14), which gets 15
    # appended, is rotated to deploys.jsonl.1, gets 16 there (the writer still holds it), and
    # a new deploys.jsonl holds 17: all before the next sync. 13-16 are only in the rotated
    # file, a file no sync has seen.
    feed.write_text(lines(11, 12))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    replace_same_size(feed, 13, 14)
    append(feed, 15)
    rotated = feed.with_name("deploys.jsonl.1")
    feed.rename(rotated)
    append(rotated, 16)
    feed.write_text(lines(17))
    if restart:  # a serve killed and started again reads on from the stored cursor
        outcomes = synced.outcomes
        synced.close()
        synced = Synced(feed, tmp_path / "sg.db")
        synced.outcomes = outcomes
    synced.sync()
    append(feed, 18)
    synced.sync()
    synced.sync()  # nothing new: nothing read again
    check_against_clean_run(synced, tmp_path, 11, 12, 13, 14, 15, 16, 17, 18)
    synced.close()


def test_a_file_rotated_twice_between_syncs_is_read_in_both_places(
    feed: Path, tmp_path: Path
) -> None:
    feed.write_text(lines(1))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    append(feed, 2)
    feed.rename(feed.with_name("deploys.jsonl.1"))  # the file read before, with one new line
    feed.write_text(lines(3, 4))
    feed.rename(feed.with_name("deploys.jsonl.2"))  # a file no sync has seen
    feed.write_text(lines(5))
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3, 4, 5)
    synced.close()


def test_copytruncate_reads_the_lines_written_before_the_copy_from_the_copy(
    feed: Path, tmp_path: Path
) -> None:
    # logrotate's copytruncate: the file is copied to deploys.jsonl.1, then emptied in place.
    # Line 2 was written after the sync and before the copy: it is only in the copy, after the
    # offset read, and the copy is read on from there (line 1 is not read again).
    feed.write_text(lines(1))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    append(feed, 2)
    shutil.copy2(feed, feed.with_name("deploys.jsonl.1"))
    with feed.open("r+") as fh:
        fh.truncate(0)
    append(feed, 3)
    synced.sync()
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2, 3)
    synced.close()


def test_old_rotations_in_the_folder_are_not_read(feed: Path, tmp_path: Path) -> None:
    # Rotations older than anything the source read are not its lines: they stay unread.
    old = feed.with_name("deploys.jsonl.3")
    old.write_text(lines(90))
    os.utime(old, (1_700_000_000, 1_700_000_000))  # last written in 2023
    feed.with_name("deploys.jsonl.2.gz").write_bytes(b"\x1f\x8b not lines")
    feed.write_text(lines(1))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    feed.rename(feed.with_name("deploys.jsonl.1"))
    feed.write_text(lines(2))
    synced.sync()
    check_against_clean_run(synced, tmp_path, 1, 2)
    cursor = json.loads(synced.store.get_cursor("files", "records") or "{}")
    assert list(cursor) == ["deploys.jsonl"]
    synced.close()


def test_a_sync_cut_while_reading_an_unseen_rotation_resumes_there(
    feed: Path, tmp_path: Path
) -> None:
    # The file that held the name since the last sync has 1,500 lines: two pages. The sync is
    # cut after the first page (a SIGKILL); the next one reads on from the stored cursor.
    feed.write_text(lines(1))
    synced = Synced(feed, tmp_path / "sg.db")
    synced.sync()
    other = feed.with_name("new.tmp")
    other.write_text(lines(*range(2, 1502)))
    other.replace(feed)
    feed.rename(feed.with_name("deploys.jsonl.1"))
    feed.write_text(lines(2000))
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
    synced.close()
    synced = Synced(feed, tmp_path / "sg.db")  # started again
    synced.sync()
    # lines 2-1001 came in the cut page; 1002-1501 of the unseen file and 2000 remain
    assert synced.outcomes[-1].written.inserted == 500 + 1
    stored = synced.records()
    assert sorted(stored) == sorted(f"files:deployment:{n}" for n in [*range(1, 1502), 2000])
    raws = [raw.native_id for raw in synced.store.iter_raw("files")]
    assert len(raws) == len(set(raws)) == 1 + 1500 + 1  # no line read twice
    synced.close()
