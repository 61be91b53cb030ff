"""Shared pieces of the benchmarks: a minimal keep-alive HTTP/1.1 load client
on raw asyncio streams, process start-up helpers and latency statistics.

The client is deliberately small (no HTTP library) so that its own cost is
low and identical for every row a benchmark compares.
"""

from __future__ import annotations

import asyncio
import compileall
import functools
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> float:
    """Seconds until ``url`` answers 200; raises after ``timeout``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def wait_tcp(port: int, timeout: float = 20.0) -> None:
    """Until something accepts connections on ``port`` (a server without a
    health URL: nginx, a relay)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing listens on {port} after {timeout:.0f} s")


@functools.cache
def compile_bytecode(source: Path = ROOT) -> None:
    """Compile the gateway's modules, as ``pip install`` does: start-up must
    be measured as users get it, not with every module compiled from source
    (a shell with PYTHONDONTWRITEBYTECODE set would otherwise never cache)."""
    compileall.compile_dir(source / "tokligence", quiet=1)


def start_gateway(
    port: int, data_dir: str, env: dict[str, str] | None = None, source: Path | None = None
) -> subprocess.Popen[bytes]:
    """The gateway of this checkout, or of ``source`` (another checkout of
    the repository, e.g. a ``git worktree`` of an older commit)."""
    compile_bytecode(source or ROOT)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    if source is not None:
        # Ahead of the installed package: python -m finds this tree first.
        full_env["PYTHONPATH"] = str(source)
    full_env.update(TOKLIGENCE_DATA_DIR=data_dir, TOKLIGENCE_LOG_FILE="-")
    full_env.update(env or {})
    # Quiet unless the caller sets the level (TOKLIGENCE_LOG_LEVEL=info and a
    # TOKLIGENCE_LOG_FILE: the default logging, an access line per request).
    quiet = [] if "TOKLIGENCE_LOG_LEVEL" in full_env else ["--log-level", "warn"]
    return subprocess.Popen(
        [sys.executable, "-m", "tokligence", "serve", "--port", str(port), *quiet],
        env=full_env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def default_logging_env(data_dir: str | Path) -> dict[str, str]:
    """Settings for a gateway that logs as one does by default: level info
    (an access line per request) to a rotating file, here in ``data_dir``."""
    return {
        "TOKLIGENCE_LOG_LEVEL": "info",
        "TOKLIGENCE_LOG_FILE": str(Path(data_dir) / "gateway.log"),
    }


def start_fast_upstream() -> tuple[int, subprocess.Popen[bytes]]:
    """``bench/fast_upstream.py`` on a free port: (port, process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(port)]
    )
    return port, process


def fast_upstream_env(port: int) -> dict[str, str]:
    """A gateway's settings for the fast upstream on ``port`` as both its
    OpenAI and its Anthropic provider: ``gpt-bench`` routes to the one,
    ``claude-bench`` to the other."""
    return {
        "TOKLIGENCE_OPENAI_API_KEY": "bench",
        "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "TOKLIGENCE_ANTHROPIC_API_KEY": "bench",
        "TOKLIGENCE_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TOKLIGENCE_ROUTES": "gpt-bench=>openai, claude-bench=>anthropic",
    }


def host_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 3): this machine's
    speed right now. Shared virtual machines vary by up to 2x from minute to
    minute; printed beside the results so runs can be compared."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Result:
    count: int
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float
    events_per_s: float


def request_bytes(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[float, int]:
    """Reads one response; returns (time of first body byte, SSE events seen)."""
    head = await reader.readuntil(b"\r\n\r\n")
    first = time.perf_counter()
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        return first, 0
    events = 0
    first_body: float | None = None
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        data = await reader.readexactly(size + 2)
        if first_body is None and size:
            first_body = time.perf_counter()
        events += data.count(b"\n\n")
        if size == 0:
            return first_body or first, events


async def _worker(
    port: int,
    wire: bytes,
    until: float,
    latencies: list[float],
    ttfb: list[float],
    events: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        t0 = time.perf_counter()
        writer.write(wire)
        first, seen = await _read_response(reader)
        latencies.append(time.perf_counter() - t0)
        ttfb.append(first - t0)
        events.append(seen)
    writer.close()


async def _load(port: int, wire: bytes, concurrency: int, seconds: float, warmup: float) -> Result:
    warm: list[float] = []
    await asyncio.gather(
        *(
            _worker(port, wire, time.perf_counter() + warmup, warm, [], [])
            for _ in range(concurrency)
        )
    )
    latencies: list[float] = []
    ttfb: list[float] = []
    events: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(port, wire, start + seconds, latencies, ttfb, events) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()
    return Result(
        count=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        ttfb_p50_ms=statistics.median(ttfb) * 1000,
        events_per_s=sum(events) / elapsed,
    )


def load(port: int, wire: bytes, concurrency: int, seconds: float, warmup: float = 0.3) -> Result:
    """``seconds`` of load after ``warmup`` seconds of uncounted requests."""
    return asyncio.run(_load(port, wire, concurrency, seconds, warmup))
