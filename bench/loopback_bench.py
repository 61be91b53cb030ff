"""Loopback benchmark: start-up time, requests/s and latency of the gateway,
and what the ledger adds to a request.

Starts the gateway as a real process (``python -m tokligence serve``) on a
free port, measures the time until ``/health`` answers (median of 5), then
drives ``/v1/chat/completions`` on the loopback model, non-stream and
stream, at concurrency 1 and 32, with the ledger on and off (the same run),
using the minimal keep-alive client of ``bench/common.py``.

    python bench/loopback_bench.py [--seconds 5] [--concurrency 1,32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from common import free_port, load, request_bytes, start_gateway, wait_http

BODY = json.dumps(
    {"model": "loopback", "messages": [{"role": "user", "content": "hello from the benchmark"}]}
).encode()
STREAM_BODY = json.dumps(
    {
        "model": "loopback",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hello from the benchmark"}],
    }
).encode()


def startup_times(port: int, data_dir: str, runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = start_gateway(port, data_dir)
        wait_http(f"http://127.0.0.1:{port}/health")
        times.append(time.perf_counter() - started)
        process.terminate()
        process.wait(10)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        startups = startup_times(port, data_dir)
        print(
            f"start-up to healthy /health: median {statistics.median(startups) * 1000:.0f} ms "
            f"(min {min(startups) * 1000:.0f}, max {max(startups) * 1000:.0f}, n={len(startups)})"
        )
        print(
            f"{'ledger':<8}{'mode':<11}{'conc':>5}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        )
        p50s: dict[tuple[str, str, int], float] = {}
        for ledger in ("off", "on"):
            env = {"TOKLIGENCE_LEDGER_ENABLED": "true" if ledger == "on" else "false"}
            process = start_gateway(port, data_dir, env)
            try:
                wait_http(f"http://127.0.0.1:{port}/health")
                for mode, body in (("non-stream", BODY), ("stream", STREAM_BODY)):
                    for concurrency in levels:
                        result = load(
                            port,
                            request_bytes("/v1/chat/completions", body),
                            concurrency,
                            args.seconds,
                        )
                        p50s[(ledger, mode, concurrency)] = result.p50_ms
                        print(
                            f"{ledger:<8}{mode:<11}{concurrency:>5}{result.count:>10}{result.rps:>10.0f}"
                            f"{result.p50_ms:>9.3f}{result.p99_ms:>9.3f}"
                        )
            finally:
                process.terminate()
                process.wait(10)
        for mode in ("non-stream", "stream"):
            added = p50s[("on", mode, levels[0])] - p50s[("off", mode, levels[0])]
            print(f"ledger adds {added:.3f} ms at p50 ({mode}, concurrency {levels[0]})")


if __name__ == "__main__":
    main()
