"""Schema migrations of the ``trade`` role, in the ledger's database.

The engine is the ledger's (``tokligence.ledger.migrations.migrate``): one
ordered list applied under a lock every migrating process waits for, so two
gateways starting on one database at once apply each step exactly once.
Each step snapshots the schema as of its version (local model classes,
never the current ``models``).
"""

from __future__ import annotations

import peewee

from ..ledger.migrations import Migration, MigrationResult, migrate
from .models import (
    ACCOUNTS_TABLE,
    ACKS_TABLE,
    AUTO_ACCOUNTS_TABLE,
    ENTRIES_TABLE,
    OFFER_DAYS_TABLE,
    OFFER_VERSIONS_TABLE,
    RECEIPTS_TABLE,
    RESERVATIONS_TABLE,
)

ROLE = "trade"


def _trade_1_tables(db: peewee.Database) -> None:
    """Offer versions, accounts, reservations, receipts and trade entries."""

    class OfferVersion(peewee.Model):
        id = peewee.BigAutoField()
        name = peewee.TextField()
        version = peewee.IntegerField()
        terms_hash = peewee.TextField()
        effective_at = peewee.BigIntegerField()
        document = peewee.TextField()

        class Meta:
            database = db
            table_name = OFFER_VERSIONS_TABLE
            indexes = ((("name", "version"), True),)

    class Account(peewee.Model):
        id = peewee.BigAutoField()
        buyer = peewee.TextField(unique=True)
        key_hash = peewee.TextField(unique=True)
        key_prefix = peewee.TextField()
        status = peewee.TextField(default="active")
        credit_limit_micro_usd = peewee.BigIntegerField(default=0)
        reserved_micro_usd = peewee.BigIntegerField(default=0)
        posted_micro_usd = peewee.BigIntegerField(default=0)
        created_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = ACCOUNTS_TABLE

    class Reservation(peewee.Model):
        id = peewee.BigAutoField()
        account = peewee.ForeignKeyField(Account, column_name="account_id")
        request_id = peewee.TextField()
        amount_micro_usd = peewee.BigIntegerField()
        state = peewee.TextField()
        posted_micro_usd = peewee.BigIntegerField(null=True)
        created_at = peewee.BigIntegerField()
        closed_at = peewee.BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = RESERVATIONS_TABLE
            indexes = (
                (("account", "request_id"), True),
                (("state", "created_at"), False),
            )

    class ReceiptRow(peewee.Model):
        id = peewee.BigAutoField()
        counterparty = peewee.TextField()
        direction = peewee.TextField()
        seq = peewee.BigIntegerField()
        request_id = peewee.TextField()
        hash = peewee.TextField()
        prev = peewee.TextField()
        document = peewee.TextField()
        created_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = RECEIPTS_TABLE
            indexes = (
                (("counterparty", "direction", "request_id"), True),
                (("counterparty", "direction", "seq"), True),
            )

    class TradeEntry(peewee.Model):
        id = peewee.BigAutoField()
        created_at = peewee.BigIntegerField()
        counterparty = peewee.TextField()
        direction = peewee.TextField()
        request_id = peewee.TextField()
        revision = peewee.IntegerField(default=0)
        offer = peewee.TextField()
        requested_model = peewee.TextField()
        served_model = peewee.TextField()
        status = peewee.TextField()
        input_tokens = peewee.BigIntegerField(default=0)
        output_tokens = peewee.BigIntegerField(default=0)
        cache_read_tokens = peewee.BigIntegerField(default=0)
        cache_write_tokens = peewee.BigIntegerField(default=0)
        cost_micro_usd = peewee.BigIntegerField(default=0)
        receipt = peewee.TextField(null=True)
        note = peewee.TextField(null=True)

        class Meta:
            database = db
            table_name = ENTRIES_TABLE
            indexes = (
                (("counterparty", "direction", "request_id", "revision"), True),
                (("counterparty", "direction", "created_at"), False),
            )

    db.create_tables([OfferVersion, Account, Reservation, ReceiptRow, TradeEntry])


def _trade_2_sales(db: peewee.Database) -> None:
    """What the seller and buyer paths keep: a reservation's offer, order
    and body hash (replays and offer limits) and the tokens it posted (the
    offer's tokens per minute); tokens per offer and UTC day (its daily
    cap); and the acknowledgements of receipts."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as alter

    migrator = SchemaMigrator.from_database(db)
    table = RESERVATIONS_TABLE
    alter(
        migrator.add_column(table, "offer", peewee.TextField(default="")),
        migrator.add_column(table, "body_sha256", peewee.TextField(null=True)),
        migrator.add_column(table, "order_document", peewee.TextField(null=True)),
        migrator.add_column(table, "tokens", peewee.BigIntegerField(null=True)),
        migrator.add_index(table, ("offer", "created_at"), False),
        migrator.add_index(table, ("offer", "closed_at"), False),
    )

    class OfferDay(peewee.Model):
        id = peewee.BigAutoField()
        offer = peewee.TextField()
        day = peewee.TextField()
        tokens = peewee.BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = OFFER_DAYS_TABLE
            indexes = ((("offer", "day"), True),)

    class AckRow(peewee.Model):
        id = peewee.BigAutoField()
        counterparty = peewee.TextField()
        direction = peewee.TextField()
        acked_at = peewee.BigIntegerField()
        receipts = peewee.IntegerField()
        hash = peewee.TextField()
        document = peewee.TextField()
        created_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = ACKS_TABLE
            indexes = (
                (("counterparty", "direction", "hash"), True),
                (("counterparty", "direction", "acked_at"), False),
            )

    db.create_tables([OfferDay, AckRow])


def _trade_3_auto_accounts(db: peewee.Database) -> None:
    """The accounts peer:auto opened at sellers the directory found."""

    class AutoAccount(peewee.Model):
        id = peewee.BigAutoField()
        seller = peewee.TextField(unique=True)
        url = peewee.TextField()
        api_key = peewee.TextField()
        created_at = peewee.BigIntegerField()

        class Meta:
            database = db
            table_name = AUTO_ACCOUNTS_TABLE

    db.create_tables([AutoAccount])


TRADE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="trading tables", apply=_trade_1_tables),
    Migration(
        version=2, name="sales: reservations' orders, offer days, acks", apply=_trade_2_sales
    ),
    Migration(version=3, name="peer:auto's accounts", apply=_trade_3_auto_accounts),
)


def migrate_trade(db: peewee.Database) -> MigrationResult:
    """Bring the trading tables of ``db`` (the ledger's) up to date; safe
    on every start."""
    return migrate(db, ROLE, TRADE_MIGRATIONS)
