"""Console benchmark: each admin API query the web console makes, timed on a
SQLite ledger of a million rows (``--rows``).

The ledger is filled fast (``bench/ledger_fill.py``: ``executemany`` in
large transactions) with rows spread over ``--days`` days, 40 models, 6
providers, 200 users and 400 keys, 3% errors; then each query runs
``--repeat`` times and the median and worst are printed. The queries are the
functions the admin API calls (``ledger.queries``), so the figures are the
database's share of each console request.

    python bench/console_bench.py [--rows 1000000] [--days 90] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger_fill import fill  # noqa: E402

from tokligence.ledger import db as dbmod  # noqa: E402
from tokligence.ledger.migrations import migrate  # noqa: E402
from tokligence.ledger.queries import recent_entries, usage_series, usage_summary  # noqa: E402


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times), result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rows", type=int, default=1_000_000)
    options.add_argument("--days", type=int, default=90)
    options.add_argument("--repeat", type=int, default=5)
    args = options.parse_args()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        db = dbmod.open_database(dbmod.sqlite_url(Path(folder) / "ledger.db"))
        migrate(db, "ledger")
        began = time.perf_counter()
        with dbmod.connection(db):
            fill(db, args.rows, days=args.days, now=now)
        print(f"filled {args.rows:,} rows in {time.perf_counter() - began:.1f} s")
        middle = args.rows // 2
        cases: list[tuple[str, Callable[[], Any]]] = [
            (
                "usage/series day x30 by model",
                lambda: usage_series(
                    db, bucket="day", by="model", since=now - timedelta(days=30), until=now
                ),
            ),
            (
                "usage/series day x7 by user",
                lambda: usage_series(
                    db, bucket="day", by="user", since=now - timedelta(days=7), until=now
                ),
            ),
            (
                "usage/series hour x24 by key",
                lambda: usage_series(
                    db, bucket="hour", by="key", since=now - timedelta(hours=24), until=now
                ),
            ),
            (
                "usage/series day x90 by provider",
                lambda: usage_series(
                    db, bucket="day", by="provider", since=now - timedelta(days=90), until=now
                ),
            ),
            ("usage/recent first page (50)", lambda: recent_entries(db, limit=50)),
            (
                "usage/recent page at row 500,000",
                lambda: recent_entries(db, limit=50, before_id=middle),
            ),
            (
                "usage/recent page near the oldest",
                lambda: recent_entries(db, limit=50, before_id=60),
            ),
            ("usage/recent one user's first page", lambda: recent_entries(db, limit=50, user_id=7)),
            (
                "usage/summary by model, 30 days",
                lambda: usage_summary(db, group_by="model", since=now - timedelta(days=30)),
            ),
        ]
        print(f"{'query':40} {'median ms':>10} {'worst ms':>10}  result")
        for name, function in cases:
            median, worst, result = timed(function, args.repeat)
            size = len(result.series) if hasattr(result, "series") else len(result)
            print(f"{name:40} {median:10.1f} {worst:10.1f}  {size} rows/series")
        dbmod.close_database(db)


if __name__ == "__main__":
    main()
