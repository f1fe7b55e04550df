"""A look into the store's tables from outside the Store API, for checks the API cannot make."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text
from sqlalchemy.pool import NullPool


class TablePeek:
    """Reads tables of the store at ``store_url`` through an engine of its own."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, poolclass=NullPool)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, sorted; on PostgreSQL with each row version's ``xmin``, so
        a row rewritten with equal values still shows up as changed."""
        metadata = MetaData()
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as connection:
            metadata.reflect(connection)
            postgres = connection.dialect.name == "postgresql"
            for name, table in sorted(metadata.tables.items()):
                columns: list[Any] = list(table.columns)
                if postgres:
                    columns.append(text("xmin::text"))
                rows = [tuple(r) for r in connection.execute(select(*columns).select_from(table))]
                out[name] = sorted(rows, key=repr)
        return out

    def columns(self, table: str) -> set[str]:
        with self.engine.connect() as connection:
            return {c["name"] for c in inspect(connection).get_columns(table)}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
