"""Fixtures shared across the suite: every test that takes ``database_url``
(or ``database``) runs once on SQLite and once on a real PostgreSQL server,
each time on an empty database. One PostgreSQL cluster serves the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from tokligence.ledger import db as dbmod

from .pg_cluster import INSTALL_HINT, find_bin_dir, postgres_database, scratch_schema
from .update_check_off import OFF

# Before any gateway or CLI starts: none of them may ask a real registry.
os.environ.update(OFF)
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database on a real PostgreSQL server for the whole session (see
    ``pg_cluster`` for where it comes from). Never skipped: without PostgreSQL
    the suite fails, saying what to install."""
    if not os.environ.get("TEST_POSTGRES_URL") and find_bin_dir() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield dbmod.sqlite_url(tmp_path / "data" / "ledger.db")
        return
    base = request.getfixturevalue("postgres_url")
    with scratch_schema(base) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[peewee.Database]:
    """An opened, not yet migrated database."""
    db = dbmod.open_database(database_url)
    try:
        yield db
    finally:
        dbmod.close_database(db)
