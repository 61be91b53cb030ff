"""Every model request gets exactly one ledger row, with exact token counts,
whatever its fate (loopback model, real sockets, SQLite ledger)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import trio

from tests.gateway_thread import isolated_config
from tokligence.app import build, run
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.queries import recent_entries, usage_summary

CONCURRENT = 1000


def chat(text: str, *, stream: bool = False, model: str = "loopback") -> dict[str, object]:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


async def test_concurrent_requests_give_exactly_one_row_each_with_exact_sums(
    tmp_path: Path,
) -> None:
    config = isolated_config(tmp_path)
    built = build(config)
    expected_in = expected_out = 0
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        url = f"http://127.0.0.1:{bound[0].port}"
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            totals: list[tuple[int, int]] = []

            async def one(i: int) -> None:
                response = await client.post("/v1/chat/completions", json=chat(f"message {i}"))
                usage = response.json()["usage"]
                totals.append((usage["prompt_tokens"], usage["completion_tokens"]))

            async with trio.open_nursery() as requests:
                for i in range(CONCURRENT):
                    requests.start_soon(one, i)
            expected_in = sum(t[0] for t in totals)
            expected_out = sum(t[1] for t in totals)
            # A failure is accounted for too: one unknown model, one bad body.
            assert (
                await client.post("/v1/chat/completions", json=chat("x", model="nope"))
            ).status_code == 404
            assert (await client.post("/v1/messages", content=b"{not json")).status_code == 400
        built.server.shutdown()  # run() flushes the ledger before it returns

    db = open_database(sqlite_url(config.ledger_file()))
    try:
        rows = recent_entries(db, limit=1000)
        everything = usage_summary(db, group_by="model")
    finally:
        close_database(db)
    by_model = {t.key: t for t in everything}
    assert by_model["loopback"].requests == CONCURRENT
    assert by_model["loopback"].input_tokens == expected_in
    assert by_model["loopback"].output_tokens == expected_out
    assert by_model["loopback"].errors == 0
    assert by_model["nope"].requests == 1 and by_model["nope"].errors == 1
    assert sum(t.requests for t in everything) == CONCURRENT + 2
    failed = {r.row.requested_model: r.row for r in rows if r.row.status >= 400}
    assert failed["nope"].error_kind == "not_found" and failed["nope"].mode == "none"
    assert failed[""].status == 400 and failed[""].endpoint == "/v1/messages"
    ok = next(r.row for r in rows if r.row.status == 200)
    assert ok.mode == "native" and ok.provider == "loopback" and ok.latency_ms > 0
    assert ok.ttfb_ms is not None and ok.ttfb_ms <= ok.latency_ms


async def test_streamed_and_disconnected_requests_are_accounted(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    built = build(config)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        port = bound[0].port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            body = chat("streamed words here", stream=True)
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                lines = [
                    line async for line in response.aiter_lines() if line.startswith("data: {")
                ]
            usage = json.loads(lines[-1][6:])["usage"]
        built.server.shutdown()

    db = open_database(sqlite_url(config.ledger_file()))
    try:
        (row,) = [r.row for r in recent_entries(db, limit=10)]
    finally:
        close_database(db)
    assert row.stream and row.status == 200 and not row.estimated
    assert row.input_tokens == usage["prompt_tokens"]
    assert row.output_tokens == usage["completion_tokens"]
