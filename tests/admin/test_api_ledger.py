"""Admin API: prices (append-only history) and usage reports, whose numbers
must equal what was written through the real LedgerWriter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio

from tokligence.ledger.row import LedgerRow
from tokligence.ledger.writer import LedgerWriter

from .harness import Admin
from .rows import ROWS, TEST_PRICE


async def write(admin: Admin, rows: Sequence[LedgerRow]) -> None:
    writer = LedgerWriter(admin.db, flush_interval=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for entry in rows:
            await writer.submit(entry)
        await writer.close()


@pytest.fixture
async def usage(admin: Admin) -> Admin:
    added = await admin.call("POST", "prices", TEST_PRICE)
    assert added.status == 201, added.body
    await write(admin, ROWS)
    return admin


def counts(**values: int) -> dict[str, int]:
    names = (
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "estimated_requests",
        "unpriced_requests",
    )
    return {name: values.get(name, 0) for name in names}


DAY1_COUNTS = counts(
    requests=2,
    input_tokens=4000,
    output_tokens=500,
    cache_read_tokens=200,
    reasoning_tokens=100,
    estimated_requests=1,
)
DAY2_COUNTS = counts(
    requests=2, errors=1, input_tokens=10, output_tokens=1_000_000, unpriced_requests=1
)


async def test_summary_by_day_equals_the_rows_written(usage: Admin) -> None:
    reply = await usage.call("GET", "usage/summary")
    assert reply.status == 200
    assert reply.body == {
        "group_by": "day",
        "since": None,
        "until": None,
        "rows": [
            {"day": "2026-03-01", **DAY1_COUNTS, "cost_usd": "0.005100000000"},
            {"day": "2026-03-02", **DAY2_COUNTS, "cost_usd": "2.000000000000"},
        ],
        "totals": {
            **counts(
                requests=4,
                errors=1,
                input_tokens=4010,
                output_tokens=1_000_500,
                cache_read_tokens=200,
                reasoning_tokens=100,
                estimated_requests=1,
                unpriced_requests=1,
            ),
            "cost_usd": "2.005100000000",
        },
    }


def by(reply_body: dict[str, Any], field: str) -> dict[Any, tuple[int, str]]:
    return {r[field]: (r["requests"], r["cost_usd"]) for r in reply_body["rows"]}


async def test_summary_groupings(usage: Admin) -> None:
    model = (await usage.call("GET", "usage/summary?group_by=model")).body
    assert by(model, "model") == {
        "test-model": (2, "2.002100000000"),
        "test-model-b": (1, "0.003000000000"),
        "zzz-local-model": (1, "0.000000000000"),
    }
    user = (await usage.call("GET", "usage/summary?group_by=user")).body
    assert by(user, "user_id") == {
        1: (2, "0.005100000000"),
        2: (1, "0.000000000000"),
        None: (1, "2.000000000000"),
    }
    key = (await usage.call("GET", "usage/summary?group_by=KEY")).body
    assert key["group_by"] == "key"
    assert set(by(key, "api_key_id")) == {10, 11, 12, None}
    provider = (await usage.call("GET", "usage/summary?group_by=provider")).body
    assert by(provider, "provider") == {
        "anthropic": (1, "0.003000000000"),
        "openai": (3, "2.002100000000"),
    }
    for body in (model, user, key, provider):
        assert body["totals"]["requests"] == 4
        assert body["totals"]["cost_usd"] == "2.005100000000"


@pytest.mark.parametrize(
    ("query", "days"),
    [
        ("since=2026-03-02", ["2026-03-02"]),
        ("until=2026-03-02", ["2026-03-01"]),
        ("since=2026-03-01T11:00:00Z&until=2026-03-02T01:30:00Z", ["2026-03-01", "2026-03-02"]),
        # "+" is the offset, not a space: 11:00+01:00 is 10:00Z, r1's time, included
        ("since=2026-03-01T11:00:00+01:00&until=2026-03-01T11:30:00%2B01:00", ["2026-03-01"]),
        ("user_id=1", ["2026-03-01"]),
        ("api_key_id=12", ["2026-03-02"]),
        ("since=2027-01-01", []),
        ("group_by=&since=", ["2026-03-01", "2026-03-02"]),  # empty values are absent
    ],
)
async def test_summary_filters(usage: Admin, query: str, days: list[str]) -> None:
    reply = await usage.call("GET", f"usage/summary?{query}")
    assert reply.status == 200, reply.body
    assert [r["day"] for r in reply.body["rows"]] == days


async def test_summary_filter_numbers(usage: Admin) -> None:
    reply = await usage.call(
        "GET", "usage/summary?since=2026-03-01T10:00:00Z&until=2026-03-01T11:00:00Z"
    )
    assert reply.body["since"] == "2026-03-01T10:00:00Z"
    assert reply.body["rows"] == [
        {
            "day": "2026-03-01",
            **counts(
                requests=1,
                input_tokens=1000,
                output_tokens=500,
                cache_read_tokens=200,
                reasoning_tokens=100,
            ),
            "cost_usd": "0.002100000000",
        }
    ]
    empty = await usage.call("GET", "usage/summary?since=2030-01-01")
    assert empty.body["rows"] == []
    assert empty.body["totals"] == {**counts(), "cost_usd": "0.000000000000"}


@pytest.mark.parametrize(
    ("query", "param", "fragment"),
    [
        ("group_by=week", "group_by", "must be one of day, model, user, key, provider"),
        ("since=yesterday", "since", "ISO 8601"),
        ("until=2026-13-01", "until", "ISO 8601"),
        ("since=2026-03-02&until=2026-03-01", "until", "later than 'since'"),
        ("since=2026-03-02&until=2026-03-02", "until", "later than 'since'"),
        ("user_id=ada", "user_id", "positive integer"),
        ("api_key_id=0", "api_key_id", "positive integer"),
        ("groupby=day", "groupby", "unknown query parameter"),
        ("group_by=day&group_by=model", "group_by", "given twice"),
    ],
)
async def test_summary_validation(usage: Admin, query: str, param: str, fragment: str) -> None:
    reply = await usage.call("GET", f"usage/summary?{query}")
    assert reply.status == 400
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]


async def test_recent_entries(usage: Admin) -> None:
    reply = await usage.call("GET", "usage/recent?limit=2")
    assert reply.status == 200
    entries = reply.body["entries"]
    assert [e["request_id"] for e in entries] == ["r4", "r3"]
    assert entries[0]["cost_usd"] == "2.000000000000"
    assert entries[1]["cost_usd"] is None
    assert entries[1] | {"id": None} == {
        "id": None,
        "created_at": "2026-03-02T01:00:00Z",
        "request_id": "r3",
        "user_id": 2,
        "api_key_id": 12,
        "endpoint": "/v1/chat/completions",
        "client_dialect": "openai_chat",
        "provider": "openai",
        "requested_model": "zzz-local-model",
        "upstream_model": "zzz-local-model",
        "mode": "passthrough",
        "stream": False,
        "status": 500,
        "error_kind": "api_error",
        "input_tokens": 10,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "estimated": False,
        "latency_ms": 12.5,
        "ttfb_ms": None,
        "gateway_ms": None,
        "upstream_ms": None,
        "counted_input_tokens": None,
        "counted_output_tokens": None,
        "session_id": None,
        "cost_usd": None,
    }
    everything = (await usage.call("GET", "usage/recent")).body["entries"]
    assert [e["request_id"] for e in everything] == ["r4", "r3", "r2", "r1"]
    ada = (await usage.call("GET", "usage/recent?user_id=1")).body["entries"]
    assert [e["request_id"] for e in ada] == ["r2", "r1"]
    key = (await usage.call("GET", "usage/recent?api_key_id=10")).body["entries"]
    assert [e["request_id"] for e in key] == ["r1"]


@pytest.mark.parametrize(
    ("query", "param"),
    [("limit=0", "limit"), ("limit=10001", "limit"), ("limit=ten", "limit"), ("since=x", "since")],
)
async def test_recent_validation(usage: Admin, query: str, param: str) -> None:
    reply = await usage.call("GET", f"usage/recent?{query}")
    assert reply.status == 400
    assert reply.error["param"] == param


# ------------------------------------------------------------------ prices


async def test_prices_add_then_list_shows_history(admin: Admin) -> None:
    seeds = (await admin.call("GET", "prices")).body["prices"]
    assert seeds and all(p["source"].startswith("seed") for p in seeds)
    first = await admin.call("POST", "prices", TEST_PRICE)
    assert first.status == 201
    assert first.body["price"] | {"id": None} == {
        "id": None,
        "model_pattern": "test-model*",
        "provider": "*",
        "input_per_mtok": "1.000000",
        "output_per_mtok": "2.000000",
        "cache_read_per_mtok": "0.500000",
        "cache_write_per_mtok": "1.250000",
        "effective_from": "2026-01-01T00:00:00Z",
        "source": "admin",
    }
    assert admin.prices_changed == 1
    later = await admin.call(
        "POST",
        "prices",
        {
            "model_pattern": "test-model*",
            "provider": "openai",
            "input_per_mtok": "0.75",
            "output_per_mtok": 3,
            "effective_from": "2026-02-01",
        },
    )
    assert later.status == 201
    assert later.body["price"]["cache_read_per_mtok"] == "0.000000"
    assert admin.prices_changed == 2
    third = await admin.call(
        "POST",
        "prices",
        {"model_pattern": "test-model*", "input_per_mtok": 9, "output_per_mtok": 9},
    )
    assert third.status == 201  # in force from now

    history = (await admin.call("GET", "prices")).body["prices"]
    assert len(history) == len(seeds) + 3
    ours = [p for p in history if p["model_pattern"] == "test-model*"]
    assert [(p["provider"], p["input_per_mtok"]) for p in ours] == [
        ("*", "1.000000"),
        ("*", "9.000000"),
        ("openai", "0.750000"),
    ]
    in_force = (await admin.call("GET", "prices?at=2026-01-15")).body["prices"]
    assert [p["input_per_mtok"] for p in in_force if p["model_pattern"] == "test-model*"] == [
        "1.000000"
    ]
    clash = await admin.call("POST", "prices", TEST_PRICE)
    assert clash.status == 409
    assert clash.error["code"] == "price_exists"
    assert admin.prices_changed == 3


@pytest.mark.parametrize(
    ("change", "param", "fragment"),
    [
        ({"model_pattern": None}, "model_pattern", "is required"),
        ({"model_pattern": "  "}, "model_pattern", "1 to 200 characters"),
        ({"model_pattern": 5}, "model_pattern", "must be a string"),
        ({"provider": ""}, "provider", "1 to 200 characters"),
        ({"input_per_mtok": None}, "input_per_mtok", "is required"),
        ({"output_per_mtok": -1}, "output_per_mtok", "non-negative"),
        ({"input_per_mtok": "0.0000001"}, "input_per_mtok", "more than 6 decimals"),
        ({"input_per_mtok": True}, "input_per_mtok", "decimal number"),
        ({"cache_read_per_mtok": "free"}, "cache_read_per_mtok", "decimal number"),
        ({"cache_write_per_mtok": [1]}, "cache_write_per_mtok", "decimal number"),
        ({"effective_from": "soon"}, "effective_from", "ISO 8601"),
        ({"currency": "EUR"}, "currency", "unknown field"),
    ],
)
async def test_price_validation(
    admin: Admin, change: dict[str, Any], param: str, fragment: str
) -> None:
    body = {k: v for k, v in {**TEST_PRICE, **change}.items() if v is not None}
    reply = await admin.call("POST", "prices", body)
    assert reply.status == 400, reply.body
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]
    assert admin.prices_changed == 0
    bad_at = await admin.call("GET", "prices?at=later")
    assert bad_at.status == 400 and bad_at.error["param"] == "at"


async def test_without_a_ledger_usage_and_prices_are_503(no_ledger: Admin) -> None:
    for method, path in (
        ("GET", "usage/summary"),
        ("GET", "usage/recent"),
        ("GET", "prices"),
        ("POST", "prices"),
    ):
        body = TEST_PRICE if method == "POST" else None
        reply = await no_ledger.call(method, path, body)
        assert reply.status == 503, path
        assert reply.error["code"] == "ledger_disabled"
    assert (await no_ledger.call("GET", "users")).status == 200
