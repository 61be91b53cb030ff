"""Usage reports over the ledger: totals grouped by one key, recent entries.

Plain synchronous peewee: callers on the trio side run these in
``trio.to_thread.run_sync``. Results are frozen dataclasses with plain
Python values, the same whichever back-end answered: the day is an ISO
``YYYY-MM-DD`` string (SQLite's ``date()`` text and PostgreSQL's ``date``
both become one), sums are ``int`` and costs ``Decimal`` rounded to twelve
places (SQLite sums its REAL cost column in floating point; see ``models``).

Grouping and ordering refer to the first column by position: an expression
with bind parameters repeated in GROUP BY would carry different parameters
there, which PostgreSQL refuses to treat as the same expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeAlias, get_args

import peewee

from . import db as dbmod
from .models import COST_PLACES, LedgerEntry, row_of, to_utc_naive
from .row import LedgerRow

GroupBy: TypeAlias = Literal["day", "model", "user", "key", "provider"]
GROUP_BY: tuple[str, ...] = get_args(GroupBy)
ERROR_STATUS = 400  # statuses from here on count as errors
COST_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
MAX_RECENT = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageTotals:
    # day: "YYYY-MM-DD"; model and provider: their name; user and key: the
    # id, None for requests made without one.
    key: str | int | None
    requests: int
    errors: int  # HTTP status >= 400
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    estimated_requests: int  # token counts guessed by the gateway
    unpriced_requests: int  # no price matched: not in cost_usd
    cost_usd: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerRecord:
    id: int
    row: LedgerRow
    cost_usd: Decimal | None


def _model_key() -> peewee.Node:
    node: peewee.Node = peewee.fn.COALESCE(
        peewee.fn.NULLIF(LedgerEntry.upstream_model, ""), LedgerEntry.requested_model
    )
    return node


_KEYS: dict[str, Callable[[dbmod.Backend], peewee.Node]] = {
    "day": lambda backend: backend.day(LedgerEntry.created_at),
    "model": lambda backend: _model_key(),
    "user": lambda backend: LedgerEntry.user_id,
    "key": lambda backend: LedgerEntry.api_key_id,
    "provider": lambda backend: LedgerEntry.provider,
}


def _count_where(condition: peewee.Node) -> peewee.Node:
    node: peewee.Node = peewee.fn.SUM(peewee.Case(None, ((condition, 1),), 0))
    return node


def _filters(
    since: datetime | None,
    until: datetime | None,
    user_id: int | None,
    api_key_id: int | None,
) -> list[peewee.Node]:
    conditions: list[peewee.Node] = []
    if since is not None:
        conditions.append(LedgerEntry.created_at >= to_utc_naive(since))
    if until is not None:
        conditions.append(LedgerEntry.created_at < to_utc_naive(until))
    if user_id is not None:
        conditions.append(LedgerEntry.user_id == user_id)
    if api_key_id is not None:
        conditions.append(LedgerEntry.api_key_id == api_key_id)
    return conditions


def _int(value: Any) -> int:
    # PostgreSQL returns SUM(bigint) as numeric; SQLite as int; NULL when no rows.
    return 0 if value is None else int(value)


def _cost(value: Any) -> Decimal:
    if value is None:
        return Decimal(0).quantize(COST_QUANTUM)
    return Decimal(str(value)).quantize(COST_QUANTUM)


def _day(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)[:10]


def usage_summary(
    db: peewee.Database,
    *,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: int | None = None,
    api_key_id: int | None = None,
) -> list[UsageTotals]:
    """Totals per ``group_by`` key for ``since <= created_at < until``
    (timezone-aware bounds, either optional), ordered by key."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}")
    backend = dbmod.backend_of(db)
    e = LedgerEntry
    query = e.select(
        _KEYS[group_by](backend),
        peewee.fn.COUNT(e.id),
        _count_where(e.status >= ERROR_STATUS),
        peewee.fn.SUM(e.input_tokens),
        peewee.fn.SUM(e.output_tokens),
        peewee.fn.SUM(e.cache_read_tokens),
        peewee.fn.SUM(e.cache_write_tokens),
        peewee.fn.SUM(e.reasoning_tokens),
        _count_where(e.estimated),
        _count_where(e.cost_usd.is_null()),
        peewee.fn.SUM(e.cost_usd).coerce(False),
    )
    for condition in _filters(since, until, user_id, api_key_id):
        query = query.where(condition)
    query = query.group_by(peewee.SQL("1")).order_by(peewee.SQL("1"))
    with dbmod.connection(db):
        rows = list(query.tuples().execute(db))
    totals = []
    for key, count, errors, inp, out, cread, cwrite, reasoning, est, unpriced, cost in rows:
        if group_by == "day":
            key = _day(key)
        elif group_by in ("user", "key"):
            key = None if key is None else int(key)
        totals.append(
            UsageTotals(
                key=key,
                requests=_int(count),
                errors=_int(errors),
                input_tokens=_int(inp),
                output_tokens=_int(out),
                cache_read_tokens=_int(cread),
                cache_write_tokens=_int(cwrite),
                reasoning_tokens=_int(reasoning),
                estimated_requests=_int(est),
                unpriced_requests=_int(unpriced),
                cost_usd=_cost(cost),
            )
        )
    return totals


def recent_entries(
    db: peewee.Database,
    *,
    limit: int = 50,
    user_id: int | None = None,
    api_key_id: int | None = None,
) -> list[LedgerRecord]:
    """The latest entries, newest first."""
    if not 1 <= limit <= MAX_RECENT:
        raise ValueError(f"limit must be between 1 and {MAX_RECENT}")
    query = LedgerEntry.select()
    for condition in _filters(None, None, user_id, api_key_id):
        query = query.where(condition)
    query = query.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).limit(limit)
    with dbmod.connection(db):
        entries = list(query.execute(db))
    return [
        LedgerRecord(
            id=entry.id,
            row=row_of(entry),
            cost_usd=None if entry.cost_usd is None else _cost(entry.cost_usd),
        )
        for entry in entries
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class Spend:
    """Tokens and cost of a set of requests (a session, a day)."""

    requests: int
    input_tokens: int  # without cache reads and writes, as in LedgerRow
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    # Answered requests with tokens that no price matched: not in cost_usd,
    # so the cost is a lower bound. Refused requests carry no tokens.
    unpriced_requests: int
    cost_usd: Decimal
    user_id: int | None  # the requests' user (the largest id if several)


def spend_query(conditions: list[peewee.Node]) -> peewee.Select:
    """The one-row totals of the entries meeting every condition."""
    e = LedgerEntry
    has_tokens = (e.input_tokens + e.output_tokens) > 0
    query = e.select(
        peewee.fn.COUNT(e.id),
        peewee.fn.SUM(e.input_tokens),
        peewee.fn.SUM(e.output_tokens),
        peewee.fn.SUM(e.cache_read_tokens),
        peewee.fn.SUM(e.cache_write_tokens),
        _count_where(e.cost_usd.is_null() & has_tokens),
        peewee.fn.SUM(e.cost_usd).coerce(False),
        peewee.fn.MAX(e.user_id),
    )
    for condition in conditions:
        query = query.where(condition)
    return query


def _spend(db: peewee.Database, conditions: list[peewee.Node]) -> Spend:
    with dbmod.connection(db):
        count, inp, out, cread, cwrite, unpriced, cost, user = (
            spend_query(conditions).tuples().execute(db)[0]
        )
    return Spend(
        requests=_int(count),
        input_tokens=_int(inp),
        output_tokens=_int(out),
        cache_read_tokens=_int(cread),
        cache_write_tokens=_int(cwrite),
        unpriced_requests=_int(unpriced),
        cost_usd=_cost(cost),
        user_id=None if user is None else int(user),
    )


def session_conditions(session_id: str) -> list[peewee.Node]:
    return [LedgerEntry.session_id == session_id]


def session_spend(db: peewee.Database, session_id: str) -> Spend:
    """Totals of one agent session's requests (by the index on session_id)."""
    return _spend(db, session_conditions(session_id))


def period_spend(
    db: peewee.Database, *, since: datetime, until: datetime, user_id: int | None = None
) -> Spend:
    """Totals of the requests made in ``since <= created_at < until``, of
    one user when ``user_id`` is given."""
    return _spend(db, _filters(since, until, user_id, None))
