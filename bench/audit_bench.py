"""Provider audit queries on a large ledger: how long ``tokligence audit``
takes on a SQLite file of ``--rows`` requests (default 1,000,000).

Fills a freshly migrated ledger with rows spread evenly over ``--days``
days (UTC), across ``--providers`` providers of three models each; most
rows carry the gateway's own count, a tenth are estimated, a fiftieth are
errors. Rows go in with the ledger writer's own multi-row INSERT, in
batches, so filling a million takes seconds rather than minutes. Then
times, each the best of ``--repeat`` runs:

* billing over the whole ledger, and over the last day;
* health with the default window (1 h) and baseline (24 h);
* health with a 7-day baseline.

Each query's plan is printed too (EXPLAIN QUERY PLAN), to show which index
serves it. ``--keep PATH`` keeps the database file for a second look.

    python bench/audit_bench.py [--rows 1000000] [--days 30] [--repeat 3] [--keep PATH]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tokligence.ledger import db as dbmod  # noqa: E402
from tokligence.ledger.audit import billing_audit, provider_health  # noqa: E402
from tokligence.ledger.migrations import migrate  # noqa: E402
from tokligence.ledger.models import ENTRY_COLUMNS, LedgerEntry, entry_values  # noqa: E402
from tokligence.ledger.row import LedgerRow  # noqa: E402

BATCH = 20_000
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)


def make_row(i: int, rng: random.Random, start: datetime, span: float) -> LedgerRow:
    provider = f"provider-{i % PROVIDERS}"
    model = f"model-{i % 3}"
    counted_in = rng.randint(500, 50_000)
    counted_out = rng.randint(10, 2000)
    error = i % 50 == 0
    ttfb = rng.uniform(200, 900)
    return LedgerRow(
        created_at=start + timedelta(seconds=span * i),
        request_id=f"bench-{i}",
        endpoint="/v1/messages",
        client_dialect="anthropic_messages",
        provider=provider,
        requested_model=model,
        upstream_model=model,
        mode="passthrough",
        stream=i % 4 != 0,
        status=502 if error else 200,
        error_kind="api_error" if error else None,
        input_tokens=int(counted_in * 0.8),
        output_tokens=int(counted_out * 0.8),
        estimated=i % 10 == 0,
        latency_ms=ttfb + counted_out * 12,
        ttfb_ms=ttfb,
        counted_input_tokens=counted_in,
        counted_output_tokens=counted_out,
    )


PROVIDERS = 4


def fill(db: Any, rows: int, days: int) -> float:
    rng = random.Random(1)
    start = NOW - timedelta(days=days)
    span = days * 86400 / rows
    table = LedgerEntry._meta.table_name
    began = time.perf_counter()
    for first in range(0, rows, BATCH):
        values = [
            entry_values(make_row(i, rng, start, span), None)
            for i in range(first, min(first + BATCH, rows))
        ]
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            dbmod.insert_rows(db, table, ENTRY_COLUMNS, values)
    return time.perf_counter() - began


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def plan(db: Any, query_sql: tuple[str, list[Any]]) -> list[str]:
    sql, params = query_sql
    with dbmod.connection(db):
        return [str(row[-1]) for row in dbmod.execute(db, "EXPLAIN QUERY PLAN " + sql, params)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the database here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.keep or Path(scratch) / "ledger.db"
        db = dbmod.open_database(dbmod.sqlite_url(path))
        try:
            migrate(db, "ledger")
            seconds = fill(db, args.rows, args.days)
            print(f"filled {args.rows:,} rows over {args.days} days in {seconds:.1f} s")
            print(f"file: {path.stat().st_size / 1e6:.0f} MB")
            day = NOW - timedelta(days=1)
            cases: list[tuple[str, Callable[[], object]]] = [
                ("billing, whole ledger", lambda: billing_audit(db)),
                ("billing, last day", lambda: billing_audit(db, since=day, until=NOW)),
                ("health, 1 h window, 24 h baseline", lambda: provider_health(db, until=NOW)),
                (
                    "health, 1 h window, 7 d baseline",
                    lambda: provider_health(db, until=NOW, baseline=timedelta(days=7)),
                ),
            ]
            for label, run in cases:
                print(f"{label:<36} {best(args.repeat, run) * 1000:>9.1f} ms")
            flagged = billing_audit(db, since=day, until=NOW)
            print(f"billing pairs: {len(flagged.entries)}, flagged: {flagged.flagged}")
            for label, sql in _plans(day):
                print(f"plan of {label}: " + "; ".join(plan(db, sql)))
        finally:
            dbmod.close_database(db)


def _plans(day: datetime) -> list[tuple[str, tuple[str, list[Any]]]]:
    """The SQL of the main query of each audit, to EXPLAIN."""
    from tokligence.ledger.audit import _audited
    from tokligence.ledger.models import to_utc_naive
    from tokligence.ledger.queries import _model_key

    e = LedgerEntry
    billing = e.select(e.provider, _model_key()).where(*_audited(day, NOW, None))
    health = e.select(e.provider).where(
        e.provider != "", e.created_at >= to_utc_naive(day), e.created_at < to_utc_naive(NOW)
    )
    sqlite = dbmod.SQLITE.database_class(":memory:")
    return [
        ("billing, last day", sqlite.get_sql_context().sql(billing).query()),
        ("health", sqlite.get_sql_context().sql(health).query()),
    ]


if __name__ == "__main__":
    main()
