"""Peewee models of the trading tables, never bound to a database.

They live in the ledger's database (role ``trade``, created by
``migrations``), and every query names its database (``execute(db)``), as
the ledger's models do. Money is integer micro-USD in BIGINT columns: exact
on SQLite too, which has no decimal type. Times are Unix milliseconds in
BIGINT columns, as the signed documents carry them, so a stored time and a
signed one compare without conversion.

Each table is append-only in spirit: offer versions, receipts and trade
entries are never updated (a correction is a new entry); accounts and
reservations change only through the conditional updates of ``store``.
"""

from __future__ import annotations

import peewee

OFFER_VERSIONS_TABLE = "trade_offer_versions"
ACCOUNTS_TABLE = "trade_accounts"
RESERVATIONS_TABLE = "trade_reservations"
RECEIPTS_TABLE = "trade_receipts"
ENTRIES_TABLE = "trade_entries"
OFFER_DAYS_TABLE = "trade_offer_days"
ACKS_TABLE = "trade_acks"
AUTO_ACCOUNTS_TABLE = "trade_auto_accounts"


class OfferVersion(peewee.Model):
    id = peewee.BigAutoField()
    name = peewee.TextField()
    version = peewee.IntegerField()  # 1, 2, 3… per name
    terms_hash = peewee.TextField()  # SHA-256 of the terms this version fixes
    effective_at = peewee.BigIntegerField()  # Unix ms; later versions later
    document = peewee.TextField()  # the signed offer, canonical JSON

    class Meta:
        table_name = OFFER_VERSIONS_TABLE
        indexes = ((("name", "version"), True),)


class Account(peewee.Model):
    """A buyer this gateway sells to."""

    id = peewee.BigAutoField()
    buyer = peewee.TextField(unique=True)  # public id
    key_hash = peewee.TextField(unique=True)  # as identity stores API keys
    key_prefix = peewee.TextField()
    status = peewee.TextField(default="active")  # active | disabled
    # reserved + posted never exceeds the limit (store.reserve).
    credit_limit_micro_usd = peewee.BigIntegerField(default=0)
    reserved_micro_usd = peewee.BigIntegerField(default=0)
    posted_micro_usd = peewee.BigIntegerField(default=0)
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = ACCOUNTS_TABLE


class Reservation(peewee.Model):
    """A request's worst-case cost held against its account's credit."""

    id = peewee.BigAutoField()
    # A foreign key to trade_accounts (the migration declares it); a plain
    # id here, so a row's account is its number and never a lazy query.
    account_id = peewee.BigIntegerField()
    request_id = peewee.TextField()
    amount_micro_usd = peewee.BigIntegerField()
    state = peewee.TextField()  # held | posted | voided
    posted_micro_usd = peewee.BigIntegerField(null=True)  # the actual cost, once posted
    created_at = peewee.BigIntegerField()
    closed_at = peewee.BigIntegerField(null=True)
    offer = peewee.TextField(default="")  # the offer's name ("" before trade_2)
    body_sha256 = peewee.TextField(null=True)  # of the request's body, as ordered
    order_document = peewee.TextField(null=True)  # the buyer's signed order
    tokens = peewee.BigIntegerField(null=True)  # all kinds, once posted

    class Meta:
        table_name = RESERVATIONS_TABLE
        indexes = (
            (("account_id", "request_id"), True),
            (("state", "created_at"), False),
            (("offer", "created_at"), False),
            (("offer", "closed_at"), False),
        )


class ReceiptRow(peewee.Model):
    """One signed receipt of a chain: ours to a buyer (``supply``) or a
    seller's to us (``consume``)."""

    id = peewee.BigAutoField()
    counterparty = peewee.TextField()  # the other side's public id
    direction = peewee.TextField()  # supply | consume
    seq = peewee.BigIntegerField()
    request_id = peewee.TextField()
    hash = peewee.TextField()  # SHA-256 of document: the next receipt's prev
    prev = peewee.TextField()
    document = peewee.TextField()  # the signed receipt, canonical JSON
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = RECEIPTS_TABLE
        indexes = (
            (("counterparty", "direction", "request_id"), True),
            (("counterparty", "direction", "seq"), True),
        )


class TradeEntry(peewee.Model):
    """A supply or consume row; a correction is another row of the same
    request with the next revision, holding the difference."""

    id = peewee.BigAutoField()
    created_at = peewee.BigIntegerField()
    counterparty = peewee.TextField()
    direction = peewee.TextField()
    request_id = peewee.TextField()
    revision = peewee.IntegerField(default=0)  # 0: the trade; 1, 2…: corrections
    offer = peewee.TextField()  # NAME@VERSION
    requested_model = peewee.TextField()
    served_model = peewee.TextField()
    status = peewee.TextField()
    input_tokens = peewee.BigIntegerField(default=0)
    output_tokens = peewee.BigIntegerField(default=0)
    cache_read_tokens = peewee.BigIntegerField(default=0)
    cache_write_tokens = peewee.BigIntegerField(default=0)
    cost_micro_usd = peewee.BigIntegerField(default=0)
    receipt = peewee.TextField(null=True)  # the signed receipt; none when there was none
    note = peewee.TextField(null=True)  # why, for a correction

    class Meta:
        table_name = ENTRIES_TABLE
        indexes = (
            (("counterparty", "direction", "request_id", "revision"), True),
            (("counterparty", "direction", "created_at"), False),
        )


class OfferDay(peewee.Model):
    """The tokens an offer sold on one UTC day (its ``daily_tokens`` cap)."""

    id = peewee.BigAutoField()
    offer = peewee.TextField()  # the offer's name
    day = peewee.TextField()  # YYYY-MM-DD, UTC
    tokens = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = OFFER_DAYS_TABLE
        indexes = ((("offer", "day"), True),)


class AckRow(peewee.Model):
    """A signed acknowledgement of receipts: received from a buyer
    (``supply``) or sent to a seller (``consume``)."""

    id = peewee.BigAutoField()
    counterparty = peewee.TextField()
    direction = peewee.TextField()
    acked_at = peewee.BigIntegerField()  # as signed
    receipts = peewee.IntegerField()  # how many it acknowledges
    hash = peewee.TextField()  # SHA-256 of document: the same ack is kept once
    document = peewee.TextField()  # the signed acknowledgement, canonical JSON
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = ACKS_TABLE
        indexes = (
            (("counterparty", "direction", "hash"), True),
            (("counterparty", "direction", "acked_at"), False),
        )


class AutoAccount(peewee.Model):
    """An account ``peer:auto`` opened at a seller the directory found: the
    key is kept as issued, since the buyer must present it (a secret at
    rest, like a provider key in the configuration)."""

    id = peewee.BigAutoField()
    seller = peewee.TextField(unique=True)  # public id
    url = peewee.TextField()  # where it was opened (the seller's signed announcement)
    api_key = peewee.TextField()
    created_at = peewee.BigIntegerField()

    class Meta:
        table_name = AUTO_ACCOUNTS_TABLE


TRADE_MODELS: tuple[type[peewee.Model], ...] = (
    OfferVersion,
    Account,
    Reservation,
    ReceiptRow,
    TradeEntry,
    OfferDay,
    AckRow,
    AutoAccount,
)
