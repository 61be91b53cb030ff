"""Schema migrations of the ``responses`` role (stored Responses turns).

The engine is the ledger's (``tokligence.ledger.migrations.migrate``): one
ordered list applied under a lock every migrating process waits for, so two
gateways starting on one database at once apply each step exactly once.
Each step snapshots the schema as of its version.
"""

from __future__ import annotations

import peewee

from ..ledger.migrations import Migration, MigrationResult, migrate
from .models import RESPONSES_TABLE

ROLE = "responses"


def _responses_1_table(db: peewee.Database) -> None:
    class StoredResponse(peewee.Model):
        id = peewee.TextField(primary_key=True)
        user_id = peewee.BigIntegerField(null=True, index=True)
        api_key_id = peewee.BigIntegerField(null=True)
        model = peewee.TextField()
        previous_response_id = peewee.TextField(null=True)
        input_items = peewee.TextField()
        response = peewee.TextField()
        created_at = peewee.DateTimeField()

        class Meta:
            database = db
            table_name = RESPONSES_TABLE

    db.create_tables([StoredResponse])


RESPONSES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="stored responses", apply=_responses_1_table),
)


def migrate_responses(db: peewee.Database) -> MigrationResult:
    """Bring the stored-responses table of ``db`` up to date (safe on every start)."""
    return migrate(db, ROLE, RESPONSES_MIGRATIONS)
