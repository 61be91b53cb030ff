"""Building ledger rows for tests, and counting what a database holds."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import peewee
import psycopg

from tokligence.ledger import db as dbmod
from tokligence.ledger.models import LedgerEntry
from tokligence.ledger.row import LedgerRow

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def make_row(**overrides: Any) -> LedgerRow:
    fields: dict[str, Any] = {
        "created_at": T0,
        "request_id": "req-1",
        "endpoint": "/v1/chat/completions",
        "client_dialect": "openai_chat",
        "provider": "openai",
        "requested_model": "gpt-4o-mini",
        "upstream_model": "gpt-4o-mini",
        "mode": "passthrough",
        "stream": False,
        "status": 200,
        "latency_ms": 10.0,
    }
    fields.update(overrides)
    return LedgerRow(**fields)


def count_entries(db: peewee.Database) -> int:
    with dbmod.connection(db):
        return int(LedgerEntry.select().count(db))


def request_ids(db: peewee.Database) -> list[str]:
    with dbmod.connection(db):
        query = LedgerEntry.select(LedgerEntry.request_id).order_by(LedgerEntry.id)
        return [request_id for (request_id,) in query.tuples().execute(db)]


@contextlib.contextmanager
def write_lock(db: peewee.Database) -> Iterator[None]:
    """Hold, from another connection, a lock that makes ledger inserts wait."""
    if isinstance(db, peewee.SqliteDatabase):
        conn = sqlite3.connect(db.database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the file's write lock
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(db.database) as pg:
        pg.execute("LOCK TABLE ledger_entries IN EXCLUSIVE MODE")  # reads pass, writes wait
        try:
            yield
        finally:
            pg.rollback()


def rename_table(db: peewee.Database, old: str, new: str) -> None:
    with dbmod.connection(db):
        dbmod.execute(db, f"ALTER TABLE {old} RENAME TO {new}")
