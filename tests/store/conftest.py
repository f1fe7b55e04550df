"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.store_peek import TablePeek


@pytest.fixture
def peek(store_url: str) -> Iterator[TablePeek]:
    looker = TablePeek(store_url)
    yield looker
    looker.engine.dispose()
