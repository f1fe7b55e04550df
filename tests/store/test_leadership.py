"""Leadership by advisory locks on the real PostgreSQL: one holder per duty, handed over cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from streamgauge.store.leadership import (
    COMPUTE,
    AdvisoryLeadership,
    LocalLeadership,
    lock_key,
    open_leadership,
    source_duty,
)

pytestmark = pytest.mark.postgres


def soon(ask: Callable[[], bool], within: float = 5.0) -> bool:
    """Whether ``ask`` says yes within a few seconds: a server ends a closed or terminated
    session (and releases its locks) a moment after the client sees it end."""
    deadline = time.monotonic() + within
    while not ask():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def advisory(url: str) -> AdvisoryLeadership:
    leadership = open_leadership(url)
    assert isinstance(leadership, AdvisoryLeadership)
    return leadership


def test_one_replica_holds_a_duty_and_another_takes_it_when_the_first_closes(
    postgres_url: str,
) -> None:
    first, second = advisory(postgres_url), advisory(postgres_url)
    try:
        assert first.hold(source_duty("gh"))
        assert not second.hold(source_duty("gh"))
        # asked again, the holder keeps it and the lock does not stack
        assert first.hold(source_duty("gh"))
        # another duty is free for the second replica
        assert second.hold(COMPUTE)
        assert not first.hold(COMPUTE)
        assert first.holds(source_duty("gh"))
        assert not first.holds(COMPUTE)
        first.close()  # the session ends, and its locks with it: one unlock is enough
        assert soon(lambda: second.hold(source_duty("gh")))
    finally:
        first.close()
        second.close()


def test_a_dropped_lock_connection_releases_its_duties_and_takes_them_again(
    postgres_url: str,
) -> None:
    first, second = advisory(postgres_url), advisory(postgres_url)
    admin = create_engine(make_url(postgres_url), poolclass=NullPool)
    try:
        assert first.hold("source:gh")
        with admin.begin() as connection:
            key = lock_key(str(connection.scalar(text("SELECT current_schema()"))), "source:gh")
            # a bigint key shows in pg_locks as its high and low 32 bits, objsubid 1
            pids = connection.scalars(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
            ).all()
            assert len(pids) == 1
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        # the holder notices on a next ask and lets the duty go ...
        assert soon(lambda: not first.hold("source:gh"))
        assert not first.holds("source:gh")
        # ... which another replica takes; the first, reconnected, then waits its turn
        assert soon(lambda: second.hold("source:gh"))
        assert not first.hold("source:gh")
        second.close()
        assert soon(lambda: first.hold("source:gh"))
    finally:
        first.close()
        second.close()
        admin.dispose()


def test_two_deployments_in_two_schemas_of_one_database_do_not_share_locks(
    postgres_url: str,
) -> None:
    base = make_url(postgres_url)
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}_b"')
    other = base.update_query_dict({"options": f"-csearch_path={schema}_b"})
    one, two = advisory(postgres_url), advisory(other.render_as_string(hide_password=False))
    try:
        assert one.hold(COMPUTE)
        assert two.hold(COMPUTE)
        assert lock_key(str(schema), COMPUTE) != lock_key(f"{schema}_b", COMPUTE)
    finally:
        one.close()
        two.close()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}_b" CASCADE')
        admin.dispose()


def test_on_sqlite_one_process_holds_every_duty(tmp_path: Path) -> None:
    leadership = open_leadership(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(leadership, LocalLeadership)
    assert not leadership.shared
    assert leadership.hold(COMPUTE)
    assert leadership.hold(source_duty("anything"))
