"""Records are scoped by their source: one source's record never replaces another source's,
and a store made before the scoping is upgraded to it with every record kept."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, Index, MetaData, Table, create_engine, inspect, make_url
from sqlalchemy.pool import NullPool
from tests.builders import at, deployment
from tests.store.store_peek import TablePeek

from streamgauge.config import Settings
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.linking import Links
from streamgauge.model import KINDS, Deployment, Environment, RunResult, to_json
from streamgauge.store import MIGRATIONS, Store
from streamgauge.store.codec import RecordCodec
from streamgauge.store.schema import Schema
from streamgauge.sync import sync_source


def test_the_same_id_in_two_sources_is_two_records(store: Store) -> None:
    ours = deployment(finished_at=at(days=1), id="shared:deployment:1", source="ours")
    theirs = deployment(
        finished_at=at(days=2), id="shared:deployment:1", source="theirs", result=RunResult.FAILURE
    )
    store.write_batch(source="ours", stream="d", raws=[], records=[ours], cursor=None)
    written = store.write_batch(source="theirs", stream="d", raws=[], records=[theirs], cursor=None)
    # The old store found the id taken and rewrote `ours` with `theirs`.
    assert (written.inserted, written.updated) == (1, 0)
    assert sorted(store.iter_records("deployment"), key=lambda r: r.source) == [ours, theirs]
    assert list(store.iter_records("deployment", "ours")) == [ours]


def test_a_file_record_reusing_a_demo_deployments_id_replaces_nothing(
    store: Store, tmp_path: Path
) -> None:
    demo_config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "days": 5, "teams": 1, "start": "2026-01-01T00:00:00Z"}
    )
    now = at(days=5)
    assert sync_source(DemoConnector(demo_config, Settings()), store, clock=lambda: now).ok
    before = {r.id: r for r in store.iter_records("deployment")}
    target = next(
        d for d in before.values() if isinstance(d, Deployment) and d.result == RunResult.SUCCESS
    )
    # A file line taking that id, once as the file source's own record, once naming the demo
    # source: the old store let either replace the demo deployment with a failure.
    impostor = to_json(target) | {"result": "failure", "team": None, "app": None}
    feed = tmp_path / "feed.jsonl"
    lines = [impostor | {"source": "files"}, impostor]
    feed.write_text("".join(json.dumps(line) + "\n" for line in lines))
    files = FileConfig.model_validate({"name": "files", "type": "file", "path": feed})
    outcome = sync_source(FileConnector(files, Settings()), store, clock=lambda: now)
    assert outcome.ok
    assert outcome.skipped == 2
    assert outcome.written.changed == 0
    after = {r.id: r for r in store.iter_records("deployment")}
    assert after == before
    assert after[target.id].source == "demo"
    assert after[target.id].result == RunResult.SUCCESS
    reasons = sorted((s.skip.location, s.skip.reason) for s in store.skipped("files"))
    # Both are the file source's records (a line cannot name another source), and both take an
    # id a demo record already has.
    assert reasons == [("feed.jsonl:1", "id_taken"), ("feed.jsonl:2", "id_taken")]


def _version_1_layout(url: str) -> None:
    """Tables as version 1 made them: model records keyed by id alone, no skipped records."""
    schema = Schema()
    metadata = MetaData()
    for table in schema.metadata.sorted_tables:
        if table.name == schema.skipped_records.name:
            continue
        model = table.name in KINDS
        copy = Table(
            table.name,
            metadata,
            *(
                Column(
                    c.name,
                    c.type,
                    primary_key=(c.name == "id") if model else c.primary_key,
                    nullable=c.nullable,
                    autoincrement=c.autoincrement,
                )
                for c in table.columns
            ),
        )
        for index in table.indexes:
            Index(index.name, *(copy.c[c.name] for c in index.columns), unique=index.unique)
    database = make_url(url).database
    if url.startswith("sqlite") and database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=NullPool)
    shipped = deployment(finished_at=at(days=1), native_id="old")
    row = RecordCodec(Deployment, schema.specs["deployment"]).encode(shipped) | {"seq": 1}
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(metadata.tables["store_seq"].insert().values(id=1, value=1))
        connection.execute(
            metadata.tables["schema_version"]
            .insert()
            .values(version=1, description=MIGRATIONS[0].description, applied_at=0)
        )
        connection.execute(metadata.tables["deployment"].insert().values(**row))
    engine.dispose()


def test_a_version_1_store_is_keyed_by_source_after_the_upgrade(
    store_url: str, peek: TablePeek
) -> None:
    _version_1_layout(store_url)
    kept = deployment(finished_at=at(days=1), native_id="old")
    with Store.open(store_url) as upgraded:
        assert upgraded.schema_version() == MIGRATIONS[-1].version
        assert upgraded.load_dataset().deployments == [kept]
        assert upgraded.max_seq() == 1
        # The same id from another source is a record of its own now.
        other = deployment(
            finished_at=at(days=3), native_id="old", source="other", environment=Environment.STAGING
        )
        upgraded.write_batch(source="other", stream="d", raws=[], records=[other], cursor=None)
        assert sorted(upgraded.iter_records("deployment"), key=lambda r: r.source) == [
            other,
            kept,
        ]
        assert upgraded.skipped() == []
    with peek.engine.connect() as connection:
        keys = inspect(connection).get_pk_constraint("deployment")["constrained_columns"]
        indexes = {i["name"] for i in inspect(connection).get_indexes("deployment")}
    assert sorted(keys) == ["id", "source"]
    assert indexes == {"ix_deployment_source", "ix_deployment_seq"}
    versions = peek.rows("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(m.version,) for m in MIGRATIONS]


def test_a_record_of_one_source_still_links_to_another_sources(
    store: Store, tmp_path: Path
) -> None:
    demo_config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "days": 5, "teams": 1, "start": "2026-01-01T00:00:00Z"}
    )
    now = at(days=5)
    assert sync_source(DemoConnector(demo_config, Settings()), store, clock=lambda: now).ok
    deployments = list(store.iter_records("deployment"))
    target = next(
        d
        for d in deployments
        if isinstance(d, Deployment)
        and d.environment is Environment.PRODUCTION
        and d.result is RunResult.SUCCESS
        and d.finished_at is not None
    )
    assert target.finished_at is not None
    # An incident of the file source `pager` naming the demo deployment that caused it.
    line = {
        "kind": "incident",
        "id": "pager:incident:1",
        "key": "INC-1",
        "app": target.app,
        "opened_at": (target.finished_at + timedelta(hours=1)).isoformat(),
        "deployment_id": target.id,
    }
    feed = tmp_path / "incidents.jsonl"
    feed.write_text(json.dumps(line) + "\n")
    pager = FileConfig.model_validate({"name": "pager", "type": "file", "path": feed})
    outcome = sync_source(FileConnector(pager, Settings()), store, clock=lambda: now)
    assert (outcome.ok, outcome.skipped, outcome.written.inserted) == (True, 0, 1)
    links = Links.build(store.load_dataset(), incident_window=timedelta(days=1))
    assert links.blame["pager:incident:1"] == target
    assert "pager:incident:1" in links.blame_explicit
