"""Gateway memory against the number of concurrently open slow streams.

``bench/slow_upstream.py`` answers every request with a stream that sends
one small event every ``--interval`` seconds and never ends. For each N in
``--counts`` (default 1, 10, 100, 1000) a fresh gateway is started, warmed
with one stream opened and closed, and its RSS read (``warm``); then N
clients each open a streaming Chat Completions request through it and read
the first event, and once all N are open (and again ``--hold`` seconds
later, some events on) the gateway's RSS is read. Printed: MB in total, and
KB per open stream above the warm figure; then the RSS once every client
has gone (what the gateway keeps).

Each open stream is a client socket and an upstream socket in the gateway:
the file-descriptor limit is raised to its hard maximum here (the gateway
and the upstream inherit it), and the gateway's ``max_connections`` is set
above the largest N.

    python bench/streams_bench.py [--counts 1,10,100,1000] [--interval 3] [--hold 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time

from common import ROOT, free_port, request_bytes, rss_mb, start_gateway, wait_http

CHAT = "/v1/chat/completions"
WIRE = request_bytes(
    CHAT,
    json.dumps(
        {"model": "slow-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    ).encode(),
)
OPENING_WAVE = 50  # connections opened at once: stay within the listen backlog


async def open_stream(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(WIRE)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    await reader.readuntil(b"\n\n")  # the first event
    # Keep draining in the background so the gateway never blocks on us.
    asyncio.get_running_loop().create_task(_drain(reader))
    return writer


async def _drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def hold_streams(
    port: int, pid: int, count: int, hold: float
) -> tuple[float, float, float, float]:
    """(seconds to open them all, RSS when all are open, RSS ``hold`` s later,
    RSS once they are closed)."""
    began = time.perf_counter()
    writers: list[asyncio.StreamWriter] = []
    for first in range(0, count, OPENING_WAVE):
        wave = min(OPENING_WAVE, count - first)
        writers += await asyncio.gather(*(open_stream(port) for _ in range(wave)))
    opened = time.perf_counter() - began
    await asyncio.sleep(0.5)
    at_open = rss_mb(pid)
    await asyncio.sleep(hold)
    held = rss_mb(pid)
    for writer in writers:
        writer.close()
    await asyncio.sleep(2)
    return opened, at_open, held, rss_mb(pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="1,10,100,1000")
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * max(counts) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "slow_upstream.py"),
            str(upstream_port),
            str(args.interval),
        ]
    )
    env = {
        "TOKLIGENCE_OPENAI_API_KEY": "bench",
        "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "TOKLIGENCE_ROUTES": "slow-model=>openai",
        "TOKLIGENCE_MAX_CONNECTIONS": str(max(counts) + 100),
    }
    print(
        f"{'streams':>8}{'idle MB':>9}{'warm MB':>9}{'open MB':>9}{'KB/stream':>11}"
        f"{'held MB':>9}{'KB/stream':>11}{'closed MB':>11}{'open in s':>11}"
    )
    try:
        for count in counts:
            port = free_port()
            with tempfile.TemporaryDirectory() as data_dir:
                gateway = start_gateway(port, data_dir, env)
                try:
                    wait_http(f"http://127.0.0.1:{port}/health")
                    idle = rss_mb(gateway.pid)
                    asyncio.run(hold_streams(port, gateway.pid, 1, 0))
                    warm = rss_mb(gateway.pid)
                    opened, at_open, held, closed = asyncio.run(
                        hold_streams(port, gateway.pid, count, args.hold)
                    )
                finally:
                    gateway.terminate()
                    try:
                        gateway.wait(15)
                    except subprocess.TimeoutExpired:
                        gateway.kill()
                        gateway.wait()
            print(
                f"{count:>8}{idle:>9.1f}{warm:>9.1f}{at_open:>9.1f}"
                f"{(at_open - warm) * 1024 / count:>11.1f}{held:>9.1f}"
                f"{(held - warm) * 1024 / count:>11.1f}{closed:>11.1f}{opened:>11.2f}"
            )
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
