"""Ledger benchmark: rows/s of the group-committing writer, and what submit() costs.

For each back-end — a SQLite file (WAL, synchronous=NORMAL) and PostgreSQL
(``--postgres-url`` / ``TEST_POSTGRES_URL``, else a throwaway local cluster
with default durability, fsync on) — on a freshly migrated database:

- burst: ``--producers`` tasks submit ``--rows`` rows as fast as they can;
  rows/s is measured from the first submit until ``close()`` returned, i.e.
  every row committed. submit() latency here includes back-pressure waits
  whenever the writer falls behind a full queue.
- paced: one task submits at ``--rate`` rows/s (below the writer's
  throughput), the request-path case: submit() p50/p99 is the cost a
  request pays to hand its row over.

Costs are computed with the seeded price table, as in production.

    python bench/ledger_bench.py [--rows 50000] [--producers 64] [--rate 5000]
        [--backends sqlite,postgresql] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg_cluster import postgres_database, scratch_schema  # noqa: E402
from tokligence.ledger import db as dbmod  # noqa: E402
from tokligence.ledger.migrations import migrate  # noqa: E402
from tokligence.ledger.row import LedgerRow  # noqa: E402
from tokligence.ledger.writer import LedgerWriter  # noqa: E402

# Rows handed to the paced run's producer per wake-up: pacing each row with
# its own sleep would measure the timer, not submit().
PACE_CHUNK = 50


def make_row(i: int) -> LedgerRow:
    return LedgerRow(
        created_at=datetime.now(timezone.utc),
        request_id=f"bench-{i}",
        user_id=i % 50,
        api_key_id=i % 200,
        endpoint="/v1/messages",
        client_dialect="anthropic_messages",
        provider="anthropic",
        requested_model="claude-sonnet-4-5",
        upstream_model="claude-sonnet-4-5-20250929",
        mode="passthrough",
        stream=True,
        status=200,
        input_tokens=1200 + i % 97,
        output_tokens=300 + i % 13,
        cache_read_tokens=20_000,
        cache_write_tokens=i % 500,
        reasoning_tokens=i % 13,
        latency_ms=850.0,
        ttfb_ms=120.0,
    )


@dataclass
class Run:
    rows: int
    seconds: float
    batches: int
    latencies_ns: list[int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    def percentile_us(self, q: float) -> float:
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


async def burst(url: str, rows: int, producers: int) -> Run:
    db = dbmod.open_database(url)
    latencies: list[int] = []
    try:
        await trio.to_thread.run_sync(migrate, db, "ledger")
        writer = LedgerWriter(db)
        prepared = [make_row(i) for i in range(rows)]

        async def produce(start: int) -> None:
            for row in prepared[start::producers]:
                before = time.perf_counter_ns()
                await writer.submit(row)
                latencies.append(time.perf_counter_ns() - before)

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            started = time.perf_counter()
            async with trio.open_nursery() as producing:
                for start in range(producers):
                    producing.start_soon(produce, start)
            await writer.close()
            seconds = time.perf_counter() - started
        return Run(rows, seconds, writer.stats.batches, latencies)
    finally:
        dbmod.close_database(db)


async def paced(url: str, rows: int, rate: float) -> Run:
    db = dbmod.open_database(url)
    latencies: list[int] = []
    try:
        await trio.to_thread.run_sync(migrate, db, "ledger")
        writer = LedgerWriter(db)
        prepared = [make_row(i) for i in range(rows)]
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            started = time.perf_counter()
            schedule = trio.current_time()
            for chunk_start in range(0, rows, PACE_CHUNK):
                # An absolute schedule: time spent submitting does not slow the pace.
                schedule += PACE_CHUNK / rate
                await trio.sleep_until(schedule)
                for row in prepared[chunk_start : chunk_start + PACE_CHUNK]:
                    before = time.perf_counter_ns()
                    await writer.submit(row)
                    latencies.append(time.perf_counter_ns() - before)
            await writer.close()
            seconds = time.perf_counter() - started
        return Run(rows, seconds, writer.stats.batches, latencies)
    finally:
        dbmod.close_database(db)


@contextlib.contextmanager
def database_url(backend: str, postgres_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tokligence-bench-") as directory:
            yield dbmod.sqlite_url(Path(directory) / "ledger.db")
        return
    if postgres_url:
        with scratch_schema(postgres_url) as url:
            yield url
        return
    with postgres_database(fast=False) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--paced-rows", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL"))
    args = parser.parse_args()

    print(
        f"{'backend':<11} {'run':<7} {'rows':>7} {'rows/s':>9} {'batches':>8} {'rows/batch':>10} {'submit p50 µs':>14} {'submit p99 µs':>14}"
    )
    for backend in args.backends.split(","):
        with database_url(backend, args.postgres_url) as url:
            for name, run in (
                ("burst", trio.run(burst, url, args.rows, args.producers)),
                ("paced", trio.run(paced, url, args.paced_rows, args.rate)),
            ):
                print(
                    f"{backend:<11} {name:<7} {run.rows:>7} {run.rows_per_second:>9.0f} {run.batches:>8} "
                    f"{run.rows / run.batches:>10.1f} {run.percentile_us(0.5):>14.1f} {run.percentile_us(0.99):>14.1f}"
                )


if __name__ == "__main__":
    main()
