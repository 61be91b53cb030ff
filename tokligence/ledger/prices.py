"""Prices per million tokens, which one applies to a request, and its cost.

Theory of operation
-------------------
The ``prices`` table is append-only history: changing a price adds a row
with a later ``effective_from`` and old rows stay, so a request is always
costed with the price in force when it happened. A row applies to a request
when its ``model_pattern`` matches the billed model with the routing rules'
matcher (exact, ``prefix*``, ``*suffix``, ``*contains*``, ``*``), its
``provider`` is the request's or ``*``, and it took effect at or before the
request. Among those, the winner is ranked by, in order:

1. a provider-specific row over a ``*`` row (a self-hosted provider can be
   priced at zero whatever its model names);
2. the most specific pattern: exact, then the longest literal part of a
   prefix, suffix or contains pattern, then ``*``;
3. the latest ``effective_from``.

:class:`PriceBook` is an immutable in-memory snapshot of the table, so the
writer costs a whole batch without a query per row; the writer reloads it
when the table's version (row count and highest id — it only grows) moves.

Cost is exact decimal arithmetic: prices carry at most six decimals, so
``tokens * price / 10**6`` is exact in twelve. ``input_tokens`` excludes cache
reads and writes, which have their own prices; reasoning tokens are part of
the output tokens and are not charged twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation, localcontext
from importlib import resources
from typing import Any, TypeAlias

import peewee

from ..routing import pattern_matches
from .models import PRICE_PLACES, Price, from_stored, to_utc_naive
from .row import LedgerRow

ANY_PROVIDER = "*"
MTOK = Decimal(1_000_000)
COST_QUANTUM = Decimal(1).scaleb(-12)
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# Enough digits for a BIGINT token count times the largest NUMERIC(18, 6).
_COST_PRECISION = 60
# Distinct (model, provider) pairs whose candidate lists are remembered;
# failed requests are costed by the client's model name, which is arbitrary.
_CANDIDATE_CACHE_LIMIT = 1024
SEED_FILE = "prices.json"

PriceVersion: TypeAlias = tuple[int, int]  # (row count, highest id)


@dataclass(frozen=True, kw_only=True, slots=True)
class PriceEntry:
    model_pattern: str
    provider: str = ANY_PROVIDER
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal
    cache_write_per_mtok: Decimal
    effective_from: datetime  # timezone-aware
    id: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.model_pattern.strip():
            raise ValueError("price model_pattern must not be empty")
        if not self.provider.strip():
            raise ValueError("price provider must not be empty (use '*' for any)")
        if self.effective_from.utcoffset() is None:
            raise ValueError("price effective_from must be timezone-aware")
        for name in PRICE_FIELDS:
            _check_price(name, getattr(self, name))

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        provider = 0 if self.provider == ANY_PROVIDER else 1
        return (provider, *pattern_specificity(self.model_pattern))


PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
)


def _check_price(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"price {name} must be a finite Decimal")
    if value < 0:
        raise ValueError(f"price {name} must not be negative")
    if value != value.quantize(PRICE_QUANTUM):
        raise ValueError(f"price {name} has more than {PRICE_PLACES} decimals")


def parse_price(text: str, name: str = "price") -> Decimal:
    """A price from its decimal text (never via float), validated."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{name} {text!r} is not a decimal number") from None
    _check_price(name, value)
    return value


def pattern_specificity(pattern: str) -> tuple[int, int, int]:
    """(class, literal length, kind) of a routing pattern; larger is more specific.

    Branches mirror ``routing.pattern_matches`` so a pattern is ranked as
    the kind it is matched as. Class: 2 exact, 1 prefix/suffix/contains,
    0 ``*``. Equal literal lengths prefer prefix over suffix over contains.
    """
    p = pattern.lower()
    if p == "*":
        return (0, 0, 0)
    starts, ends = p.startswith("*"), p.endswith("*")
    if starts and ends and len(p) > 2:
        return (1, len(p) - 2, 0)
    if ends:
        return (1, len(p) - 1, 2)
    if starts:
        return (1, len(p) - 1, 1)
    return (2, len(p), 0)


def _rank(entry: PriceEntry) -> tuple[tuple[int, int, int, int], datetime, int]:
    return (entry.specificity, entry.effective_from, entry.id or 0)


def cost_usd(row: LedgerRow, price: PriceEntry) -> Decimal:
    """Exact cost of ``row``'s tokens at ``price``, in USD (twelve decimals)."""
    with localcontext() as context:
        context.prec = _COST_PRECISION
        total = (
            row.input_tokens * price.input_per_mtok
            + row.output_tokens * price.output_per_mtok
            + row.cache_read_tokens * price.cache_read_per_mtok
            + row.cache_write_tokens * price.cache_write_per_mtok
        ) / MTOK
        return total.quantize(COST_QUANTUM)


class PriceBook:
    """An immutable snapshot of the price table with a lookup cache."""

    __slots__ = ("_candidates", "entries", "version")

    def __init__(self, entries: Iterable[PriceEntry], version: PriceVersion | None = None) -> None:
        self.entries: tuple[PriceEntry, ...] = tuple(entries)
        self.version = version
        # Per (model, provider): the entries that can ever apply, best first
        # by specificity; only the effective_from test is left per row.
        self._candidates: dict[tuple[str, str], tuple[PriceEntry, ...]] = {}

    def find(self, *, model: str, provider: str, at: datetime) -> PriceEntry | None:
        key = (model, provider)
        candidates = self._candidates.get(key)
        if candidates is None:
            matching = [
                entry
                for entry in self.entries
                if entry.provider in (ANY_PROVIDER, provider)
                and pattern_matches(entry.model_pattern, model)
            ]
            candidates = tuple(sorted(matching, key=_rank, reverse=True))
            if len(self._candidates) >= _CANDIDATE_CACHE_LIMIT:
                self._candidates.clear()
            self._candidates[key] = candidates
        # Candidates are sorted by specificity, then latest first: the first
        # one already in force is the winner.
        for entry in candidates:
            if entry.effective_from <= at:
                return entry
        return None

    def cost(self, row: LedgerRow) -> Decimal | None:
        """``row``'s cost, or None when no price applies to its model."""
        price = self.find(model=row.model, provider=row.provider, at=row.created_at)
        return None if price is None else cost_usd(row, price)


# ------------------------------------------------------------------ seed data


def load_seed(text: str | None = None) -> tuple[PriceEntry, ...]:
    """The seed prices shipped in ``prices.json`` (or parsed from ``text``)."""
    if text is None:
        text = resources.files(__package__).joinpath(SEED_FILE).read_text(encoding="utf-8")
    document = json.loads(text)
    effective_from = _parse_time(document["effective_from"])
    return tuple(_seed_entry(item, effective_from) for item in document["prices"])


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise ValueError(f"seed time {text!r} needs a UTC offset")
    return moment


def _seed_entry(item: dict[str, Any], effective_from: datetime) -> PriceEntry:
    pattern = str(item["model_pattern"])

    def price(name: str) -> Decimal:
        return parse_price(str(item[name]), f"{pattern}.{name}")

    return PriceEntry(
        model_pattern=pattern,
        provider=str(item.get("provider", ANY_PROVIDER)),
        input_per_mtok=price("input_per_mtok"),
        output_per_mtok=price("output_per_mtok"),
        cache_read_per_mtok=price("cache_read_per_mtok"),
        cache_write_per_mtok=price("cache_write_per_mtok"),
        effective_from=effective_from,
        source=f"seed: {item['source']} as of {item['as_of']}",
    )


# ------------------------------------------------------------------ the table


def _entry_of(price: Price) -> PriceEntry:
    return PriceEntry(
        id=price.id,
        model_pattern=price.model_pattern,
        provider=price.provider,
        input_per_mtok=_stored_price(price.input_per_mtok),
        output_per_mtok=_stored_price(price.output_per_mtok),
        cache_read_per_mtok=_stored_price(price.cache_read_per_mtok),
        cache_write_per_mtok=_stored_price(price.cache_write_per_mtok),
        effective_from=from_stored(price.effective_from),
        source=price.source,
    )


def _stored_price(value: Decimal) -> Decimal:
    # SQLite hands back REAL-stored values with float noise in the text form.
    return Decimal(value).quantize(PRICE_QUANTUM)


def _values(entry: PriceEntry, now: datetime) -> dict[str, Any]:
    return {
        "model_pattern": entry.model_pattern,
        "provider": entry.provider,
        "input_per_mtok": entry.input_per_mtok,
        "output_per_mtok": entry.output_per_mtok,
        "cache_read_per_mtok": entry.cache_read_per_mtok,
        "cache_write_per_mtok": entry.cache_write_per_mtok,
        "effective_from": to_utc_naive(entry.effective_from),
        "created_at": to_utc_naive(now),
        "source": entry.source,
    }


def price_version(db: peewee.Database) -> PriceVersion:
    count, highest = (
        Price.select(peewee.fn.COUNT(Price.id), peewee.fn.MAX(Price.id)).tuples().execute(db)[0]
    )
    return (int(count), int(highest or 0))


def list_prices(db: peewee.Database, *, at: datetime | None = None) -> list[PriceEntry]:
    """Every price row (history included), or only those in force at ``at``:
    the latest row per (pattern, provider) that took effect by then."""
    query = Price.select().order_by(
        Price.model_pattern, Price.provider, Price.effective_from, Price.id
    )
    entries = [_entry_of(price) for price in query.execute(db)]
    if at is None:
        return entries
    latest: dict[tuple[str, str], PriceEntry] = {}
    for entry in entries:
        if entry.effective_from <= at:
            latest[(entry.model_pattern, entry.provider)] = entry
    return list(latest.values())


def load_price_book(db: peewee.Database) -> PriceBook:
    version = price_version(db)
    return PriceBook(list_prices(db), version)


def add_price(
    db: peewee.Database,
    *,
    model_pattern: str,
    input_per_mtok: Decimal,
    output_per_mtok: Decimal,
    cache_read_per_mtok: Decimal,
    cache_write_per_mtok: Decimal,
    provider: str = ANY_PROVIDER,
    effective_from: datetime | None = None,
    source: str | None = "admin",
    now: datetime | None = None,
) -> PriceEntry:
    """Record a new price, in force from ``effective_from`` (default: now).

    Older rows are never changed. A second row for the same pattern,
    provider and instant is refused: which one applied would be ambiguous.
    """
    now = now or datetime.now(timezone.utc)
    entry = PriceEntry(
        model_pattern=model_pattern.strip(),
        provider=provider.strip(),
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cache_read_per_mtok=cache_read_per_mtok,
        cache_write_per_mtok=cache_write_per_mtok,
        effective_from=effective_from or now,
        source=source,
    )
    stored_from = to_utc_naive(entry.effective_from)
    with db.atomic():
        clash = Price.select(Price.id).where(
            (Price.model_pattern == entry.model_pattern)
            & (Price.provider == entry.provider)
            & (Price.effective_from == stored_from)
        )
        if clash.exists(db):
            raise ValueError(
                f"a price for {entry.model_pattern!r} via {entry.provider!r} "
                f"effective {entry.effective_from.isoformat()} already exists"
            )
        new_id = Price.insert(_values(entry, now)).execute(db)
    return replace(entry, id=int(new_id))


def seed_prices(
    db: peewee.Database, entries: Sequence[PriceEntry] | None = None, *, now: datetime | None = None
) -> int:
    """Insert the seed prices if the table is empty; returns how many were added."""
    if Price.select(Price.id).exists(db):
        return 0
    seeds = load_seed() if entries is None else entries
    moment = now or datetime.now(timezone.utc)
    rows = [_values(entry, moment) for entry in seeds]
    if rows:
        Price.insert_many(rows).as_rowcount().execute(db)
    return len(rows)
