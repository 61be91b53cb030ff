"""What was consumed, supplied, settled and is owed, per counterparty.

Theory of operation
-------------------
Plain sums of the trade entries, grouped by counterparty and direction
(as ``book.totals``; corrections included), computed three ways:
everything; what settlements cover (entries named in
``trade_settled_entries``); and what is never owed -- an entry of zero
cost whose request holds no receipt (settlements.py: not billable). What
is *unsettled* is the rest. The *net* of a counterparty is unsettled
supplied minus unsettled consumed, in tokens and in micro-USD: positive,
it owes us; negative, we owe it; zero after a settlement of everything.

Both directions of a pair show at once: a gateway that buys from and
sells to the same peer sees one row for it. Everything is read from the
rows each time, so a restart changes nothing. Only peewee and the models
are imported (never PyNaCl): the admin API answers this on any gateway,
and a database without the trading tables has nothing to sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from ..ledger import db as dbmod
from .models import ENTRIES_TABLE, TradeEntry
from .money import TOKEN_KINDS, usd_text
from .settle_models import SETTLED_TABLE, SettledEntryRow

_COLUMNS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    requests: int = 0  # requests entered (corrections not counted again)
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_micro_usd: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def __add__(self, other: Figures) -> Figures:
        return Figures(**{name: getattr(self, name) + getattr(other, name) for name in _FIELDS})

    def __sub__(self, other: Figures) -> Figures:
        return Figures(**{name: getattr(self, name) - getattr(other, name) for name in _FIELDS})

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "tokens": {**{kind: getattr(self, kind) for kind in TOKEN_KINDS}, "total": self.tokens},
            "cost_micro_usd": self.cost_micro_usd,
            "cost_usd": usd_text(self.cost_micro_usd),
        }


_FIELDS = ("requests", *_COLUMNS, "cost_micro_usd")


@dataclass(frozen=True, kw_only=True, slots=True)
class Direction:
    """One direction with one counterparty."""

    total: Figures = field(default_factory=Figures)
    settled: Figures = field(default_factory=Figures)
    unbilled: Figures = field(default_factory=Figures)  # never owed

    @property
    def unsettled(self) -> Figures:
        return self.total - self.settled - self.unbilled


@dataclass(frozen=True, kw_only=True, slots=True)
class Counterparty:
    counterparty: str
    consumed: Direction
    supplied: Direction

    @property
    def net_tokens(self) -> int:
        return self.supplied.unsettled.tokens - self.consumed.unsettled.tokens

    @property
    def net_micro_usd(self) -> int:
        """What the counterparty owes us (negative: what we owe it)."""
        return self.supplied.unsettled.cost_micro_usd - self.consumed.unsettled.cost_micro_usd

    def as_json(self) -> dict[str, Any]:
        return {
            "counterparty": self.counterparty,
            "consumed": self.consumed.total.as_json(),
            "supplied": self.supplied.total.as_json(),
            "settled": {
                "consumed": self.consumed.settled.as_json(),
                "supplied": self.supplied.settled.as_json(),
            },
            "unsettled": {
                "consumed": self.consumed.unsettled.as_json(),
                "supplied": self.supplied.unsettled.as_json(),
            },
            "net": {
                "tokens": self.net_tokens,
                "cost_micro_usd": self.net_micro_usd,
                "cost_usd": usd_text(self.net_micro_usd),
            },
        }


def _sums(query: peewee.ModelSelect[Any], db: peewee.Database) -> dict[tuple[str, str], Figures]:
    grouped = query.select(
        TradeEntry.counterparty,
        TradeEntry.direction,
        peewee.fn.COUNT(TradeEntry.id).filter(TradeEntry.revision == 0),
        *(
            peewee.fn.COALESCE(peewee.fn.SUM(column), 0)
            for column in (
                TradeEntry.input_tokens,
                TradeEntry.output_tokens,
                TradeEntry.cache_read_tokens,
                TradeEntry.cache_write_tokens,
                TradeEntry.cost_micro_usd,
            )
        ),
    ).group_by(TradeEntry.counterparty, TradeEntry.direction)
    return {
        (row[0], row[1]): Figures(
            **{name: int(value) for name, value in zip(_FIELDS, row[2:], strict=True)}
        )
        for row in grouped.tuples().execute(db)
    }


def _settled_on() -> peewee.Expression:
    return (
        (SettledEntryRow.counterparty == TradeEntry.counterparty)
        & (SettledEntryRow.direction == TradeEntry.direction)
        & (SettledEntryRow.request_id == TradeEntry.request_id)
        & (SettledEntryRow.revision == TradeEntry.revision)
    )


def summary(db: peewee.Database) -> list[Counterparty]:
    """Per counterparty, both directions; none when nothing was traded."""
    with dbmod.connection(db):
        tables = set(db.get_tables())
        if ENTRIES_TABLE not in tables:
            return []
        totals = _sums(TradeEntry.select(), db)
        settled: dict[tuple[str, str], Figures] = {}
        if SETTLED_TABLE in tables:
            settled = _sums(TradeEntry.select().join(SettledEntryRow, on=_settled_on()), db)
        first = TradeEntry.alias("first_entry")
        unbilled = _sums(
            TradeEntry.select()
            .join(
                first,
                peewee.JOIN.LEFT_OUTER,
                on=(
                    (first.counterparty == TradeEntry.counterparty)
                    & (first.direction == TradeEntry.direction)
                    & (first.request_id == TradeEntry.request_id)
                    & (first.revision == 0)
                ),
            )
            .where((TradeEntry.cost_micro_usd == 0) & first.receipt.is_null()),
            db,
        )
    out = []
    for counterparty in sorted({key[0] for key in totals}):

        def direction(name: str, party: str = counterparty) -> Direction:
            key = (party, name)
            return Direction(
                total=totals.get(key, Figures()),
                settled=settled.get(key, Figures()),
                unbilled=unbilled.get(key, Figures()),
            )

        out.append(
            Counterparty(
                counterparty=counterparty,
                consumed=direction("consume"),
                supplied=direction("supply"),
            )
        )
    return out


def _all(rows: Sequence[Counterparty], pick: str) -> Direction:
    total, settled, unbilled = Figures(), Figures(), Figures()
    for row in rows:
        part: Direction = getattr(row, pick)
        total, settled, unbilled = (
            total + part.total,
            settled + part.settled,
            unbilled + part.unbilled,
        )
    return Direction(total=total, settled=settled, unbilled=unbilled)


def summary_json(rows: Sequence[Counterparty]) -> dict[str, Any]:
    """What ``tokligence trade summary --json`` prints and the admin API's
    ``trade/summary`` answers."""
    everything = Counterparty(
        counterparty="*", consumed=_all(rows, "consumed"), supplied=_all(rows, "supplied")
    )
    totals = everything.as_json()
    del totals["counterparty"]
    return {"counterparties": [row.as_json() for row in rows], "totals": totals}
