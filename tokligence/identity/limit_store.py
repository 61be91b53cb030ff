"""Per-key limit state in the identity database, shared by every process.

Theory of operation
-------------------
The limiter's rules (limits.py) decide; this module keeps what they decide
on where every gateway process sees it: the admissions and token counts of
each limited key's last minute (``key_rate_events``, with their sums in
``key_rate_totals``) and its spend per UTC day and month (``key_spend``).
Only keys with limits ever touch these tables: an unlimited key costs
nothing.

An admission is one transaction that holds a lock every other admission of
the same key waits for -- SQLite's write lock (``BEGIN IMMEDIATE``), a
PostgreSQL advisory lock on the key -- in which the key's events older
than the window are deleted (and taken off its totals), the totals and the
spend rows are read, the rule is applied and, if it admits, the admission
is written. Its cost does not grow with the key's rate: it reads one totals
row and deletes what expired since the last admission; the window's
entries are read only to say when a refusal ends. So N processes
admitting one key see each other's admissions: a burst of requests with
``rpm = N`` gets exactly N through, whichever processes serve it.

What a finished call used is written after it (``record``): its tokens as
an event, its cost added to the day's and the month's spend rows with an
atomic upsert. A period's row is seeded once from the ledger (the spend
the key made in that period before this table knew it), by whichever
process first needs it; a seed never replaces a row that exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import peewee
import trio

from ..ledger import db as dbmod
from ..limits import WINDOW_SECONDS, KeyWindow


class KeyRateEvent(peewee.Model):
    """One admission (``request`` true) or one finished call's tokens."""

    id = peewee.BigAutoField()
    key_id = peewee.BigIntegerField()
    at = peewee.DoubleField()  # epoch seconds
    request = peewee.BooleanField(default=False)
    tokens = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "key_rate_events"
        indexes = ((("key_id", "at"), False),)


class KeyRateTotals(peewee.Model):
    """The sums of a key's events still in the table, kept with every insert
    and delete: an admission reads one row, not the whole window."""

    key_id = peewee.BigIntegerField(primary_key=True)
    requests = peewee.BigIntegerField(default=0)
    tokens = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "key_rate_totals"


class KeySpend(peewee.Model):
    key_id = peewee.BigIntegerField()
    period = peewee.TextField()  # "day" | "month"
    start = peewee.DateTimeField()  # naive UTC: the period's first moment
    spent_usd = peewee.DecimalField(max_digits=24, decimal_places=12)

    class Meta:
        table_name = "key_spend"
        primary_key = peewee.CompositeKey("key_id", "period", "start")


LIMIT_MODELS: tuple[type[peewee.Model], ...] = (KeyRateEvent, KeyRateTotals, KeySpend)


Check = Callable[[KeyWindow], None]  # raises to refuse


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def _admit(
    db: peewee.Database,
    key_id: int,
    now: float,
    periods: Sequence[tuple[str, datetime]],
    check: Check,
    count_request: bool,
) -> None:
    backend = dbmod.backend_of(db)
    with dbmod.connection(db), backend.exclusive_transaction(db, f"tokligence-limits-{key_id}"):
        horizon = now - WINDOW_SECONDS
        mine = KeyRateEvent.key_id == key_id
        # What leaves the window leaves the totals too: the cost of an
        # admission is what expired since the last one, not the window.
        expired = mine & (KeyRateEvent.at <= horizon)
        gone: Any = (
            KeyRateEvent.select(
                peewee.fn.COUNT(KeyRateEvent.id).filter(KeyRateEvent.request),
                peewee.fn.SUM(KeyRateEvent.tokens),
            )
            .where(expired)
            .tuples()
            .get(db)
        )
        gone_requests, gone_tokens = gone[0] or 0, gone[1] or 0
        if gone_requests or gone_tokens:
            KeyRateEvent.delete().where(expired).execute(db)
            _add_totals(db, key_id, -gone_requests, -gone_tokens)
        totals = KeyRateTotals.select().where(KeyRateTotals.key_id == key_id).first(db)
        requests = totals.requests if totals is not None else 0
        tokens = totals.tokens if totals is not None else 0

        def entries(*fields: peewee.Field, where: Any) -> list[tuple[Any, ...]]:
            query = KeyRateEvent.select(*fields).where(mine & where)
            return list(query.order_by(KeyRateEvent.at, KeyRateEvent.id).tuples().execute(db))

        spent: dict[tuple[str, datetime], Decimal] = {}
        for period, start in periods:
            row = (
                KeySpend.select(KeySpend.spent_usd)
                .where(
                    (KeySpend.key_id == key_id)
                    & (KeySpend.period == period)
                    & (KeySpend.start == _naive(start))
                )
                .first(db)
            )
            if row is not None:
                spent[(period, start)] = Decimal(row.spent_usd)
        check(
            KeyWindow(
                requests=int(requests),
                tokens=int(tokens),
                spent=spent,
                request_times=lambda: [
                    float(at) for (at,) in entries(KeyRateEvent.at, where=KeyRateEvent.request)
                ],
                token_entries=lambda: [
                    (float(at), int(count))
                    for at, count in entries(
                        KeyRateEvent.at, KeyRateEvent.tokens, where=KeyRateEvent.tokens > 0
                    )
                ],
            )
        )
        if count_request:
            KeyRateEvent.insert(key_id=key_id, at=now, request=True).execute(db)
            _add_totals(db, key_id, 1, 0)


def _add_totals(db: peewee.Database, key_id: int, requests: int, tokens: int) -> None:
    """Add to a key's totals row, relative to what it holds: never a
    read-then-write another process could slip between."""
    KeyRateTotals.insert(key_id=key_id, requests=requests, tokens=tokens).on_conflict(
        conflict_target=[KeyRateTotals.key_id],
        update={
            KeyRateTotals.requests: KeyRateTotals.requests + requests,
            KeyRateTotals.tokens: KeyRateTotals.tokens + tokens,
        },
    ).execute(db)


def _record(
    db: peewee.Database,
    key_id: int,
    now: float,
    tokens: int,
    cost: Decimal | None,
    periods: Sequence[tuple[str, datetime]],
) -> None:
    backend = dbmod.backend_of(db)
    with dbmod.connection(db), backend.write_transaction(db):
        if tokens:
            KeyRateEvent.insert(key_id=key_id, at=now, tokens=tokens).execute(db)
            _add_totals(db, key_id, 0, tokens)
        if cost:
            for period, start in periods:
                KeySpend.insert(
                    key_id=key_id, period=period, start=_naive(start), spent_usd=cost
                ).on_conflict(
                    conflict_target=[KeySpend.key_id, KeySpend.period, KeySpend.start],
                    update={KeySpend.spent_usd: KeySpend.spent_usd + cost},
                ).execute(db)


def _seeded(db: peewee.Database, key_id: int, period: str, start: datetime) -> bool:
    with dbmod.connection(db):
        query = KeySpend.select(KeySpend.key_id).where(
            (KeySpend.key_id == key_id)
            & (KeySpend.period == period)
            & (KeySpend.start == _naive(start))
        )
        return query.exists(db)


def _seed(db: peewee.Database, key_id: int, period: str, start: datetime, amount: Decimal) -> None:
    backend = dbmod.backend_of(db)
    with dbmod.connection(db), backend.write_transaction(db):
        KeySpend.insert(
            key_id=key_id, period=period, start=_naive(start), spent_usd=amount
        ).on_conflict_ignore().execute(db)


class DatabaseLimitStore:
    """The limiter's ``LimitStore``: the tables above, database work in
    worker threads."""

    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self._seeded: set[tuple[int, str, datetime]] = set()  # known to exist

    async def admit(
        self,
        key_id: int,
        now: float,
        periods: Sequence[tuple[str, datetime]],
        check: Check,
        *,
        count_request: bool,
    ) -> None:
        await trio.to_thread.run_sync(
            partial(_admit, self.db, key_id, now, periods, check, count_request)
        )

    async def record(
        self,
        key_id: int,
        now: float,
        *,
        tokens: int,
        cost: Decimal | None,
        periods: Sequence[tuple[str, datetime]],
    ) -> None:
        if tokens or cost:
            await trio.to_thread.run_sync(
                partial(_record, self.db, key_id, now, tokens, cost, periods)
            )

    async def seeded(self, key_id: int, period: str, start: datetime) -> bool:
        if (key_id, period, start) in self._seeded:
            return True
        found = await trio.to_thread.run_sync(partial(_seeded, self.db, key_id, period, start))
        if found:
            self._seeded.add((key_id, period, start))
        return found

    async def seed(self, key_id: int, period: str, start: datetime, amount: Decimal) -> None:
        await trio.to_thread.run_sync(partial(_seed, self.db, key_id, period, start, amount))
        self._seeded.add((key_id, period, start))
