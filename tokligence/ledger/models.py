"""Peewee models of the ledger role's tables, never bound to a database.

The models name no database (``Meta.database`` stays None): every query is
executed against an explicit one (``query.execute(db)``), so one process can
hold several databases — a test's SQLite file and PostgreSQL schema side by
side — without re-binding shared classes. The tables are created by
``migrations``, not from these classes; a test checks the two agree.

Money: prices are NUMERIC(18, 6) in USD per million tokens and costs
NUMERIC(24, 12) in USD. A cost is tokens * price / 10**6, so with prices of
at most six decimals every cost is exact in twelve, and PostgreSQL keeps
and sums it exactly. SQLite has no decimal type: it stores these columns as
REAL, which round-trips 15 significant digits (any cost below $1,000 to the
full twelve decimals) and sums in floating point; report queries round sums
back to twelve decimals.
"""

from __future__ import annotations

import operator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import peewee

from .row import LedgerRow

COST_PLACES = 12
PRICE_PLACES = 6


class LedgerEntry(peewee.Model):
    id = peewee.BigAutoField()
    created_at = peewee.DateTimeField()  # naive UTC
    request_id = peewee.TextField()
    user_id = peewee.BigIntegerField(null=True)
    api_key_id = peewee.BigIntegerField(null=True)
    endpoint = peewee.TextField()
    client_dialect = peewee.TextField()
    provider = peewee.TextField()
    requested_model = peewee.TextField()
    upstream_model = peewee.TextField()
    mode = peewee.TextField()
    stream = peewee.BooleanField()
    status = peewee.IntegerField()
    error_kind = peewee.TextField(null=True)
    input_tokens = peewee.BigIntegerField(default=0)
    output_tokens = peewee.BigIntegerField(default=0)
    cache_read_tokens = peewee.BigIntegerField(default=0)
    cache_write_tokens = peewee.BigIntegerField(default=0)
    reasoning_tokens = peewee.BigIntegerField(default=0)
    estimated = peewee.BooleanField(default=False)
    # NULL: no price matched the model (unknown to the price table).
    cost_usd = peewee.DecimalField(max_digits=24, decimal_places=COST_PLACES, null=True)
    latency_ms = peewee.DoubleField()
    ttfb_ms = peewee.DoubleField(null=True)
    gateway_ms = peewee.DoubleField(null=True)
    upstream_ms = peewee.DoubleField(null=True)
    counted_input_tokens = peewee.BigIntegerField(null=True)
    counted_output_tokens = peewee.BigIntegerField(null=True)
    session_id = peewee.TextField(null=True)

    class Meta:
        table_name = "ledger_entries"


class Price(peewee.Model):
    id = peewee.BigAutoField()
    model_pattern = peewee.TextField()  # routing pattern: exact, prefix*, *suffix, *contains*
    provider = peewee.TextField(default="*")  # "*": any provider
    input_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=PRICE_PLACES)
    output_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=PRICE_PLACES)
    cache_read_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=PRICE_PLACES)
    cache_write_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=PRICE_PLACES)
    effective_from = peewee.DateTimeField()  # naive UTC
    created_at = peewee.DateTimeField()  # naive UTC
    source = peewee.TextField(null=True)  # where the numbers came from

    class Meta:
        table_name = "prices"


LEDGER_MODELS: tuple[type[peewee.Model], ...] = (LedgerEntry, Price)
# The LedgerRow fields stored as they are, read in one C call per row.
_COPIED = tuple(
    name
    for name in LedgerEntry._meta.sorted_field_names
    if name not in ("id", "created_at", "cost_usd")
)
_copied_values = operator.attrgetter(*_COPIED)
# The columns of ledger_entries the writer fills, in the order entry_values() lists them.
ENTRY_COLUMNS: tuple[str, ...] = ("created_at", "cost_usd", *_COPIED)


def to_utc_naive(moment: datetime) -> datetime:
    """The stored form of a timestamp: UTC without tzinfo (aware input required)."""
    if moment.tzinfo is timezone.utc:  # the common case: no conversion
        return moment.replace(tzinfo=None)
    if moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def from_stored(moment: datetime) -> datetime:
    """A stored (naive UTC) timestamp as an aware UTC datetime."""
    return moment.replace(tzinfo=timezone.utc)


def entry_values(row: LedgerRow, cost_usd: Decimal | None) -> tuple[Any, ...]:
    """The column values of ``row``, in :data:`ENTRY_COLUMNS` order."""
    return (to_utc_naive(row.created_at), cost_usd, *_copied_values(row))


def row_of(entry: LedgerEntry) -> LedgerRow:
    """The :class:`LedgerRow` a stored entry was written from."""
    return LedgerRow(
        created_at=from_stored(entry.created_at),
        request_id=entry.request_id,
        user_id=entry.user_id,
        api_key_id=entry.api_key_id,
        endpoint=entry.endpoint,
        client_dialect=entry.client_dialect,
        provider=entry.provider,
        requested_model=entry.requested_model,
        upstream_model=entry.upstream_model,
        mode=entry.mode,  # type: ignore[arg-type]  # checked by LedgerRow
        stream=bool(entry.stream),
        status=entry.status,
        error_kind=entry.error_kind,
        input_tokens=entry.input_tokens,
        output_tokens=entry.output_tokens,
        cache_read_tokens=entry.cache_read_tokens,
        cache_write_tokens=entry.cache_write_tokens,
        reasoning_tokens=entry.reasoning_tokens,
        estimated=bool(entry.estimated),
        latency_ms=entry.latency_ms,
        ttfb_ms=entry.ttfb_ms,
        gateway_ms=entry.gateway_ms,
        upstream_ms=entry.upstream_ms,
        counted_input_tokens=entry.counted_input_tokens,
        counted_output_tokens=entry.counted_output_tokens,
        session_id=entry.session_id,
    )
