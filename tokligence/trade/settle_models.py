"""The settlement tables, and their migrations (role ``trade_settle``).

They live in the ledger's database beside the trading tables. A role of
their own, so their steps are numbered apart from the ``trade`` role's;
they only ever refer to trade entries by (counterparty, direction,
request id, revision), which the trade role never changes.

``trade_settlements`` holds each settlement of a pair as both sides signed
it: the canonical body, our signature and theirs, who proposed it.
``trade_settled_entries`` names every entry a settlement covers; its
unique index on the entry is what keeps an entry from being settled twice,
whatever number of processes settle at once. Both are append-only.

No PyNaCl here: the summary reads these tables on any gateway.
"""

from __future__ import annotations

import peewee

from ..ledger.migrations import Migration, MigrationResult, migrate

ROLE = "trade_settle"
SETTLEMENTS_TABLE = "trade_settlements"
SETTLED_TABLE = "trade_settled_entries"


class SettlementRow(peewee.Model):
    id = peewee.BigAutoField()
    counterparty = peewee.TextField()  # the other party's public id
    number = peewee.BigIntegerField()  # 1, 2, 3… per pair
    cut_off = peewee.BigIntegerField()  # Unix ms
    hash = peewee.TextField()  # SHA-256 of document: the next one's previous
    document = peewee.TextField()  # the canonical body both signed
    our_sig = peewee.TextField()  # base64url
    their_sig = peewee.TextField()
    proposer = peewee.TextField()  # public id
    created_at = peewee.BigIntegerField()  # Unix ms

    class Meta:
        table_name = SETTLEMENTS_TABLE
        indexes = (
            (("counterparty", "number"), True),
            (("counterparty", "hash"), True),
        )


class SettledEntryRow(peewee.Model):
    id = peewee.BigAutoField()
    settlement_id = peewee.BigIntegerField()  # trade_settlements.id
    counterparty = peewee.TextField()
    direction = peewee.TextField()
    request_id = peewee.TextField()
    revision = peewee.IntegerField()

    class Meta:
        table_name = SETTLED_TABLE
        indexes = (
            (("counterparty", "direction", "request_id", "revision"), True),
            (("settlement_id",), False),
        )


def _settle_1_tables(db: peewee.Database) -> None:
    """trade_settlements and trade_settled_entries."""

    class Settlement(peewee.Model):
        id = peewee.BigAutoField()
        counterparty = peewee.TextField()
        number = peewee.BigIntegerField()
        cut_off = peewee.BigIntegerField()
        hash = peewee.TextField()
        document = peewee.TextField()
        our_sig = peewee.TextField()
        their_sig = peewee.TextField()
        proposer = peewee.TextField()
        created_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = SETTLEMENTS_TABLE
            indexes = (
                (("counterparty", "number"), True),
                (("counterparty", "hash"), True),
            )

    class SettledEntry(peewee.Model):
        id = peewee.BigAutoField()
        settlement = peewee.ForeignKeyField(Settlement, column_name="settlement_id")
        counterparty = peewee.TextField()
        direction = peewee.TextField()
        request_id = peewee.TextField()
        revision = peewee.IntegerField()

        class Meta:
            database = db
            table_name = SETTLED_TABLE
            indexes = ((("counterparty", "direction", "request_id", "revision"), True),)

    db.create_tables([Settlement, SettledEntry])


SETTLE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="settlement tables", apply=_settle_1_tables),
)


def migrate_settlements(db: peewee.Database) -> MigrationResult:
    """Bring the settlement tables of ``db`` (the ledger's) up to date."""
    return migrate(db, ROLE, SETTLE_MIGRATIONS)
