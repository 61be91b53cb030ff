"""Gateway overhead against a fast fake upstream, in one run.

Starts ``bench/fast_upstream.py`` and the gateway (pointed at it as both its
OpenAI and its Anthropic upstream) as separate processes, then measures the
same requests sent directly to the upstream and through the gateway:

* sequential latency (concurrency 1): p50/p99 and the p50 the gateway adds,
  for passthrough and translation, non-stream and stream (time to first
  byte for streams);
* throughput at concurrency 16 and 64 through the gateway;
* the ``Server-Timing`` figures (the gateway's own time and the
  upstream's) beside the client's own clock: their sum, and what no clock
  inside the gateway can see (the extra network hop and the process
  wake-ups around it);
* a 400 KB prompt (passthrough, non-stream): added p50;
* the gateway's RSS idle and after the load.

Every figure is measured ``--repeat`` times, each gateway run right after
its direct run so both see the host in the same state, and printed as the
median with the best run in brackets. Shared virtual machines change speed
from minute to minute (the calibration loop printed before and after shows
by how much): the median is the typical figure, the best run what the
gateway does when its neighbours are quiet.

``--baseline DIR`` runs a second gateway from another checkout (say
``git worktree add /tmp/base main~3``) beside this one and measures it in
the same run, interleaved (direct, then both gateways in alternating
order), so a change is compared with what it replaces under the same host
conditions: each figure gets a ``base`` row under the ``this`` row.

    python bench/upstream_bench.py [--seconds 3] [--repeat 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from common import (
    Result,
    fast_upstream_env,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    rss_mb,
    start_fast_upstream,
    start_gateway,
    wait_http,
)

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


def chat_body(model: str, stream: bool, text: str = "hello") -> bytes:
    return json.dumps(
        {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    ).encode()


def messages_body(model: str, stream: bool, text: str = "hello") -> bytes:
    return json.dumps(
        {
            "model": model,
            "stream": stream,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": text}],
        }
    ).encode()


ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "bench"}

# (label, gateway path, body factory, headers, direct upstream path, direct body factory)
PATHS = [
    (
        "passthrough chat",
        CHAT,
        lambda s: chat_body("gpt-bench", s),
        {},
        CHAT,
        lambda s: chat_body("gpt-bench", s),
    ),
    (
        "passthrough messages",
        MESSAGES,
        lambda s: messages_body("claude-bench", s),
        ANTHROPIC_HEADERS,
        MESSAGES,
        lambda s: messages_body("claude-bench", s),
    ),
    (
        "translate messages->chat",
        MESSAGES,
        lambda s: messages_body("gpt-bench", s),
        ANTHROPIC_HEADERS,
        CHAT,
        lambda s: chat_body("gpt-bench", s),
    ),
    (
        "translate chat->messages",
        CHAT,
        lambda s: chat_body("claude-bench", s),
        {},
        MESSAGES,
        lambda s: messages_body("claude-bench", s),
    ),
]


def _spread(values: list[float], *, best: Callable[[list[float]], float], digits: int = 3) -> str:
    """The median, and the best run in brackets."""
    return f"{median(values):.{digits}f} ({best(values):.{digits}f})"


def _runs(
    upstream_port: int,
    direct_wire: bytes,
    gateway_ports: list[int],
    wire: bytes,
    concurrency: int,
    seconds: float,
    repeat: int,
) -> list[tuple[Result, list[Result]]]:
    """``repeat`` measurements of (direct, [each gateway]), back to back so
    all see the host in the same state; with two gateways, which goes first
    alternates, so neither always follows the other's load."""
    out = []
    for turn in range(repeat):
        direct = load(upstream_port, direct_wire, concurrency, seconds)
        order = list(range(len(gateway_ports)))
        if turn % 2:
            order.reverse()
        measured: dict[int, Result] = {}
        for index in order:
            measured[index] = load(gateway_ports[index], wire, concurrency, seconds)
        out.append((direct, [measured[i] for i in range(len(gateway_ports))]))
    return out


def server_timing_figures(port: int, wire: bytes, count: int) -> list[tuple[float, float, float]]:
    """(gateway ms, upstream ms, client's total ms) for ``count`` sequential
    requests on one keep-alive connection, from the Server-Timing header."""
    figures = []
    with socket.create_connection(("127.0.0.1", port)) as conn:
        reader = conn.makefile("rb")
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(wire)
            length = 0
            timing = ""
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "server-timing":
                    timing = value
            reader.read(length)
            total = (time.perf_counter() - started) * 1000
            gateway = re.search(r"gateway;dur=([\d.]+)", timing)
            upstream = re.search(r"upstream;dur=([\d.]+)", timing)
            if gateway is not None and upstream is not None:  # (an older gateway has none)
                figures.append((float(gateway.group(1)), float(upstream.group(1)), total))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    seconds, repeat = args.seconds, args.repeat
    sources: list[tuple[str, Path | None]] = [("this", None)]
    if args.baseline is not None:
        sources.append(("base", args.baseline.resolve()))
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    print(f"each figure: median of {repeat} runs of {seconds:g} s, best run in brackets")
    upstream_port, upstream = start_fast_upstream()
    env = fast_upstream_env(upstream_port)
    gateways: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    with tempfile.TemporaryDirectory() as data_root:
        try:
            for name, source in sources:
                port = free_port()
                data_dir = Path(data_root) / name
                data_dir.mkdir()
                gateways.append((name, port, start_gateway(port, str(data_dir), env, source)))
            for name, port, process in gateways:
                wait_http(f"http://127.0.0.1:{port}/health")
                print(f"gateway RSS idle ({name}): {rss_mb(process.pid):.1f} MB")
            _measure(upstream_port, gateways, seconds, repeat)
            for name, _, process in gateways:
                print(f"gateway RSS after load ({name}): {rss_mb(process.pid):.1f} MB")
            print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")
        finally:
            for _, _, process in gateways:
                process.terminate()
                process.wait(10)
            upstream.terminate()
            upstream.wait(10)


def _measure(
    upstream_port: int,
    gateways: list[tuple[str, int, subprocess.Popen[bytes]]],
    seconds: float,
    repeat: int,
) -> None:
    ports = [port for _, port, _ in gateways]
    names = [name for name, _, _ in gateways]
    print()
    print(
        f"{'path':<26}{'mode':<11}{'gw':<5}{'direct p50':>11}{'gw p50':>9}{'gw p99':>9}"
        f"{'added p50':>18}{'ttfb added':>18}"
    )
    for label, path, body, headers, direct_path, direct_body in PATHS:
        for stream in (False, True):
            runs = _runs(
                upstream_port,
                request_bytes(direct_path, direct_body(stream), headers),
                ports,
                request_bytes(path, body(stream), headers),
                1,
                seconds,
                repeat,
            )
            mode = "stream" if stream else "non-stream"
            direct_p50 = median([d.p50_ms for d, _ in runs])
            for i, name in enumerate(names):
                added = [g[i].p50_ms - d.p50_ms for d, g in runs]
                ttfb = [g[i].ttfb_p50_ms - d.ttfb_p50_ms for d, g in runs]
                print(
                    f"{label:<26}{mode:<11}{name:<5}{direct_p50:>11.3f}"
                    f"{median([g[i].p50_ms for _, g in runs]):>9.3f}"
                    f"{median([g[i].p99_ms for _, g in runs]):>9.3f}"
                    f"{_spread(added, best=min):>18}"
                    f"{_spread(ttfb, best=min) if stream else '':>18}"
                )
    print()
    print(
        f"{'path':<26}{'mode':<11}{'gw':<5}{'conc':>5}{'direct req/s':>13}{'gw req/s':>16}"
        f"{'gw events/s':>12}"
    )
    for label, path, body, headers, direct_path, direct_body in PATHS:
        for stream in (False, True):
            for concurrency in (16, 64):
                runs = _runs(
                    upstream_port,
                    request_bytes(direct_path, direct_body(stream), headers),
                    ports,
                    request_bytes(path, body(stream), headers),
                    concurrency,
                    seconds,
                    repeat,
                )
                mode = "stream" if stream else "non-stream"
                direct_rps = median([d.rps for d, _ in runs])
                for i, name in enumerate(names):
                    events = median([g[i].events_per_s for _, g in runs])
                    shown = f"{events:>12.0f}" if stream else f"{'':>12}"
                    print(
                        f"{label:<26}{mode:<11}{name:<5}{concurrency:>5}{direct_rps:>13.0f}"
                        f"{_spread([g[i].rps for _, g in runs], best=max, digits=0):>16}{shown}"
                    )
    print()
    print(
        "Server-Timing against the client's clock, non-stream, c=1 (p50s, ms): the header's "
        "gateway + upstream, the client's total, and what no clock in the gateway can see "
        "(the extra hop and the process wake-ups)"
    )
    for label, path, body, headers, direct_path, direct_body in PATHS:
        direct = load(upstream_port, request_bytes(direct_path, direct_body(False), headers), 1, 1)
        for name, port in zip(names, ports, strict=True):
            figures = server_timing_figures(port, request_bytes(path, body(False), headers), 500)
            if not figures:
                print(f"{label:<26}{name:<5} (no Server-Timing header)")
                continue
            gateway = median(f[0] for f in figures)
            upstream = median(f[1] for f in figures)
            total = median(f[2] for f in figures)
            print(
                f"{label:<26}{name:<5} header gateway {gateway:.3f} + upstream {upstream:.3f}; "
                f"client total {total:.3f} (direct {direct.p50_ms:.3f}, added "
                f"{total - direct.p50_ms:.3f}); unseen {total - gateway - upstream:.3f}"
            )
    big = "x" * 400_000
    runs = _runs(
        upstream_port,
        request_bytes(CHAT, chat_body("gpt-bench", False, big)),
        ports,
        request_bytes(CHAT, chat_body("gpt-bench", False, big)),
        1,
        seconds,
        repeat,
    )
    direct_p50 = median([d.p50_ms for d, _ in runs])
    print()
    for i, name in enumerate(names):
        print(
            f"400 KB prompt, passthrough chat ({name}): direct p50 {direct_p50:.3f} ms, "
            f"gateway p50 {median([g[i].p50_ms for _, g in runs]):.3f} ms, added "
            f"{_spread([g[i].p50_ms - d.p50_ms for d, g in runs], best=min)} ms"
        )
    for name, port in zip(names, ports, strict=True):
        translated = [
            load(
                port,
                request_bytes(MESSAGES, messages_body("gpt-bench", False, big), ANTHROPIC_HEADERS),
                1,
                seconds,
            ).p50_ms
            for _ in range(repeat)
        ]
        print(
            f"400 KB prompt, translate messages->chat ({name}): gateway p50 "
            f"{median(translated):.3f} ms, added "
            f"{_spread([t - direct_p50 for t in translated], best=min)} ms"
        )


if __name__ == "__main__":
    main()
