"""Fixtures of the identity tests: the ledger's back-end fixtures, so every
test that takes ``database_url``, ``database`` or ``identity_db`` runs once on
SQLite and once on PostgreSQL, each time on an empty database."""

from __future__ import annotations

import peewee
import pytest

from tokligence.identity.migrations import migrate_identity


@pytest.fixture
def identity_db(database: peewee.Database) -> peewee.Database:
    """An opened database with the identity schema."""
    migrate_identity(database)
    return database
