"""Migrations: idempotent, safe when several processes start at once, and the
schema they build is the one the models describe."""

from __future__ import annotations

import threading
from collections.abc import Callable

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import (
    LEDGER_MIGRATIONS,
    Migration,
    MigrationResult,
    applied_versions,
    migrate,
)
from tokligence.ledger.models import LEDGER_MODELS, Price
from tokligence.ledger.prices import load_seed


def price_rows(db: peewee.Database) -> int:
    with dbmod.connection(db):
        return int(Price.select().count(db))


def test_migrate_builds_the_schema_once(database: peewee.Database) -> None:
    first = migrate(database, "ledger")
    second = migrate(database, "ledger")
    assert first == MigrationResult(role="ledger", applied=(1, 2, 3), version=3)
    assert second == MigrationResult(role="ledger", applied=(), version=3)
    with dbmod.connection(database):
        assert applied_versions(database, "ledger") == [1, 2, 3]
    assert price_rows(database) == len(load_seed())


def test_the_migrated_tables_match_the_models(ledger_db: peewee.Database) -> None:
    with dbmod.connection(ledger_db):
        tables = set(ledger_db.get_tables())
        assert {"ledger_entries", "prices", "schema_version"} <= tables
        for model in LEDGER_MODELS:
            table = model._meta.table_name
            columns = {column.name for column in ledger_db.get_columns(table)}
            assert columns == set(model._meta.columns), table
        indexed = {tuple(index.columns) for index in ledger_db.get_indexes("ledger_entries")}
    assert {
        ("created_at",),
        ("user_id", "created_at"),
        ("api_key_id", "created_at"),
        ("upstream_model", "created_at"),
        ("provider", "created_at"),
        ("session_id", "created_at"),
    } <= indexed


def test_concurrent_migrations_apply_each_step_once(database_url: str) -> None:
    # Two databases objects on one URL stand for two gateway processes.
    databases = [dbmod.open_database(database_url) for _ in range(2)]
    barrier = threading.Barrier(len(databases))
    results: list[MigrationResult] = []
    errors: list[BaseException] = []

    def start(db: peewee.Database) -> Callable[[], None]:
        def body() -> None:
            try:
                barrier.wait()
                results.append(migrate(db, "ledger"))
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        return body

    threads = [threading.Thread(target=start(db)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert sorted(result.applied for result in results) == [(), (1, 2, 3)]
        with dbmod.connection(databases[0]):
            assert applied_versions(databases[0], "ledger") == [1, 2, 3]
        assert price_rows(databases[0]) == len(load_seed())
    finally:
        for db in databases:
            dbmod.close_database(db)


def test_a_failing_step_rolls_the_whole_run_back(database: peewee.Database) -> None:
    def create(db: peewee.Database) -> None:
        dbmod.execute(db, "CREATE TABLE widgets (id INTEGER PRIMARY KEY)")

    def explode(db: peewee.Database) -> None:
        raise RuntimeError("step 2 failed")

    steps = (
        Migration(version=1, name="widgets", apply=create),
        Migration(version=2, name="explode", apply=explode),
    )
    with pytest.raises(RuntimeError, match="step 2 failed"):
        migrate(database, "widgets", steps)
    with dbmod.connection(database):
        assert "widgets" not in database.get_tables()
        assert applied_versions(database, "widgets") == []
    # Fixed, it applies from the start.
    fixed = (steps[0], Migration(version=2, name="noop", apply=lambda db: None))
    assert migrate(database, "widgets", fixed).applied == (1, 2)


def test_roles_are_tracked_separately(ledger_db: peewee.Database) -> None:
    other = (Migration(version=1, name="noop", apply=lambda db: None),)
    assert migrate(ledger_db, "identity-test", other).applied == (1,)
    with dbmod.connection(ledger_db):
        assert applied_versions(ledger_db, "ledger") == [1, 2, 3]
        assert applied_versions(ledger_db, "identity-test") == [1]


def test_a_database_newer_than_the_code_is_refused(ledger_db: peewee.Database) -> None:
    with pytest.raises(RuntimeError, match="newer than this gateway knows"):
        migrate(ledger_db, "ledger", LEDGER_MIGRATIONS[:1])


def test_unknown_roles_and_gapped_lists_are_refused(ledger_db: peewee.Database) -> None:
    with pytest.raises(ValueError, match="unknown database role 'billing': known roles are ledger"):
        migrate(ledger_db, "billing")
    gapped = (Migration(version=2, name="x", apply=lambda db: None),)
    with pytest.raises(ValueError, match=r"numbered 1\.\.n"):
        migrate(ledger_db, "gapped", gapped)
