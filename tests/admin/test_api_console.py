"""Admin API routes the web console reads: usage as time series, the recent
entries page by page, the effective configuration (secrets masked)."""

from __future__ import annotations

from typing import Any

import pytest

from tokligence.admin.api import AdminApi

from .harness import Admin, serve_admin
from .rows import ROWS, row
from .test_api_ledger import usage, write

__all__ = ["usage"]  # the fixture, imported for the tests below

SERIES = "usage/series?bucket=day&since=2026-03-01T00:00:00Z&until=2026-03-03T00:00:00Z"


def by_key(body: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {series["key"]: series for series in body["series"]}


async def test_series_by_model_per_day(usage: Admin) -> None:
    reply = await usage.call("GET", SERIES + "&by=model")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["buckets"] == ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"]
    assert (body["bucket"], body["by"]) == ("day", "model")
    series = by_key(body)
    assert set(series) == {"test-model", "test-model-b", "zzz-local-model"}
    # Largest cost first: r4's two dollars and r1's 0.0021 on test-model.
    assert body["series"][0]["key"] == "test-model"
    assert series["test-model"]["requests"] == [1, 1]
    assert series["test-model"]["cost_usd"] == ["0.002100000000", "2.000000000000"]
    assert series["test-model-b"]["input_tokens"] == [3000, 0]
    assert series["zzz-local-model"]["errors"] == [0, 1]
    assert series["zzz-local-model"]["cost_usd"] == ["0.000000000000", "0.000000000000"]


@pytest.mark.parametrize(
    ("by", "keys"),
    [("provider", {"openai", "anthropic"}), ("user", {1, 2, None}), ("key", {10, 11, 12, None})],
)
async def test_series_groupings(usage: Admin, by: str, keys: set[Any]) -> None:
    reply = await usage.call("GET", f"{SERIES}&by={by}")
    assert reply.status == 200, reply.body
    assert set(by_key(reply.body)) == keys
    assert sum(sum(s["requests"]) for s in reply.body["series"]) == len(ROWS)


async def test_series_per_hour_lists_empty_hours(usage: Admin) -> None:
    query = "usage/series?bucket=hour&since=2026-03-01T09:30:00Z&until=2026-03-01T13:00:00Z"
    body = (await usage.call("GET", query)).body
    # since is moved back to its hour's start; every hour is listed.
    assert body["since"] == "2026-03-01T09:00:00Z"
    assert body["buckets"] == [f"2026-03-01T{h:02}:00:00Z" for h in (9, 10, 11, 12)]
    series = by_key(body)
    assert series["test-model"]["requests"] == [0, 1, 0, 0]
    assert series["test-model-b"]["requests"] == [0, 0, 0, 1]


async def test_series_keeps_ten_keys_and_sums_the_rest(admin: Admin) -> None:
    rows = [
        row(request_id=f"m{i}", requested_model=f"m{i:02}", upstream_model=f"m{i:02}")
        for i in range(12)
        for _ in range(i + 1)  # m11 has the most requests, m00 the fewest
    ]
    await write(admin, rows)
    body = (await admin.call("GET", SERIES)).body
    keys = [s["key"] for s in body["series"]]
    assert keys == [f"m{i:02}" for i in range(11, 1, -1)] + [None]
    other = body["series"][-1]
    assert other["other"] is True
    assert other["requests"] == [1 + 2, 0]  # m00 and m01
    assert not any(s["other"] for s in body["series"][:-1])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("bucket=week", "bucket"),
        ("by=day", "by"),
        ("since=yesterday", "since"),
        ("since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"),
        ("bucket=hour&since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z", "since"),
        ("limit=3", "limit"),
    ],
)
async def test_series_validation(usage: Admin, query: str, param: str) -> None:
    reply = await usage.call("GET", "usage/series?" + query)
    assert reply.status == 400, reply.body
    assert reply.error["param"] == param


async def test_recent_pages_through_the_ledger_with_before_id(admin: Admin) -> None:
    # Out of id order in time: r0 was made last but written first.
    rows = [
        row(request_id=f"r{i}", created_at=ROWS[0].created_at.replace(minute=i)) for i in range(7)
    ]
    await write(admin, [rows[6], *rows[:6]])
    seen: list[str] = []
    before = ""
    while True:
        reply = await admin.call("GET", f"usage/recent?limit=3{before}")
        assert reply.status == 200, reply.body
        entries = reply.body["entries"]
        if not entries:
            break
        seen += [entry["request_id"] for entry in entries]
        before = f"&before_id={entries[-1]['id']}"
    assert seen == [f"r{i}" for i in range(6, -1, -1)]


async def test_recent_before_id_validation(usage: Admin) -> None:
    reply = await usage.call("GET", "usage/recent?before_id=zero")
    assert reply.status == 400
    assert reply.error["param"] == "before_id"


async def test_config_lists_the_rows_with_secrets_masked(admin: Admin) -> None:
    rows = [
        {"name": "openai_api_key", "value": "****cdef", "source": "env", "env": "X", "help": "h"}
    ]
    api = AdminApi(identity=admin.identity, ledger_db=admin.db, config_rows=lambda: rows)
    async with serve_admin(api, admin.identity, admin.db) as served:
        reply = await served.call("GET", "config")
        assert reply.status == 200
        assert reply.body == {"settings": rows}
        assert reply.headers["cache-control"] == "no-store"
        assert (await served.call("GET", "config?x=1")).status == 400
    # An API built without it (a test's) says so.
    assert (await admin.call("GET", "config")).status == 503
