"""Fixtures of the admin tests: every test runs on SQLite and on PostgreSQL,
with the ledger and identity tables in the one database (as with a
``database_url``); see ``harness`` for how requests reach the API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import peewee
import pytest

from tokligence.admin.api import AdminApi
from tokligence.identity.migrations import migrate_identity
from tokligence.identity.service import IdentityService
from tokligence.ledger.migrations import migrate

from .harness import Admin, serve_admin


@pytest.fixture
def admin_db(database: peewee.Database) -> peewee.Database:
    migrate(database, "ledger")
    migrate_identity(database)
    return database


@pytest.fixture
async def admin(admin_db: peewee.Database) -> AsyncIterator[Admin]:
    identity = IdentityService(admin_db)
    holder: list[Admin] = []

    def changed() -> None:
        holder[0].prices_changed += 1

    api = AdminApi(identity=identity, ledger_db=admin_db, on_prices_changed=changed)
    async with serve_admin(api, identity, admin_db) as served:
        holder.append(served)
        yield served


@pytest.fixture
async def no_ledger(admin_db: peewee.Database) -> AsyncIterator[Admin]:
    identity = IdentityService(admin_db)
    api = AdminApi(identity=identity, ledger_db=None)
    async with serve_admin(api, identity, admin_db) as served:
        yield served
