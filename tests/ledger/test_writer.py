"""The writer: every submitted row lands exactly once, off the request path,
with back-pressure instead of loss and loud failures instead of silent ones."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import peewee
import pytest
import trio
import trio.testing

from tokligence.ledger import db as dbmod
from tokligence.ledger.models import ENTRY_COLUMNS, LedgerEntry, row_of
from tokligence.ledger.prices import PriceBook, cost_usd, load_seed
from tokligence.ledger.queries import UsageTotals, usage_summary
from tokligence.ledger.row import ROW_FIELD_NAMES
from tokligence.ledger.writer import LedgerWriter, WriterClosed, WriterStats

from .rows import T0, count_entries, make_row, rename_table, request_ids, write_lock


async def test_a_thousand_concurrent_submissions_give_a_thousand_exact_rows(
    ledger_db: peewee.Database,
) -> None:
    rows = [
        make_row(
            request_id=f"r{i}",
            created_at=T0 + timedelta(microseconds=i),
            input_tokens=i,
            output_tokens=2 * i,
            reasoning_tokens=i % 2,
            cache_read_tokens=3 * i,
            cache_write_tokens=i % 7,
        )
        for i in range(1, 1001)
    ]
    writer = LedgerWriter(ledger_db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as requests:
            for row in rows:
                requests.start_soon(writer.submit, row)
        await writer.close()

    assert sorted(request_ids(ledger_db)) == sorted(row.request_id for row in rows)
    book = PriceBook(load_seed())
    price = book.find(model="gpt-4o-mini", provider="openai", at=T0)
    assert price is not None
    totals = await trio.to_thread.run_sync(lambda: usage_summary(ledger_db, group_by="provider"))
    assert totals == [
        UsageTotals(
            key="openai",
            requests=1000,
            errors=0,
            input_tokens=sum(range(1, 1001)),
            output_tokens=2 * sum(range(1, 1001)),
            cache_read_tokens=3 * sum(range(1, 1001)),
            cache_write_tokens=sum(i % 7 for i in range(1, 1001)),
            reasoning_tokens=500,
            estimated_requests=0,
            unpriced_requests=0,
            cost_usd=sum((cost_usd(row, price) for row in rows), Decimal(0)),
        )
    ]
    stats = writer.stats
    assert stats.rows_written == 1000 and stats.healthy and stats.failures == 0
    # Group commit: the rows arrived together, so few transactions carried them.
    assert stats.batches <= 20


async def test_a_full_queue_makes_submit_wait_and_close_drains_it(
    ledger_db: peewee.Database,
) -> None:
    writer = LedgerWriter(ledger_db, capacity=10, batch_size=5, flush_interval=0)
    finished: list[str] = []

    async def submit(request_id: str) -> None:
        await writer.submit(make_row(request_id=request_id))
        finished.append(request_id)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        with write_lock(ledger_db):
            await writer.submit(make_row(request_id="first"))
            await trio.testing.wait_all_tasks_blocked()  # the writer is stuck on the lock
            for i in range(10):
                await writer.submit(make_row(request_id=f"queued-{i}"))
            nursery.start_soon(submit, "overflow")
            await trio.testing.wait_all_tasks_blocked()
            stats = writer.stats
            assert finished == []  # waiting, neither dropped nor failed
            assert (stats.in_flight, stats.queued, stats.waiting_submitters) == (1, 10, 1)
            nursery.start_soon(writer.close)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(WriterClosed):
                await writer.submit(make_row(request_id="too-late"))
            assert count_entries(ledger_db) == 0
        # Lock released: close() returns once everything accepted is written.

    assert finished == ["overflow"]
    assert sorted(request_ids(ledger_db)) == sorted(
        ["first", "overflow", *(f"queued-{i}" for i in range(10))]
    )
    assert writer.stats.healthy


async def test_a_failing_database_turns_health_red_then_recovers_without_loss(
    ledger_db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    changes: list[WriterStats] = []
    went_down, came_back = trio.Event(), trio.Event()

    def on_health_change(stats: WriterStats) -> None:
        changes.append(stats)
        (came_back if stats.healthy else went_down).set()

    writer = LedgerWriter(
        ledger_db,
        flush_interval=0,
        retry_initial=0.01,
        retry_max=0.05,
        on_health_change=on_health_change,
    )
    rename_table(ledger_db, "ledger_entries", "ledger_entries_away")
    caplog.set_level(logging.ERROR, logger="tokligence.ledger")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(5):
                await writer.submit(make_row(request_id=f"kept-{i}"))
            await went_down.wait()
            assert not writer.healthy
            down = writer.stats
            assert down.last_error is not None and "ledger_entries" in down.last_error
            assert down.in_flight + down.queued == 5
            assert any(
                record.levelno == logging.ERROR and "ledger write of" in record.getMessage()
                for record in caplog.records
            )
            rename_table(ledger_db, "ledger_entries_away", "ledger_entries")
            await came_back.wait()
            await writer.close()
    assert [stats.healthy for stats in changes] == [False, True]
    assert sorted(request_ids(ledger_db)) == [f"kept-{i}" for i in range(5)]
    assert writer.stats.failures >= 1 and writer.stats.rows_written == 5


async def test_close_flushes_without_waiting_for_a_full_batch(
    ledger_db: peewee.Database,
) -> None:
    # A batch that would wait ten minutes to fill: close() must not.
    writer = LedgerWriter(ledger_db, batch_size=10_000, flush_interval=600)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(300):
                await writer.submit(make_row(request_id=f"r{i}"))
            await writer.close()
    assert count_entries(ledger_db) == 300
    assert writer.stats.batches == 1


async def test_an_unreachable_server_is_loud_and_its_rows_are_counted_as_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = dbmod.open_database("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    went_down = trio.Event()
    writer = LedgerWriter(
        db, retry_initial=0.01, retry_max=0.02, on_health_change=lambda s: went_down.set()
    )
    caplog.set_level(logging.ERROR, logger="tokligence.ledger")
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(writer.run)
                await writer.submit(make_row())
                await went_down.wait()
                assert not writer.healthy
                assert writer.stats.last_error is not None
                assert writer.stats.last_error.startswith("OperationalError")
                nursery.cancel_scope.cancel()  # a shutdown deadline ran out
    finally:
        dbmod.close_database(db)
    messages = [record.getMessage() for record in caplog.records]
    assert "ledger writer stopped with 1 rows not written" in messages


async def test_submit_after_close_is_refused(ledger_db: peewee.Database) -> None:
    writer = LedgerWriter(ledger_db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.close()
        await writer.close()  # idempotent
    with pytest.raises(WriterClosed):
        await writer.submit(make_row())


def test_writer_settings_are_checked(ledger_db: peewee.Database) -> None:
    with pytest.raises(ValueError, match="capacity"):
        LedgerWriter(ledger_db, capacity=0)
    with pytest.raises(ValueError, match="intervals"):
        LedgerWriter(ledger_db, retry_initial=1, retry_max=0.5)


@pytest.mark.parametrize("size", [1, 7, 8, 9, 31, 32, 33, 41, 300])
def test_a_batch_of_any_size_lands_whole_and_in_order(
    ledger_db: peewee.Database, size: int
) -> None:
    """Batches go out as multi-row statements of fixed sizes (32, 8, 1): a
    size on either side of each boundary keeps every row, every field and
    the submission order."""
    rows = [
        make_row(
            request_id=f"b{i}",
            created_at=T0 + timedelta(seconds=i),
            user_id=i if i % 3 else None,
            error_kind="rate_limit" if i % 5 == 0 else None,
            input_tokens=i,
            output_tokens=i + 4,
            reasoning_tokens=i % 4,
            estimated=i % 2 == 0,
            stream=i % 2 == 1,
            latency_ms=i + 0.25,
            ttfb_ms=None if i % 4 else i / 8,
        )
        for i in range(size)
    ]
    writer = LedgerWriter(ledger_db)
    writer._write(rows, PriceBook(()))  # the worker thread's unit of work
    assert count_entries(ledger_db) == size
    with dbmod.connection(ledger_db):
        query = LedgerEntry.select().order_by(LedgerEntry.id)
        stored = [row_of(entry) for entry in query.execute(ledger_db)]
    assert stored == rows


def test_every_row_field_has_a_column() -> None:
    assert set(ENTRY_COLUMNS) == {*ROW_FIELD_NAMES, "cost_usd"}


# (a field, a value no database can hold)
REFUSED = [
    ("endpoint", "/v1/chat/completions\udc80"),
    ("requested_model", "claude-x\ud800"),  # a lone surrogate no driver encodes
]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=[f for f, _ in REFUSED])
async def test_a_row_the_database_refuses_is_quarantined_and_the_batch_lands(
    ledger_db: peewee.Database, tmp_path: Path, field: str, value: object
) -> None:
    quarantine = tmp_path / "quarantine" / "ledger-quarantine.jsonl"
    writer = LedgerWriter(ledger_db, batch_size=64, flush_interval=0.05, quarantine=quarantine)
    rows = [make_row(request_id=f"ok-{i}") for i in range(9)]
    rows.insert(4, make_row(request_id="poison", **{field: value}))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for row in rows:
            await writer.submit(row)
        await writer.close()
    assert sorted(request_ids(ledger_db)) == sorted(f"ok-{i}" for i in range(9))
    stats = writer.stats
    assert (stats.rows_written, stats.quarantined, stats.healthy) == (9, 1, True)
    (line,) = quarantine.read_text().splitlines()
    kept = json.loads(line)
    assert kept["row"]["request_id"] == "poison" and kept["reason"]
    assert kept["row"][field] == value  # the value itself, escaped by JSON


async def test_a_bug_in_the_writer_sets_its_batch_aside_and_the_writer_goes_on(
    ledger_db: peewee.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quarantine = tmp_path / "ledger-quarantine.jsonl"
    writer = LedgerWriter(ledger_db, flush_interval=0, quarantine=quarantine)
    real_write = writer._write
    calls = {"n": 0}

    def write_failing_once(batch: object, prices: PriceBook) -> PriceBook:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the writer")
        return real_write(batch, prices)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "_write", write_failing_once)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        await writer.submit(make_row(request_id="first"))
        await trio.sleep(0.05)
        await writer.submit(make_row(request_id="second"))
        await writer.close()
    assert request_ids(ledger_db) == ["second"]
    assert writer.stats.quarantined == 1
    assert json.loads(quarantine.read_text())["row"]["request_id"] == "first"
