"""The price table in the database: append-only history, seeded once, and
the writer costing each request with the price of its time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import peewee
import pytest
import trio

from tokligence.ledger import db as dbmod
from tokligence.ledger.prices import (
    PriceEntry,
    add_price,
    list_prices,
    load_price_book,
    load_seed,
    price_version,
    seed_prices,
)
from tokligence.ledger.queries import recent_entries
from tokligence.ledger.row import LedgerRow
from tokligence.ledger.writer import LedgerWriter

from .rows import T0, make_row

T1 = T0 + timedelta(days=30)


def add(db: peewee.Database, input_: str, **kwargs: object) -> PriceEntry:
    with dbmod.connection(db):
        return add_price(
            db,
            model_pattern=str(kwargs.pop("model_pattern", "acme-1")),
            input_per_mtok=Decimal(input_),
            output_per_mtok=Decimal("8.5"),
            cache_read_per_mtok=Decimal("0.125"),
            cache_write_per_mtok=Decimal("0.000001"),
            **kwargs,  # type: ignore[arg-type]
        )


def _comparable(entry: PriceEntry) -> tuple[object, ...]:
    return (
        entry.model_pattern,
        entry.provider,
        entry.input_per_mtok,
        entry.output_per_mtok,
        entry.cache_read_per_mtok,
        entry.cache_write_per_mtok,
        entry.effective_from,
        entry.source,
    )


def test_seed_prices_round_trip_exactly(ledger_db: peewee.Database) -> None:
    with dbmod.connection(ledger_db):
        stored = list_prices(ledger_db)
    assert sorted(map(_comparable, stored)) == sorted(map(_comparable, load_seed()))


def test_seeding_happens_only_on_an_empty_table(ledger_db: peewee.Database) -> None:
    with dbmod.connection(ledger_db):
        assert seed_prices(ledger_db) == 0
        assert len(list_prices(ledger_db)) == len(load_seed())


def test_adding_a_price_keeps_the_old_one(ledger_db: peewee.Database) -> None:
    old = add(ledger_db, "1.5", effective_from=T0)
    new = add(ledger_db, "2.25", effective_from=T1, provider="acme")
    newer = add(ledger_db, "3", effective_from=T1)
    assert old.id is not None and new.id is not None and newer.id is not None
    with dbmod.connection(ledger_db):
        history = [e for e in list_prices(ledger_db) if e.model_pattern == "acme-1"]
        before = [e for e in list_prices(ledger_db, at=T0) if e.model_pattern == "acme-1"]
        after = [e for e in list_prices(ledger_db, at=T1) if e.model_pattern == "acme-1"]
    assert [(e.provider, e.input_per_mtok, e.effective_from) for e in history] == [
        ("*", Decimal("1.5"), T0),
        ("*", Decimal("3"), T1),
        ("acme", Decimal("2.25"), T1),
    ]
    assert history[0] == old and history[0].cache_write_per_mtok == Decimal("0.000001")
    assert [e.input_per_mtok for e in before] == [Decimal("1.5")]
    assert [(e.provider, e.input_per_mtok) for e in after] == [
        ("*", Decimal("3")),
        ("acme", Decimal("2.25")),
    ]


def test_a_second_price_for_the_same_instant_is_refused(ledger_db: peewee.Database) -> None:
    add(ledger_db, "1", effective_from=T0)
    with pytest.raises(ValueError, match="already exists"):
        add(ledger_db, "2", effective_from=T0)


def test_a_price_without_a_time_takes_effect_now(ledger_db: peewee.Database) -> None:
    entry = add(ledger_db, "1", now=T1)
    assert entry.effective_from == T1 and entry.source == "admin"


def test_the_version_moves_when_a_price_is_added(ledger_db: peewee.Database) -> None:
    with dbmod.connection(ledger_db):
        before = price_version(ledger_db)
        assert load_price_book(ledger_db).version == before
    add(ledger_db, "1")
    with dbmod.connection(ledger_db):
        after = price_version(ledger_db)
    assert after[0] == before[0] + 1 and after[1] > before[1]


def acme_row(request_id: str, created_at: datetime) -> LedgerRow:
    return make_row(
        request_id=request_id,
        created_at=created_at,
        provider="acme",
        upstream_model="acme-1",
        input_tokens=1_000_000,
        output_tokens=0,
    )


async def write(writer: LedgerWriter, rows: list[LedgerRow]) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for row in rows:
            await writer.submit(row)
        await writer.close()


async def test_requests_are_costed_with_the_price_of_their_time(
    ledger_db: peewee.Database,
) -> None:
    add(ledger_db, "1", effective_from=T0)
    await write(
        LedgerWriter(ledger_db, flush_interval=0),
        [acme_row("before-any", T0 - timedelta(1)), acme_row("old-price", T1 - timedelta(0, 1))],
    )
    # A price change made by another process: the snapshot this writer
    # starts with is stale, and its version check must notice.
    with dbmod.connection(ledger_db):
        stale = load_price_book(ledger_db)
    add(ledger_db, "4", effective_from=T1)
    await write(
        LedgerWriter(ledger_db, flush_interval=0, prices=stale),
        [acme_row("new-price", T1), acme_row("late-old", T0 + timedelta(1))],
    )
    records = await trio.to_thread.run_sync(lambda: recent_entries(ledger_db, limit=10))
    costs = {record.row.request_id: record.cost_usd for record in records}
    assert costs == {
        "before-any": None,  # no price yet: unpriced, never guessed
        "old-price": Decimal("1.000000000000"),
        "new-price": Decimal("4.000000000000"),
        "late-old": Decimal("1.000000000000"),  # old rows keep the old price
    }
