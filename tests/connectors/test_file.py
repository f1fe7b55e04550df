"""The file connector: JSON Lines read incrementally, partial lines left, bad lines counted."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from tests.builders import T0, at, deployment

from streamgauge.config import AppConfig, Settings, TeamConfig
from streamgauge.connectors.base import FatalError, Page, RawRecord, SkippableRecord, SyncContext
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.model import Deployment, Record, WorkItem, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

SYNCED = at(days=30)  # a sync after every line's timestamps

SETTINGS = Settings(
    teams={"payments": TeamConfig(apps=["checkout"], projects=["PAY"])},
    apps={"checkout": AppConfig(repos=["acme/checkout"])},
)


def connector(path: Path, **overrides: Any) -> FileConnector:
    config = FileConfig.model_validate({"name": "files", "type": "file", "path": path, **overrides})
    return FileConnector(config, SETTINGS)


def deployment_line(n: int, **fields: Any) -> str:
    """One deployment in the JSON Lines form, as a tool without a connector would write it."""
    data: dict[str, Any] = {
        "kind": "deployment",
        "id": f"ci:deployment:{n}",
        "source": "ci",
        "environment": "production",
        "repo": "acme/checkout",
        "started_at": f"2026-01-0{1 + n % 9}T10:00:00Z",
        "finished_at": f"2026-01-0{1 + n % 9}T10:05:00Z",
        "result": "success",
    }
    data.update(fields)
    return json.dumps(data) + "\n"


def read(demo: FileConnector, cursor: str | None) -> list[Page]:
    (stream,) = demo.streams()
    return list(stream.read(cursor, SyncContext(source=demo.name, started_at=T0)))


def records(demo: FileConnector, pages: list[Page]) -> list[Record]:
    return [r for page in pages for raw in page.raws for r in demo.normalize(raw)]


def test_reads_new_lines_only_and_remembers_byte_offsets(tmp_path: Path) -> None:
    feed = tmp_path / "deploys.jsonl"
    feed.write_text(deployment_line(1) + deployment_line(2))
    demo = connector(feed)
    pages = read(demo, None)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:1", "ci:deployment:2"]
    cursor = pages[-1].cursor
    assert cursor is not None
    assert json.loads(cursor)["deploys.jsonl"]["offset"] == feed.stat().st_size
    assert records(demo, read(demo, cursor)) == []
    with feed.open("a") as fh:
        fh.write(deployment_line(3))
    pages = read(demo, cursor)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:3"]
    assert [raw.native_id for p in pages for raw in p.raws] == ["deploys.jsonl:3"]


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    feed = tmp_path / "deploys.jsonl"
    whole, partial = deployment_line(1), deployment_line(2)
    feed.write_text(whole + partial[:40])
    demo = connector(feed)
    pages = read(demo, None)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:1"]
    cursor = pages[-1].cursor
    assert cursor is not None
    assert json.loads(cursor)["deploys.jsonl"]["offset"] == len(whole.encode())
    with feed.open("a") as fh:
        fh.write(partial[40:])
    assert [r.id for r in records(demo, read(demo, cursor))] == ["ci:deployment:2"]


def test_a_file_that_shrank_is_read_again_from_its_start(tmp_path: Path) -> None:
    feed = tmp_path / "deploys.jsonl"
    feed.write_text(deployment_line(1) + deployment_line(2) + deployment_line(3))
    demo = connector(feed)
    cursor = read(demo, None)[-1].cursor
    feed.write_text(deployment_line(4))  # rotated: a new, shorter file under the same name
    pages = read(demo, cursor)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:4"]
    # the second generation of the name: the raw lines of the first are kept beside it
    assert [raw.native_id for p in pages for raw in p.raws] == ["deploys.jsonl@1:1"]


def test_malformed_lines_are_skipped_with_file_line_and_field(tmp_path: Path) -> None:
    feed = tmp_path / "mixed.jsonl"
    feed.write_text(
        deployment_line(1)
        + "{not json\n"
        + json.dumps({"kind": "spaceship", "id": "x"})
        + "\n"
        + "\n"  # a blank line is no record and no error
        + deployment_line(2, started_at="yesterday")
        + "[1, 2]\n"
        + deployment_line(3, result="exploded")
        + deployment_line(4)
    )
    demo = connector(feed)
    good, skipped = [], []
    for page in read(demo, None):
        for raw in page.raws:
            try:
                good.extend(demo.normalize(raw))
            except SkippableRecord as exc:
                skipped.append(str(exc))
    assert [r.id for r in good] == ["ci:deployment:1", "ci:deployment:4"]
    assert len(skipped) == 5
    assert skipped[0].startswith("mixed.jsonl:2: not JSON")
    assert skipped[1].startswith("mixed.jsonl:3: kind: 'spaceship' is not one of")
    assert skipped[2].startswith("mixed.jsonl:5: started_at:")
    assert skipped[3] == "mixed.jsonl:6: not a JSON object"
    assert skipped[4].startswith("mixed.jsonl:7: result: 'exploded' is not one of")


def test_line_numbers_continue_after_a_resumed_read(tmp_path: Path) -> None:
    feed = tmp_path / "deploys.jsonl"
    feed.write_text(deployment_line(1) + deployment_line(2))
    demo = connector(feed)
    cursor = read(demo, None)[-1].cursor
    with feed.open("a") as fh:
        fh.write("oops\n")
    (raw,) = [raw for page in read(demo, cursor) for raw in page.raws]
    with pytest.raises(SkippableRecord, match=r"^deploys.jsonl:3: not JSON"):
        demo.normalize(raw)


def test_a_folder_reads_matching_files_and_picks_up_new_ones(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text(deployment_line(2))
    (tmp_path / "a.jsonl").write_text(deployment_line(1))
    (tmp_path / "notes.txt").write_text(deployment_line(9))  # does not match *.jsonl
    demo = connector(tmp_path)
    pages = read(demo, None)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:1", "ci:deployment:2"]
    cursor = pages[-1].cursor
    assert cursor is not None
    assert set(json.loads(cursor)) == {"a.jsonl", "b.jsonl"}
    (tmp_path / "c.jsonl").write_text(deployment_line(3))
    with (tmp_path / "a.jsonl").open("a") as fh:
        fh.write(deployment_line(4))
    pages = read(demo, cursor)
    assert [r.id for r in records(demo, pages)] == ["ci:deployment:4", "ci:deployment:3"]
    assert set(json.loads(pages[-1].cursor or "{}")) == {"a.jsonl", "b.jsonl", "c.jsonl"}


def test_pages_hold_a_thousand_lines_and_each_cursor_resumes(tmp_path: Path) -> None:
    feed = tmp_path / "many.jsonl"
    feed.write_text("".join(deployment_line(n) for n in range(2500)))
    demo = connector(feed)
    pages = read(demo, None)
    assert [len(p.raws) for p in pages] == [1000, 1000, 500]
    # A sync cut short after the first page resumes exactly after its last line.
    rest = read(demo, pages[0].cursor)
    assert next(raw.native_id for p in rest for raw in p.raws) == "many.jsonl:1001"
    assert sum(len(p.raws) for p in rest) == 1500


def test_team_and_app_come_from_the_record_else_from_the_mappings(tmp_path: Path) -> None:
    feed = tmp_path / "mixed.jsonl"
    own = deployment_line(1, team="search", app="search-api")
    mapped = deployment_line(2)  # repo acme/checkout -> app checkout of team payments
    unmapped = deployment_line(3, repo="acme/elsewhere")
    item = json.dumps(
        {
            "kind": "work_item",
            "id": "sheet:work_item:PAY-1",
            "key": "PAY-1",
            "type": "defect",
            "status": "Open",
            "flow_state": "new",
            "created_at": "2026-01-01T09:00:00+01:00",
            "project": "PAY",
        }
    )
    feed.write_text(own + mapped + unmapped + item + "\n")
    demo = connector(feed, team="platform", app="misc")
    found = {r.id: r for r in records(demo, read(demo, None))}
    assert (found["ci:deployment:1"].team, found["ci:deployment:1"].app) == ("search", "search-api")
    assert (found["ci:deployment:2"].team, found["ci:deployment:2"].app) == ("payments", "checkout")
    assert (found["ci:deployment:3"].team, found["ci:deployment:3"].app) == ("platform", "misc")
    work = found["sheet:work_item:PAY-1"]
    assert isinstance(work, WorkItem)
    assert (work.team, work.app) == ("payments", "misc")  # project PAY belongs to payments
    assert work.source == "files"  # no source given: this source's name
    assert work.created_at == at(hours=8)  # 09:00 at +01:00 is 08:00 UTC


def test_a_record_naming_only_its_app_lands_in_the_apps_owning_team(tmp_path: Path) -> None:
    # checkout belongs to payments; the repository maps to nothing and the source's default team
    # is platform: the app's owner wins over the default, as it does for the app's changes.
    feed = tmp_path / "deploys.jsonl"
    feed.write_text(deployment_line(1, repo="acme/elsewhere", app="checkout"))
    demo = connector(feed, team="platform")
    (record,) = records(demo, read(demo, None))
    assert (record.team, record.app) == ("payments", "checkout")


def test_a_missing_path_stops_the_source(tmp_path: Path) -> None:
    demo = connector(tmp_path / "absent.jsonl")
    with pytest.raises(FatalError, match=r"absent\.jsonl"):
        read(demo, None)


def test_the_model_json_form_round_trips_through_a_file(tmp_path: Path) -> None:
    original = deployment(finished_at=at(days=1), commit_shas=("abc", "def"))
    (tmp_path / "x.jsonl").write_text(json.dumps(to_json(original)) + "\n")
    demo = connector(tmp_path)
    (again,) = records(demo, read(demo, None))
    # every field as written, but the source: a file source's records are its own
    assert original.source != demo.name
    assert again == dataclasses.replace(original, source=demo.name)


def test_a_sync_into_the_store_counts_bad_lines_and_goes_on(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.jsonl").write_text(deployment_line(1) + "{oops\n" + deployment_line(2))
    demo = connector(feed, name="ci")  # the lines' records are this source's own
    with Store.open(f"sqlite:///{tmp_path / 'sg.db'}") as store:
        first = sync_source(demo, store, clock=lambda: SYNCED)
        assert first.ok
        assert first.skipped == 1
        assert first.written.inserted == 2
        with (feed / "a.jsonl").open("a") as fh:
            fh.write(deployment_line(3) + deployment_line(1, result="failure"))
        second = sync_source(demo, store, clock=lambda: SYNCED)
        assert second.ok
        assert second.skipped == 0
        stored = {r.id: r for r in store.iter_records("deployment")}
        assert sorted(stored) == ["ci:deployment:1", "ci:deployment:2", "ci:deployment:3"]
        updated = stored["ci:deployment:1"]
        assert isinstance(updated, Deployment)
        assert updated.result == "failure", "a later line about the same record updates it"


def test_garbage_raw_is_skippable(tmp_path: Path) -> None:
    demo = connector(tmp_path)
    raw = RawRecord(stream="records", native_id="x.jsonl:1", payload={"kind": 3}, fetched_at=T0)
    with pytest.raises(SkippableRecord, match=r"^x.jsonl:1: kind"):
        demo.normalize(raw)
