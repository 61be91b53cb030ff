"""Fixtures of the ledger tests: every test that takes ``database_url`` runs
once on SQLite and once on PostgreSQL, each time on an empty database."""

from __future__ import annotations

import peewee
import pytest

from tokligence.ledger.migrations import migrate


@pytest.fixture
def ledger_db(database: peewee.Database) -> peewee.Database:
    """An opened database with the ledger schema and seed prices."""
    migrate(database, "ledger")
    return database
