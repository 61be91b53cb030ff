"""Two gateways' books for the statement, reconcile and settle tests: two
SQLite files, or two schemas of one PostgreSQL server (each test runs on
both), migrated as a trading gateway migrates them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.trade.migrations import migrate_trade
from tokligence.trade.settle_models import migrate_settlements

from ..conftest import BACKENDS
from ..pg_cluster import scratch_schema


@dataclass
class Books:
    urls: tuple[str, str]
    a: peewee.Database
    b: peewee.Database

    def reopen(self) -> None:
        """Close both databases and open them again: a restart, as far as
        the book is concerned (nothing is kept but the rows)."""
        dbmod.close_database(self.a)
        dbmod.close_database(self.b)
        self.a, self.b = (open_book(url) for url in self.urls)


def open_book(url: str) -> peewee.Database:
    db = dbmod.open_database(url)
    migrate_trade(db)
    migrate_settlements(db)
    return db


@pytest.fixture(params=BACKENDS)
def book_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield (
            dbmod.sqlite_url(tmp_path / "a" / "ledger.db"),
            dbmod.sqlite_url(tmp_path / "b" / "ledger.db"),
        )
        return
    base = request.getfixturevalue("postgres_url")
    with contextlib.ExitStack() as stack:
        yield (stack.enter_context(scratch_schema(base)), stack.enter_context(scratch_schema(base)))


@pytest.fixture
def books(book_urls: tuple[str, str]) -> Iterator[Books]:
    opened = Books(urls=book_urls, a=open_book(book_urls[0]), b=open_book(book_urls[1]))
    try:
        yield opened
    finally:
        dbmod.close_database(opened.a)
        dbmod.close_database(opened.b)
