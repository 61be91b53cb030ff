"""What exact per-key limits cost a request, in one run.

A gateway (SQLite databases) answers the loopback model for four keys: one
without limits (which touches no limit state at all), one with a requests-
per-minute limit, one with a tokens-per-minute limit and one with a daily
budget (limits high enough never to refuse). Each limited admission is one
transaction on the identity database shared by every gateway process, and
each limited call's usage one more after the answer. Printed: p50 latency
and requests per second per key, and what the limited ones add.

    python bench/limits_bench.py [--seconds 3] [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from statistics import median

from common import ROOT, free_port, host_speed_ms, load, request_bytes, start_gateway, wait_http

sys.path.insert(0, str(ROOT))

from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.limits import KeyLimits

KEYS = {
    "unlimited": KeyLimits(),
    "rpm": KeyLimits(rpm=10_000_000),
    "tpm": KeyLimits(tpm=10**15),
    "daily budget": KeyLimits(budget_daily_usd=Decimal(10**9)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    with tempfile.TemporaryDirectory() as data_dir:
        db = open_database(sqlite_url(Path(data_dir) / "identity.db"))
        try:
            migrate_identity(db)
            user = store.create_user(db, email="bench@example.com")
            keys = {name: store.issue_key(db, user.id, limits=lim)[1] for name, lim in KEYS.items()}
        finally:
            close_database(db)
        port = free_port()
        gateway = start_gateway(port, data_dir, {"TOKLIGENCE_AUTH_DISABLED": "false"})
        try:
            wait_http(f"http://127.0.0.1:{port}/health")
            body = json.dumps(
                {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
            ).encode()
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in keys}
            for _ in range(args.repeat):
                for name, key in keys.items():  # interleaved: every key sees the same host
                    wire = request_bytes(
                        "/v1/chat/completions", body, {"authorization": f"Bearer {key}"}
                    )
                    result = load(port, wire, args.concurrency, args.seconds)
                    results[name].append((result.p50_ms, result.rps))
        finally:
            gateway.terminate()
            gateway.wait(10)
    base = median(p for p, _ in results["unlimited"])
    print(f"concurrency {args.concurrency}; median of {args.repeat} runs of {args.seconds:g} s")
    print(f"{'key':<14}{'p50 ms':>9}{'added ms':>10}{'req/s':>9}")
    for name, runs in results.items():
        p50 = median(p for p, _ in runs)
        rps = median(r for _, r in runs)
        print(f"{name:<14}{p50:>9.3f}{p50 - base:>10.3f}{rps:>9.0f}")
    print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")


if __name__ == "__main__":
    main()
