"""Shared fixtures: stores on SQLite and on the local PostgreSQL, each test in a fresh database."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from streamgauge.store import Store

PG_URL_ENV = "STREAMGAUGE_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_schema_url(nodeid: str) -> Iterator[str]:
    """A URL whose connections use a schema of their own, dropped when the test ends."""
    base = make_url(os.environ.get(PG_URL_ENV, DEFAULT_PG_URL))
    if "+" not in base.drivername:
        base = base.set(drivername="postgresql+psycopg")
    key = hashlib.blake2b(f"{os.getpid()} {nodeid}".encode(), digest_size=8).hexdigest()
    schema = f"sg_test_{key}"
    admin = create_engine(base, poolclass=NullPool)
    problem = None
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except DBAPIError as exc:
        problem = str(exc.orig)
    if problem is not None:
        admin.dispose()
        where = base.render_as_string(hide_password=True)
        # A failure, not a skip: the test command promises a running server.
        pytest.fail(
            f"PostgreSQL store tests need the server at {where} ({PG_URL_ENV}), "
            f"which cannot be used: {problem}",
            pytrace=False,
        )
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def _sqlite_url(folder: Path) -> str:
    # A folder that does not exist yet: opening the store must create it.
    return f"sqlite:///{folder / 'data' / 'streamgauge.db'}"


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty PostgreSQL schema of this test's own (fails if the server is down)."""
    yield from _postgres_schema_url(request.node.nodeid)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, empty store on each database."""
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An open, empty store in an SQLite file (for tests that need one database only)."""
    with Store.open(_sqlite_url(tmp_path)) as opened:
        yield opened
