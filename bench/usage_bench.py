"""``tokligence usage`` and the admin API's usage queries on a large ledger.

Fills a SQLite ledger of ``--rows`` requests (default 10,000,000) spread
over ``--days`` days up to now (``bench/ledger_fill.py``: a few minutes for
ten million; progress is printed), then times, each the median of
``--repeat`` runs (worst in brackets):

* the CLI, as a subprocess, as people run it: ``tokligence usage`` (per
  day), ``--by model/user/key/provider``, each over the whole ledger and
  ``--since`` the last day, ``--recent 50``; the process's own start-up is
  the floor every row includes (``tokligence usage --help``);
* the admin API over HTTP, on a gateway serving that ledger:
  ``usage/summary`` (whole ledger and last day), ``usage/recent`` (first
  page, a page in the middle of the ledger and one near its oldest row, by
  ``before_id``), ``usage/series`` (the default hourly day, a daily month);

and prints the plan SQLite chose for each summary query, so a query that
reads the whole ledger to answer for one day shows as a SCAN. A query over
the whole ledger necessarily reads every row; one over the last day should
take the same time on a ledger of any size.

``--keep PATH`` writes the ledger there and keeps it; when PATH already
exists it is reused (no fill), migrated first if this checkout's schema is
newer, with the migration timed: run once before a schema change and once
after to compare on the same rows.

    python bench/usage_bench.py [--rows 10000000] [--days 90] [--repeat 3]
        [--keep PATH] [--skip-cli] [--skip-api]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import free_port, start_gateway, wait_http  # noqa: E402
from ledger_fill import fill  # noqa: E402

from tokligence.ledger import db as dbmod  # noqa: E402
from tokligence.ledger.migrations import migrate  # noqa: E402
from tokligence.ledger.queries import GROUP_BY, summary_query  # noqa: E402


def timed(run: Any, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times)


def cli(data_dir: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    env["TOKLIGENCE_LOG_FILE"] = "-"
    subprocess.run(
        [sys.executable, "-m", "tokligence", "usage", "--data-dir", str(data_dir), *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=data_dir,
    )


def get(port: int, path: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/admin/{path}"
    with urllib.request.urlopen(url, timeout=600) as response:
        return json.loads(response.read())


def plans(db: Any, day: datetime) -> list[tuple[str, str]]:
    """SQLite's plan of each summary query over the last day."""
    out = []
    for by in GROUP_BY:
        query = summary_query(dbmod.SQLITE, group_by=by, since=day)  # type: ignore[arg-type]
        sql, params = db.get_sql_context().sql(query).query()
        with dbmod.connection(db):
            rows = dbmod.execute(db, "EXPLAIN QUERY PLAN " + sql, params)
            out.append((by, "; ".join(str(row[-1]) for row in rows)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="the ledger file: kept, and reused if present")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokligence-usage-") as scratch:
        data_dir = Path(scratch)
        ledger = data_dir / "ledger.db"
        reuse = False
        if args.keep is not None:
            args.keep = args.keep.resolve()
            reuse = args.keep.exists() and args.keep.stat().st_size > 0
            ledger.symlink_to(args.keep)
        db = dbmod.open_database(dbmod.sqlite_url(ledger))
        try:
            if reuse:
                began = time.perf_counter()
                result = migrate(db, "ledger")
                print(
                    f"reusing {args.keep.name}; migration applied {list(result.applied)} "
                    f"in {time.perf_counter() - began:.1f} s"
                )
                with dbmod.connection(db):
                    newest = db.execute_sql("SELECT max(created_at) FROM ledger_entries")
                    now = datetime.fromisoformat(newest.fetchone()[0]).replace(
                        tzinfo=timezone.utc
                    ) + timedelta(seconds=1)
                    count = db.execute_sql("SELECT max(id) FROM ledger_entries").fetchone()[0]
            else:
                migrate(db, "ledger")
                now = datetime.now(timezone.utc).replace(microsecond=0)
                count = args.rows

                def progress(done: int, seconds: float) -> None:
                    if done % 1_000_000 == 0 or done == args.rows:
                        print(
                            f"  filled {done:>11,} rows in {seconds:6.1f} s", end="\r", flush=True
                        )

                with dbmod.connection(db):
                    seconds = fill(db, args.rows, days=args.days, now=now, progress=progress)
                print(f"\nfilled {args.rows:,} rows over {args.days:g} days in {seconds:.0f} s")
            print(f"ledger file: {ledger.resolve().stat().st_size / 1e9:.2f} GB, {count:,} rows")
            day = now - timedelta(days=1)
            print("\nplans of the summaries over the last day:")
            for by, plan in plans(db, day):
                print(f"  by {by:<9} {plan}")
        finally:
            dbmod.close_database(db)
        since = day.strftime("%Y-%m-%dT%H:%M:%SZ")
        if not args.skip_cli:
            _cli_rows(data_dir, since, args.repeat)
        if not args.skip_api:
            _api_rows(data_dir, since, count, now, args.repeat)
        for extra in ("identity.db", "ledger.db-wal", "ledger.db-shm"):
            (data_dir / extra).unlink(missing_ok=True)
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def _cli_rows(data_dir: Path, since: str, repeat: int) -> None:
    print(f"\n{'tokligence usage …':<44}{'median ms':>10}{'worst ms':>10}")
    cases: list[tuple[str, list[str]]] = [("--help (process start-up)", ["--help"])]
    cases.append(("--recent 50", ["--recent", "50"]))
    for by in ("day", "model", "user", "key", "provider"):
        cases.append((f"--by {by} (whole ledger)", ["--by", by]))
        cases.append((f"--by {by} --since <last day>", ["--by", by, "--since", since]))
    for label, arguments in cases:
        median, worst = timed(lambda a=arguments: cli(data_dir, *a), repeat)  # type: ignore[misc]
        print(f"{label:<44}{median:>10.0f}{worst:>10.0f}")


def _api_rows(data_dir: Path, since: str, count: int, now: datetime, repeat: int) -> None:
    port = free_port()
    gateway = start_gateway(port, str(data_dir))
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=300)
        month = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cases = [
            ("usage/summary group_by=day (whole ledger)", "usage/summary?group_by=day"),
            ("usage/summary group_by=model (whole ledger)", "usage/summary?group_by=model"),
        ]
        for by in ("day", "model", "user", "key", "provider"):
            cases.append(
                (
                    f"usage/summary group_by={by}, last day",
                    f"usage/summary?group_by={by}&since={since}",
                )
            )
        cases += [
            ("usage/summary user_id=7, last day", f"usage/summary?user_id=7&since={since}"),
            ("usage/recent limit=50", "usage/recent?limit=50"),
            ("usage/recent before_id=middle", f"usage/recent?limit=50&before_id={count // 2}"),
            ("usage/recent before_id=near oldest", "usage/recent?limit=50&before_id=60"),
            ("usage/recent user_id=7", "usage/recent?limit=50&user_id=7"),
            ("usage/series hour x24 by model", "usage/series?bucket=hour&by=model"),
            (
                "usage/series day x30 by provider",
                f"usage/series?bucket=day&by=provider&since={month}",
            ),
        ]
        print(f"\n{'admin API GET …':<48}{'median ms':>10}{'worst ms':>10}")
        for label, path in cases:
            median, worst = timed(lambda p=path: get(port, p), repeat)  # type: ignore[misc]
            print(f"{label:<48}{median:>10.1f}{worst:>10.1f}")
    finally:
        gateway.terminate()
        gateway.wait(30)


if __name__ == "__main__":
    main()
