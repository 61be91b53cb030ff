"""Usage reports agree with a plain-Python reference on both back-ends, and
entries read back equal to what was submitted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import peewee
import pytest
import trio

from tokligence.ledger.prices import PriceBook, load_seed
from tokligence.ledger.queries import UsageTotals, recent_entries, usage_summary
from tokligence.ledger.row import LedgerRow
from tokligence.ledger.writer import LedgerWriter

from .rows import make_row

UTC = timezone.utc
DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
ROWS = [
    make_row(
        request_id="a",
        created_at=DAY1 + timedelta(hours=10),
        user_id=1,
        api_key_id=11,
        input_tokens=100,
        output_tokens=50,
    ),
    make_row(
        request_id="b",
        created_at=DAY1 + timedelta(hours=11),
        user_id=1,
        api_key_id=12,
        endpoint="/v1/messages",
        client_dialect="anthropic_messages",
        provider="anthropic",
        requested_model="claude-sonnet-4-5",
        upstream_model="claude-sonnet-4-5-20250929",
        stream=True,
        input_tokens=200,
        output_tokens=100,
        reasoning_tokens=20,
        cache_read_tokens=1000,
        cache_write_tokens=500,
        estimated=True,
        ttfb_ms=1.25,
    ),
    # 23:30 at UTC-5 on day 1 is day 2 in UTC: days are UTC days.
    make_row(
        request_id="c",
        created_at=datetime(2026, 3, 1, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
        user_id=2,
        api_key_id=21,
        mode="translation",
        input_tokens=300,
        output_tokens=10,
    ),
    make_row(
        request_id="d",
        created_at=DAY2 + timedelta(hours=9),
        provider="",
        requested_model="no-such-model",
        upstream_model="",
        mode="none",
        status=404,
        error_kind="not_found",
        latency_ms=0.5,
    ),
    make_row(
        request_id="e",
        created_at=DAY2 + timedelta(hours=10),
        user_id=2,
        api_key_id=21,
        provider="ollama",
        requested_model="llama3",
        upstream_model="llama3",
        input_tokens=7,
        output_tokens=3,
        status=502,
        error_kind="unavailable",
    ),
]
GROUP_KEYS: dict[str, Callable[[LedgerRow], Any]] = {
    "day": lambda row: row.created_at.astimezone(UTC).date().isoformat(),
    "model": lambda row: row.model,
    "user": lambda row: row.user_id,
    "key": lambda row: row.api_key_id,
    "provider": lambda row: row.provider,
}


def reference(group_by: str, rows: list[LedgerRow]) -> dict[Any, UsageTotals]:
    book = PriceBook(load_seed())
    groups: dict[Any, list[LedgerRow]] = {}
    for row in rows:
        groups.setdefault(GROUP_KEYS[group_by](row), []).append(row)
    totals = {}
    for key, members in groups.items():
        costs = [book.cost(row) for row in members]
        totals[key] = UsageTotals(
            key=key,
            requests=len(members),
            errors=sum(row.status >= 400 for row in members),
            input_tokens=sum(row.input_tokens for row in members),
            output_tokens=sum(row.output_tokens for row in members),
            cache_read_tokens=sum(row.cache_read_tokens for row in members),
            cache_write_tokens=sum(row.cache_write_tokens for row in members),
            reasoning_tokens=sum(row.reasoning_tokens for row in members),
            estimated_requests=sum(row.estimated for row in members),
            unpriced_requests=sum(cost is None for cost in costs),
            cost_usd=sum((cost for cost in costs if cost is not None), Decimal("0E-12")),
        )
    return totals


@pytest.fixture
async def filled_db(ledger_db: peewee.Database) -> peewee.Database:
    writer = LedgerWriter(ledger_db)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for row in ROWS:
            await writer.submit(row)
        await writer.close()
    return ledger_db


@pytest.mark.parametrize("group_by", list(GROUP_KEYS))
async def test_usage_is_grouped_like_the_reference(
    filled_db: peewee.Database, group_by: Any
) -> None:
    totals = await trio.to_thread.run_sync(lambda: usage_summary(filled_db, group_by=group_by))
    assert {total.key: total for total in totals} == reference(group_by, ROWS)
    assert len(totals) == len(reference(group_by, ROWS))
    if group_by == "day":
        assert [total.key for total in totals] == ["2026-03-01", "2026-03-02"]


@pytest.mark.parametrize(
    ("filters", "request_ids"),
    [
        ({"since": DAY2}, "cde"),
        ({"until": DAY2}, "ab"),
        ({"since": DAY1 + timedelta(hours=11), "until": DAY2 + timedelta(hours=10)}, "bcd"),
        ({"user_id": 2}, "ce"),
        ({"api_key_id": 12}, "b"),
        ({"since": DAY2 + timedelta(days=1)}, ""),
    ],
)
async def test_usage_filters(
    filled_db: peewee.Database, filters: dict[str, Any], request_ids: str
) -> None:
    totals = await trio.to_thread.run_sync(
        lambda: usage_summary(filled_db, group_by="provider", **filters)
    )
    selected = [row for row in ROWS if row.request_id in request_ids]
    assert {total.key: total for total in totals} == reference("provider", selected)


async def test_entries_read_back_as_submitted_newest_first(filled_db: peewee.Database) -> None:
    records = await trio.to_thread.run_sync(lambda: recent_entries(filled_db, limit=10))
    assert [record.row for record in records] == sorted(
        ROWS, key=lambda row: row.created_at, reverse=True
    )
    book = PriceBook(load_seed())
    assert {record.row.request_id: record.cost_usd for record in records} == {
        row.request_id: book.cost(row) for row in ROWS
    }
    assert all(record.row.created_at.tzinfo is UTC for record in records)


async def test_recent_entries_limit_and_filter(filled_db: peewee.Database) -> None:
    latest = await trio.to_thread.run_sync(lambda: recent_entries(filled_db, limit=2))
    assert [record.row.request_id for record in latest] == ["e", "d"]
    keyed = await trio.to_thread.run_sync(lambda: recent_entries(filled_db, api_key_id=21))
    assert [record.row.request_id for record in keyed] == ["e", "c"]
    with pytest.raises(ValueError, match="limit"):
        recent_entries(filled_db, limit=0)


def test_unknown_grouping_is_refused(ledger_db: peewee.Database) -> None:
    with pytest.raises(ValueError, match="group_by must be one of day, model, user, key"):
        usage_summary(ledger_db, group_by="week")  # type: ignore[arg-type]
