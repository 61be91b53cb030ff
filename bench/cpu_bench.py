"""Gateway CPU per request, in one run: what each request costs the process.

Throughput and latency on a shared virtual machine move by 2-4x from hour
to hour; the CPU time the kernel charges the gateway process for a fixed
workload moves far less, because it does not count the time the process
waits for a core. So a change to the request path is judged here by CPU
microseconds per request (``utime + stime`` from ``/proc/PID/stat``, over
thousands of requests), this checkout against ``--baseline DIR`` (another
checkout, e.g. ``git worktree add ../base main~3``) and against this
checkout with other settings (``--variant metrics-off:TOKLIGENCE_METRICS_ENABLED=false``),
``--default-logging`` makes every gateway log as it does by default (an
access line per request to a file; otherwise they log warnings only),
interleaved round by round so all see the same host. CPU is counted for
the gateway process and its children, so ``--variant w2:TOKLIGENCE_WORKERS=2``
measures two worker processes.

Starts ``bench/fast_upstream.py`` and each gateway (pointed at it as its
OpenAI and Anthropic upstream), then for each request shape runs
``--rounds`` rounds; in a round each gateway serves ``--seconds`` of load
at ``--concurrency`` keep-alive connections. Prints, per shape and gateway,
the median CPU microseconds per request (best round in brackets) and the
throughput, and the ratio this/base when a baseline is given.

    python bench/cpu_bench.py [--seconds 3] [--rounds 5] [--concurrency 16]
                              [--baseline DIR] [--variant NAME:KEY=VALUE,...]
                              [--shape NAME ...] [--default-logging]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path
from statistics import median

from common import (
    default_logging_env,
    fast_upstream_env,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    start_fast_upstream,
    start_gateway,
    wait_http,
)
from upstream_bench import ANTHROPIC_HEADERS, CHAT, MESSAGES, chat_body, messages_body

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# name -> (path, body, headers)
SHAPES = {
    "chat": (CHAT, chat_body("gpt-bench", False), {}),
    "chat-stream": (CHAT, chat_body("gpt-bench", True), {}),
    "messages": (MESSAGES, messages_body("claude-bench", False), ANTHROPIC_HEADERS),
    "messages-stream": (MESSAGES, messages_body("claude-bench", True), ANTHROPIC_HEADERS),
    "chat->messages": (CHAT, chat_body("claude-bench", False), {}),
    "messages->chat": (MESSAGES, messages_body("gpt-bench", False), ANTHROPIC_HEADERS),
    "loopback": (CHAT, chat_body("loopback", False), {}),
}


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces: split after its ')'.
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU the kernel has charged ``pid`` and its live
    child processes (``serve --workers N``) so far."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except OSError:  # gone meanwhile
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="also this checkout with these settings (repeatable)",
    )
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), dest="shapes")
    parser.add_argument(
        "--default-logging",
        action="store_true",
        help="every gateway logs as by default (info, to a file), not warnings only",
    )
    args = parser.parse_args()
    shapes = args.shapes or ["chat", "chat-stream", "messages->chat"]
    # (name, checkout, settings beyond the common ones)
    sources: list[tuple[str, Path | None, dict[str, str]]] = [("this", None, {})]
    if args.baseline is not None:
        sources.append(("base", args.baseline.resolve(), {}))
    for variant in args.variant:
        name, _, settings = variant.partition(":")
        pairs = (setting.split("=", 1) for setting in settings.split(",") if setting)
        sources.append((name, None, {key: value for key, value in pairs}))
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    upstream_port, upstream = start_fast_upstream()
    env = fast_upstream_env(upstream_port)
    gateways: list[tuple[str, int, subprocess.Popen[bytes]]] = []
    with tempfile.TemporaryDirectory() as data_root:
        try:
            for name, source, settings in sources:
                port = free_port()
                data_dir = Path(data_root) / name
                data_dir.mkdir()
                logging_env = default_logging_env(data_dir) if args.default_logging else {}
                process = start_gateway(
                    port, str(data_dir), {**env, **logging_env, **settings}, source
                )
                gateways.append((name, port, process))
            for _, port, _ in gateways:
                wait_http(f"http://127.0.0.1:{port}/health")
            print(
                f"each figure: median of {args.rounds} rounds of {args.seconds:g} s at "
                f"concurrency {args.concurrency}, best round in brackets"
            )
            width = max(len(name) for name, _, _ in gateways) + 2
            print(f"{'shape':<17}{'gw':<{width}}{'CPU us/request':>16}{'req/s':>9}")
            for shape in shapes:
                path, body, headers = SHAPES[shape]
                wire = request_bytes(path, body, headers)
                per_request: dict[str, list[float]] = {name: [] for name, _, _ in gateways}
                rates: dict[str, list[float]] = {name: [] for name, _, _ in gateways}
                for round_ in range(args.rounds):
                    # Alternate who goes first, so neither always meets a
                    # host that the other has just warmed or tired.
                    order = gateways if round_ % 2 == 0 else gateways[::-1]
                    for name, port, process in order:
                        load(port, wire, args.concurrency, 0.3, warmup=0)
                        before = cpu_seconds(process.pid)
                        result = load(port, wire, args.concurrency, args.seconds, warmup=0)
                        spent = cpu_seconds(process.pid) - before
                        per_request[name].append(spent / result.count * 1e6)
                        rates[name].append(result.rps)
                for name, _, _ in gateways:
                    cpu = per_request[name]
                    print(
                        f"{shape:<17}{name:<{width}}"
                        f"{f'{median(cpu):.0f} ({min(cpu):.0f})':>16}"
                        f"{median(rates[name]):>9.0f}"
                    )
                this = median(per_request["this"])
                for name, _, _ in gateways[1:]:
                    ratio = this / median(per_request[name])
                    print(f"{'':<17}this/{name} CPU per request: {ratio:.3f}")
            print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")
        finally:
            for _, _, process in gateways:
                process.terminate()
                process.wait(10)
            upstream.terminate()
            upstream.wait(10)


if __name__ == "__main__":
    main()
