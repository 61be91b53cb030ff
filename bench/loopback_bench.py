"""Loopback benchmark: start-up time, requests/s and latency of the gateway.

Starts the gateway as a real process (``python -m tokligence serve``) on a
free port, measures the time until ``/health`` answers, then drives
``/v1/chat/completions`` on the loopback model, non-stream and stream, at
concurrency 1 and 32 with a minimal keep-alive HTTP/1.1 client written on
raw asyncio streams (so the client's own overhead stays small and is the
same for every row). Prints one table; exits non-zero only if the gateway
fails to answer.

    python bench/loopback_bench.py [--seconds 5] [--concurrency 1,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(port: int, data_dir: str) -> tuple[subprocess.Popen[bytes], float]:
    env = dict(os.environ, TOKLIGENCE_DATA_DIR=data_dir, TOKLIGENCE_LOG_LEVEL="warn")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokligence", "serve", "--port", str(port), "--log-level", "warn"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = started + 20
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    proc.kill()
    raise SystemExit("gateway did not become healthy within 20 s")


async def read_response(reader: asyncio.StreamReader, stream: bool) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return
    # chunked: read chunks until the terminating zero-length chunk
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def worker(
    port: int, body: bytes, stream: bool, until: float, latencies: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        writer.write(request)
        await read_response(reader, stream)
        latencies.append(time.perf_counter() - t0)
    writer.close()


async def run(
    port: int, body: bytes, stream: bool, concurrency: int, seconds: float
) -> tuple[int, float, float, float]:
    # Warm up connections and code paths first.
    warm: list[float] = []
    await asyncio.gather(
        *(worker(port, body, stream, time.perf_counter() + 0.3, warm) for _ in range(concurrency))
    )
    latencies: list[float] = []
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(
        *(worker(port, body, stream, until, latencies) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return len(latencies), len(latencies) / elapsed, p50, p99


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
        startups = []
        for _ in range(5):
            proc, startup = start_gateway(port, data_dir)
            startups.append(startup)
            proc.terminate()
            proc.wait(10)
        proc, _ = start_gateway(port, data_dir)
        try:
            print(
                f"start-up to healthy /health: median {statistics.median(startups) * 1000:.0f} ms "
                f"(min {min(startups) * 1000:.0f}, max {max(startups) * 1000:.0f}, n=5)"
            )
            print(f"{'mode':<11}{'conc':>5}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
            for mode, body in (("non-stream", BODY), ("stream", STREAM_BODY)):
                for concurrency in levels:
                    count, rps, p50, p99 = asyncio.run(
                        run(port, body, mode == "stream", concurrency, args.seconds)
                    )
                    print(
                        f"{mode:<11}{concurrency:>5}{count:>10}{rps:>10.0f}{p50:>9.3f}{p99:>9.3f}"
                    )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
