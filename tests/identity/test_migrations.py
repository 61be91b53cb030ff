"""The identity role's migrations: idempotent, beside the ledger's, matching
the models, and adopting the original gateway's users and keys."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import peewee
import pytest

from tokligence.identity import store
from tokligence.identity.limit_store import LIMIT_MODELS
from tokligence.identity.migrations import (
    ADOPTED_KEY_NAME,
    IDENTITY_MIGRATIONS,
    legacy_time,
    migrate_identity,
)
from tokligence.identity.models import IDENTITY_MODELS
from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import MigrationResult, applied_versions, migrate


def test_migrate_is_idempotent_and_shares_a_database_with_the_ledger(
    database: peewee.Database,
) -> None:
    assert migrate_identity(database) == MigrationResult(
        role="identity", applied=(1, 2, 3), version=3
    )
    assert migrate_identity(database).applied == ()
    migrate(database, "ledger")  # PostgreSQL: one database for both roles
    with dbmod.connection(database):
        assert applied_versions(database, "identity") == [1, 2, 3]
        assert applied_versions(database, "ledger") == [1, 2, 3]
    assert [step.version for step in IDENTITY_MIGRATIONS] == [1, 2, 3]


def test_the_migrated_tables_match_the_models(identity_db: peewee.Database) -> None:
    with dbmod.connection(identity_db):
        for model in IDENTITY_MODELS:
            table = model._meta.table_name
            columns = {column.name for column in identity_db.get_columns(table)}
            assert columns == set(model._meta.columns), table
        keys_table = IDENTITY_MODELS[1]._meta.table_name
        indexes = {
            (tuple(index.columns), index.unique) for index in identity_db.get_indexes(keys_table)
        }
    assert (("key_hash",), True) in indexes
    assert (("user_id",), False) in indexes
    with dbmod.connection(identity_db):
        for model in LIMIT_MODELS:
            table = model._meta.table_name
            columns = {column.name for column in identity_db.get_columns(table)}
            assert columns == set(model._meta.columns), table
        events = {tuple(i.columns) for i in identity_db.get_indexes("key_rate_events")}
    assert ("key_id", "at") in events


# The original gateway's SQLite schema, as its userstore created it.
LEGACY_SCHEMA = (
    """CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
       display_name TEXT, status TEXT NOT NULL DEFAULT 'active', created_at TIMESTAMP,
       updated_at TIMESTAMP, deleted_at TIMESTAMP)""",
    """CREATE TABLE api_keys (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,
       key_hash TEXT NOT NULL UNIQUE, key_prefix TEXT NOT NULL, scopes TEXT,
       expires_at TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP, deleted_at TIMESTAMP)""",
)
OLD_KEY = "tok_" + "o" * 43
OLD_ADMIN_KEY = "tok_" + "a" * 43
DELETED_KEY = "tok_" + "d" * 43


def legacy_insert(db: peewee.Database, table: str, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    marks = ", ".join([db.param] * len(row))
    dbmod.execute(db, f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_the_original_gateways_users_and_keys_are_adopted(database: peewee.Database) -> None:
    with dbmod.connection(database), database.atomic():
        for statement in LEGACY_SCHEMA:
            dbmod.execute(database, statement)
        users = [
            (10, "Ada@Example.com", "gateway_user", "active", None),
            (11, "root@local", "root_admin", "active", None),
            (12, "gone@example.com", "gateway_user", "active", "2025-01-01 00:00:00"),
            (13, "off@example.com", "gateway_admin", "inactive", None),
        ]
        for user_id, email, role, status, deleted in users:
            legacy_insert(
                database,
                "users",
                {
                    "id": user_id,
                    "email": email,
                    "role": role,
                    "display_name": email.split("@")[0],
                    "status": status,
                    "created_at": "2025-02-18 10:03:23.5+00:00",
                    "updated_at": "2025-02-18 10:03:23",
                    "deleted_at": deleted,
                },
            )
        keys = [
            (20, 10, OLD_KEY, "2030-01-01 00:00:00+00:00", None),
            (21, 11, OLD_ADMIN_KEY, None, None),
            (22, 10, DELETED_KEY, None, "2025-01-01 00:00:00"),
            (23, 12, "tok_" + "g" * 43, None, None),  # of a deleted user
        ]
        for key_id, user_id, key, expires, deleted in keys:
            legacy_insert(
                database,
                "api_keys",
                {
                    "id": key_id,
                    "user_id": user_id,
                    "key_hash": sha(key),
                    "key_prefix": key[:12],
                    "scopes": '["chat"]',
                    "expires_at": expires,
                    "created_at": "2025-02-18 10:03:23",
                    "deleted_at": deleted,
                },
            )
    migrate_identity(database)

    adopted = {user.email: user for user in store.list_users(database)}
    assert sorted(adopted) == ["ada@example.com", "off@example.com", "root@local"]
    assert adopted["off@example.com"].status == "disabled"
    assert adopted["ada@example.com"].created_at == datetime(
        2025, 2, 18, 10, 3, 23, 500000, tzinfo=timezone.utc
    )
    old = store.lookup_key(database, OLD_KEY)
    assert old is not None and old.user == adopted["ada@example.com"]
    assert (old.scopes, old.name, old.prefix) == (("model",), ADOPTED_KEY_NAME, OLD_KEY[:12])
    assert old.expires_at == datetime(2030, 1, 1, tzinfo=timezone.utc)
    admin = store.lookup_key(database, OLD_ADMIN_KEY)
    assert admin is not None and admin.scopes == ("model", "admin")
    assert store.lookup_key(database, DELETED_KEY) is None
    assert len(store.list_keys(database)) == 2
    # The old tables are left as they were; a second run adopts nothing twice.
    with dbmod.connection(database):
        assert dbmod.execute(database, "SELECT COUNT(*) FROM users") == [(4,)]
    assert migrate_identity(database).applied == ()


def test_unrelated_users_tables_are_left_alone(database: peewee.Database) -> None:
    with dbmod.connection(database), database.atomic():
        dbmod.execute(database, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        dbmod.execute(database, "CREATE TABLE api_keys (id INTEGER PRIMARY KEY, secret TEXT)")
    migrate_identity(database)
    assert store.list_users(database) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-02-18 10:03:23", datetime(2025, 2, 18, 10, 3, 23)),
        ("2025-02-18T10:03:23Z", datetime(2025, 2, 18, 10, 3, 23)),
        ("2025-02-18 10:03:23.123456789+00:00", datetime(2025, 2, 18, 10, 3, 23, 123456)),
        ("2025-02-18 12:03:23.5 +0200", datetime(2025, 2, 18, 10, 3, 23, 500000)),
        (datetime(2025, 2, 18, 12, 3, tzinfo=timezone.utc), datetime(2025, 2, 18, 12, 3)),
        (datetime(2025, 2, 18, 12, 3), datetime(2025, 2, 18, 12, 3)),
        ("yesterday", None),
        (None, None),
        (1700000000, None),
    ],
)
def test_legacy_time(value: object, expected: datetime | None) -> None:
    assert legacy_time(value) == expected
