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
from datetime import date, datetime, timedelta, timezone
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


def model_key() -> peewee.Node:
    node: peewee.Node = peewee.fn.COALESCE(
        peewee.fn.NULLIF(LedgerEntry.upstream_model, ""), LedgerEntry.requested_model
    )
    return node


_KEYS: dict[str, Callable[[dbmod.Backend], peewee.Node]] = {
    "day": lambda backend: backend.day(LedgerEntry.created_at),
    "model": lambda backend: model_key(),
    "user": lambda backend: LedgerEntry.user_id,
    "key": lambda backend: LedgerEntry.api_key_id,
    "provider": lambda backend: LedgerEntry.provider,
}


def count_where(condition: peewee.Node) -> peewee.Node:
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


def as_int(value: Any) -> int:
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


def summary_query(
    backend: dbmod.Backend,
    *,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: int | None = None,
    api_key_id: int | None = None,
) -> peewee.Select:
    """The query of :func:`usage_summary` (for ``EXPLAIN``)."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}")
    e = LedgerEntry
    query = e.select(
        # Served by the created_at range when there is one, never by walking
        # a (key, created_at) index from end to end.
        backend.unindexed(_KEYS[group_by](backend)),
        peewee.fn.COUNT(e.id),
        count_where(e.status >= ERROR_STATUS),
        peewee.fn.SUM(e.input_tokens),
        peewee.fn.SUM(e.output_tokens),
        peewee.fn.SUM(e.cache_read_tokens),
        peewee.fn.SUM(e.cache_write_tokens),
        peewee.fn.SUM(e.reasoning_tokens),
        count_where(e.estimated),
        count_where(e.cost_usd.is_null()),
        peewee.fn.SUM(e.cost_usd).coerce(False),
    )
    for condition in _filters(since, until, user_id, api_key_id):
        query = query.where(condition)
    result: peewee.Select = query.group_by(peewee.SQL("1")).order_by(peewee.SQL("1"))
    return result


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
    query = summary_query(
        dbmod.backend_of(db),
        group_by=group_by,
        since=since,
        until=until,
        user_id=user_id,
        api_key_id=api_key_id,
    )
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
                requests=as_int(count),
                errors=as_int(errors),
                input_tokens=as_int(inp),
                output_tokens=as_int(out),
                cache_read_tokens=as_int(cread),
                cache_write_tokens=as_int(cwrite),
                reasoning_tokens=as_int(reasoning),
                estimated_requests=as_int(est),
                unpriced_requests=as_int(unpriced),
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
    before_id: int | None = None,
) -> list[LedgerRecord]:
    """The latest entries, newest first (by time, then id); with
    ``before_id``, the ones that come after that entry in this order: the
    next page of a listing whose last entry it was. Each page is one range
    scan of the ``created_at`` index, however deep in the ledger."""
    if not 1 <= limit <= MAX_RECENT:
        raise ValueError(f"limit must be between 1 and {MAX_RECENT}")
    e = LedgerEntry
    query = e.select()
    for condition in _filters(None, None, user_id, api_key_id):
        query = query.where(condition)
    query = query.order_by(e.created_at.desc(), e.id.desc()).limit(limit)
    with dbmod.connection(db):
        if before_id is not None:
            cursor = e.select(e.created_at).where(e.id == before_id).tuples().execute(db)
            found = list(cursor)
            if found:
                at = found[0][0]
                # The bound on created_at alone lets the planner range-scan.
                query = query.where(
                    (e.created_at <= at) & ((e.created_at < at) | (e.id < before_id))
                )
            else:
                query = query.where(e.id < before_id)
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
        count_where(e.cost_usd.is_null() & has_tokens),
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
        requests=as_int(count),
        input_tokens=as_int(inp),
        output_tokens=as_int(out),
        cache_read_tokens=as_int(cread),
        cache_write_tokens=as_int(cwrite),
        unpriced_requests=as_int(unpriced),
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


# ---------------------------------------------------------------- time series

Bucket: TypeAlias = Literal["hour", "day"]
BUCKETS: tuple[str, ...] = get_args(Bucket)
BUCKET_SPAN = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
SERIES_BY: tuple[str, ...] = ("model", "provider", "user", "key")
MAX_BUCKETS = 24 * 31  # an hourly month, a daily two years
SERIES_TOP = 10  # series of their own; the rest are summed into one


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesPoint:
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    key: str | int | None  # as in UsageTotals; None also for "other"
    other: bool  # the sum of every key past the top ones
    points: tuple[SeriesPoint, ...]  # one per bucket, in bucket order


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageSeries:
    bucket: Bucket
    by: str
    starts: tuple[datetime, ...]  # each bucket's start (UTC, aware)
    series: tuple[Series, ...]  # largest cost first (then requests), "other" last


def bucket_floor(moment: datetime, bucket: Bucket) -> datetime:
    """The start of the bucket ``moment`` (aware) falls in, in UTC."""
    utc = moment.astimezone(timezone.utc)
    if bucket == "hour":
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket_node(backend: dbmod.Backend, bucket: Bucket) -> peewee.Node:
    """The bucket of a row as text: 'YYYY-MM-DDTHH' or 'YYYY-MM-DD'."""
    column = LedgerEntry.created_at
    node: peewee.Node
    if backend.name == "postgresql":
        pattern = 'YYYY-MM-DD"T"HH24' if bucket == "hour" else "YYYY-MM-DD"
        node = peewee.fn.to_char(column, pattern)
    else:
        # Stored as ISO text ('YYYY-MM-DD HH:MM:SS...'): a prefix is the bucket.
        node = peewee.fn.substr(column, 1, 13 if bucket == "hour" else 10)
    return node.coerce(False)


def _bucket_start(text: str, bucket: Bucket) -> datetime:
    if bucket == "hour":
        return datetime(
            int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), tzinfo=timezone.utc
        )
    return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), tzinfo=timezone.utc)


def usage_series(
    db: peewee.Database,
    *,
    bucket: Bucket,
    by: str,
    since: datetime,
    until: datetime,
    top: int = SERIES_TOP,
) -> UsageSeries:
    """Requests, errors, tokens and cost per ``bucket`` and per ``by`` key
    for ``since <= created_at < until`` (``since`` is moved back to its
    bucket's start): one grouped query over the ``created_at`` index. The
    ``top`` keys by cost (then requests) are series of their own; the rest
    are summed into one "other" series. Every bucket is listed, empty or not."""
    if bucket not in BUCKETS or by not in SERIES_BY:
        raise ValueError("bucket must be hour or day; by model, provider, user or key")
    since = bucket_floor(since, bucket)
    span = BUCKET_SPAN[bucket]
    starts: list[datetime] = []
    moment = since
    while moment < until:
        starts.append(moment)
        moment += span
    if len(starts) > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets")
    backend = dbmod.backend_of(db)
    e = LedgerEntry
    query = (
        e.select(
            _bucket_node(backend, bucket),
            _KEYS[by](backend),
            peewee.fn.COUNT(e.id),
            count_where(e.status >= ERROR_STATUS),
            peewee.fn.SUM(e.input_tokens),
            peewee.fn.SUM(e.output_tokens),
            peewee.fn.SUM(e.cost_usd).coerce(False),
        )
        .where(e.created_at >= to_utc_naive(since), e.created_at < to_utc_naive(until))
        .group_by(peewee.SQL("1, 2"))
    )
    with dbmod.connection(db):
        rows = list(query.tuples().execute(db))
    index = {start: position for position, start in enumerate(starts)}
    cells: dict[str | int | None, dict[int, SeriesPoint]] = {}
    for text, key, count, errors, inp, out, cost in rows:
        if by in ("user", "key"):
            key = None if key is None else int(key)
        position = index[_bucket_start(str(text), bucket)]
        cells.setdefault(key, {})[position] = SeriesPoint(
            requests=as_int(count),
            errors=as_int(errors),
            input_tokens=as_int(inp),
            output_tokens=as_int(out),
            cost_usd=_cost(cost),
        )

    def weight(key: str | int | None) -> tuple[Decimal, int]:
        points = cells[key].values()
        return sum((p.cost_usd for p in points), Decimal(0)), sum(p.requests for p in points)

    ranked = sorted(cells, key=lambda k: (weight(k), str(k)), reverse=True)
    empty = SeriesPoint(requests=0, errors=0, input_tokens=0, output_tokens=0, cost_usd=_cost(0))
    series = [
        Series(key=key, other=False, points=tuple(cells[key].get(i, empty) for i in index.values()))
        for key in ranked[:top]
    ]
    rest = ranked[top:]
    if rest:
        summed = [_add([cells[key].get(i, empty) for key in rest]) for i in range(len(starts))]
        series.append(Series(key=None, other=True, points=tuple(summed)))
    return UsageSeries(bucket=bucket, by=by, starts=tuple(starts), series=tuple(series))


def _add(points: list[SeriesPoint]) -> SeriesPoint:
    return SeriesPoint(
        requests=sum(p.requests for p in points),
        errors=sum(p.errors for p in points),
        input_tokens=sum(p.input_tokens for p in points),
        output_tokens=sum(p.output_tokens for p in points),
        cost_usd=sum((p.cost_usd for p in points), Decimal(0)).quantize(COST_QUANTUM),
    )
