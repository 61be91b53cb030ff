"""The gateway against Portkey's and against no gateway at all, in one run.

The figures of issue 15's table, measured side by side: the same fast fake
upstream (``bench/fast_upstream.py``), the same small requests, the same
load client; Portkey (``@portkey-ai/gateway`` 1.15.2 on Node, its
``@hono/node-server`` pinned to 1.13.5 as in ``dist_bench.py``) told where
the upstream is by its ``x-portkey-provider`` and ``x-portkey-custom-host``
headers, ours by its routes.

With two or more cores each gateway runs alone on core 1 (all of its
threads) and the load client and the upstream share core 0, so a gateway's
throughput is what one core of it does; ``--no-pin`` leaves placement to
the OS. Each figure is measured ``--repeat`` times, direct and both
gateways back to back in an order that alternates, and printed as the
median with the best run in brackets:

* added p50 latency, non-stream, one client;
* req/s at 16 concurrent non-stream requests, and the gateway's CPU per
  request there (``utime + stime`` of its process, all threads);
* added time to the first streamed byte, one client;
* SSE events/s relayed at 16 concurrent streams;
* an OpenAI client against an Anthropic upstream (translated), added p50;
* a 400 KB prompt, added p50;
* RSS idle.

Our gateways log as they do by default (level info, an access line per
request, to a file), as issue 15 measures them.

``--floor`` adds the relays of ``floor_relay.py`` as columns, pinned like
the gateways: ``h11`` (trio + h11 on both sides, a connection pool, nothing
else), ``h11fast`` (the same on the gateway's own socket stream) and
``bytes`` (trio copying bytes between spliced connections), the floor of
what a gateway on this stack can cost; with the ``httptools`` package
installed, also ``httptools`` (``h11fast`` with llhttp instead of h11). They do not translate: the
translated row leaves them out.

``--baseline DIR`` adds a column "before": the gateway of another checkout
(e.g. ``git worktree add ../before COMMIT``), started and reached as ours.

    python bench/portkey_bench.py [--seconds 3] [--repeat 3] [--portkey-dir DIR] [--no-pin]
                                  [--floor] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import median

from common import (
    Result,
    default_logging_env,
    fast_upstream_env,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    rss_mb,
    start_fast_upstream,
    start_gateway,
    wait_http,
    wait_tcp,
)
from cpu_bench import cpu_seconds
from dist_bench import portkey_install
from upstream_bench import ANTHROPIC_HEADERS, CHAT, MESSAGES, chat_body, messages_body

GATEWAY_CORE = 1
CLIENT_CORE = 0


def pin(pid: int, core: int) -> None:
    """Every thread of ``pid`` onto ``core`` (threads made later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(task), {core})


def start_portkey(folder: Path, port: int) -> subprocess.Popen[bytes]:
    server = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    env = {**os.environ, "NODE_ENV": "production"}
    return subprocess.Popen(
        ["node", str(server), f"--port={port}", "--headless"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class Target:
    """One way to reach the upstream: the wire bytes of each request shape."""

    def __init__(
        self, name: str, port: int, pid: int | None, wire: Callable[[str, bool, str], bytes]
    ) -> None:
        self.name = name
        self.port = port
        self.pid = pid  # None: the upstream itself
        self.wire = wire  # (shape, stream, prompt text) -> request bytes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--portkey-dir", type=Path, help="an existing Portkey install")
    parser.add_argument("--no-pin", action="store_true", help="leave cores to the OS")
    parser.add_argument("--floor", action="store_true", help="add the floor relays as columns")
    parser.add_argument("--baseline", type=Path, help="another checkout, as the column 'before'")
    args = parser.parse_args()
    pinned = not args.no_pin and os.cpu_count() is not None and os.cpu_count() >= 2
    if pinned:
        os.sched_setaffinity(0, {CLIENT_CORE})
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    print(
        f"each figure: median of {args.repeat} runs of {args.seconds:g} s, best in brackets; "
        + (
            f"gateways pinned to core {GATEWAY_CORE}, client and upstream to core {CLIENT_CORE}"
            if pinned
            else "not pinned"
        )
    )
    with tempfile.TemporaryDirectory() as tmp_root:
        tmp = Path(tmp_root)
        portkey_dir = args.portkey_dir or portkey_install(tmp / "portkey")
        upstream_port, upstream = start_fast_upstream()
        processes: list[subprocess.Popen[bytes]] = [upstream]
        try:
            targets = _start(tmp, portkey_dir, upstream_port, processes, pinned, args.baseline)
            if args.floor:
                targets += _start_floor(upstream_port, processes, pinned)
            _measure(targets, args.seconds, args.repeat)
            print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)


def _start(
    tmp: Path,
    portkey_dir: Path,
    upstream_port: int,
    processes: list[subprocess.Popen[bytes]],
    pinned: bool,
    baseline: Path | None = None,
) -> list[Target]:
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = fast_upstream_env(upstream_port)
    ours_port, portkey_port = free_port(), free_port()
    (tmp / "ours").mkdir()
    # Issue 15's conditions: ledger on, default logging (an access line per request).
    ours = start_gateway(ours_port, str(tmp / "ours"), {**env, **default_logging_env(tmp / "ours")})
    processes.append(ours)
    portkey = start_portkey(portkey_dir, portkey_port)
    processes.append(portkey)
    wait_http(f"http://127.0.0.1:{ours_port}/health")
    wait_http(f"http://127.0.0.1:{portkey_port}/")
    if pinned:
        pin(processes[0].pid, CLIENT_CORE)
        pin(ours.pid, GATEWAY_CORE)
        pin(portkey.pid, GATEWAY_CORE)

    def direct(shape: str, stream: bool, text: str) -> bytes:
        # The request each gateway sends on: Chat to OpenAI; for the
        # translated shape, Messages to Anthropic.
        if shape == "translate":
            return request_bytes(
                MESSAGES, messages_body("claude-bench", stream, text), ANTHROPIC_HEADERS
            )
        return request_bytes(CHAT, chat_body("gpt-bench", stream, text))

    def via_ours(shape: str, stream: bool, text: str) -> bytes:
        model = "claude-bench" if shape == "translate" else "gpt-bench"
        return request_bytes(CHAT, chat_body(model, stream, text))

    def via_portkey(shape: str, stream: bool, text: str) -> bytes:
        translate = shape == "translate"
        headers = {
            "authorization": "Bearer bench",
            "x-portkey-provider": "anthropic" if translate else "openai",
            "x-portkey-custom-host": f"{upstream_url}/v1",
        }
        body = json.loads(chat_body("claude-bench" if translate else "gpt-bench", stream, text))
        if translate:
            body["max_tokens"] = 256  # Anthropic requires it; Portkey passes it on
        return request_bytes(CHAT, json.dumps(body).encode(), headers)

    targets = [
        Target("direct", upstream_port, None, direct),
        Target("ours", ours_port, ours.pid, via_ours),
        Target("portkey", portkey_port, portkey.pid, via_portkey),
    ]
    if baseline is not None:
        before_port = free_port()
        (tmp / "before").mkdir()
        before = start_gateway(
            before_port,
            str(tmp / "before"),
            {**env, **default_logging_env(tmp / "before")},
            source=baseline.resolve(),
        )
        processes.append(before)
        wait_http(f"http://127.0.0.1:{before_port}/health")
        if pinned:
            pin(before.pid, GATEWAY_CORE)
        targets.append(Target("before", before_port, before.pid, via_ours))
    return targets


def _start_floor(
    upstream_port: int, processes: list[subprocess.Popen[bytes]], pinned: bool
) -> list[Target]:
    """The two relays of ``floor_relay.py``, as targets reached like the upstream."""
    relay = Path(__file__).with_name("floor_relay.py")
    targets = []
    kinds = ["h11", "h11fast", "bytes"]
    if importlib.util.find_spec("httptools") is not None:
        kinds.insert(2, "httptools")  # what the HTTP parser costs: see floor_relay.py
    for kind in kinds:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(relay), kind, str(port), str(upstream_port)]
        )
        processes.append(process)
        wait_tcp(port)
        if pinned:
            pin(process.pid, GATEWAY_CORE)

        def wire(shape: str, stream: bool, text: str) -> bytes:
            return request_bytes(CHAT, chat_body("gpt-bench", stream, text))

        targets.append(Target(f"{kind}-relay", port, process.pid, wire))
    return targets


def _runs(
    targets: list[Target],
    shape: str,
    stream: bool,
    text: str,
    concurrency: int,
    seconds: float,
    repeat: int,
) -> dict[str, list[tuple[Result, float | None]]]:
    """Per target: ``repeat`` (result, gateway CPU us per request) pairs.
    The relays sit out the translated shape."""
    if shape == "translate":
        targets = [t for t in targets if not t.name.endswith("-relay")]
    out: dict[str, list[tuple[Result, float | None]]] = {t.name: [] for t in targets}
    for turn in range(repeat):
        order = targets if turn % 2 == 0 else [targets[0], *targets[:0:-1]]
        for target in order:
            wire = target.wire(shape, stream, text)
            load(target.port, wire, concurrency, 0.3, warmup=0)
            before = cpu_seconds(target.pid) if target.pid else 0.0
            result = load(target.port, wire, concurrency, seconds, warmup=0)
            cpu = None
            if target.pid:
                cpu = (cpu_seconds(target.pid) - before) / result.count * 1e6
            out[target.name].append((result, cpu))
    return out


def _fmt(values: list[float], digits: int, best: Callable[[list[float]], float]) -> str:
    return f"{median(values):.{digits}f} ({best(values):.{digits}f})"


def _measure(targets: list[Target], seconds: float, repeat: int) -> None:
    gateways = [t for t in targets if t.pid is not None]
    names = [t.name for t in targets]
    for target in gateways:
        print(f"RSS idle, {target.name}: {rss_mb(target.pid or 0):.1f} MB")
    print()
    print(f"{'figure':<40}" + "".join(f"{n:>18}" for n in names) + f"{'ours/portkey':>14}")

    def row(label: str, cells: dict[str, str], ratio: float | None) -> None:
        shown = f"{ratio:.2f}" if ratio is not None else ""
        print(f"{label:<40}" + "".join(f"{cells.get(n, ''):>18}" for n in names) + f"{shown:>14}")

    small = "hello"

    def added(label: str, shape: str, stream: bool, text: str, ttfb: bool = False) -> None:
        """A row of the time each gateway adds to the direct p50 (c=1)."""
        runs = _runs(targets, shape, stream, text, 1, seconds, repeat)

        def figure(result: Result) -> float:
            return result.ttfb_p50_ms if ttfb else result.p50_ms

        direct = [figure(r) for r, _ in runs["direct"]]
        extra = {
            name: [figure(r) - d for (r, _), d in zip(results, direct, strict=True)]
            for name, results in runs.items()
            if name != "direct"
        }
        row(
            label,
            {"direct": f"{median(direct):.3f}", **{k: _fmt(v, 3, min) for k, v in extra.items()}},
            median(extra["ours"]) / median(extra["portkey"]),
        )

    def rates(label: str, stream: bool) -> dict[str, list[tuple[Result, float | None]]]:
        """A row of what each target does at c=16: req/s, or SSE events/s."""
        runs = _runs(targets, "chat", stream, small, 16, seconds, repeat)
        values = {
            name: [r.events_per_s if stream else r.rps for r, _ in results]
            for name, results in runs.items()
        }
        row(
            label,
            {name: _fmt(v, 0, max) for name, v in values.items()},
            median(values["ours"]) / median(values["portkey"]),
        )
        row(
            "  ... of direct",
            {n: f"{median(v) / median(values['direct']):.3f}" for n, v in values.items()},
            None,
        )
        return runs

    added("added p50 ms, non-stream", "chat", False, small)
    runs = rates("req/s at c=16, non-stream", False)
    cpu = {t.name: [c for _, c in runs[t.name] if c is not None] for t in gateways}
    row(
        "gateway CPU us per request at c=16",
        {name: _fmt(values, 0, min) for name, values in cpu.items()},
        median(cpu["ours"]) / median(cpu["portkey"]),
    )
    added("added ms to the first streamed byte", "chat", True, small, ttfb=True)
    rates("SSE events/s at c=16", True)
    added("OpenAI -> Anthropic, added p50 ms", "translate", False, small)
    added("400 KB prompt, added p50 ms", "chat", False, "x" * 400_000)


if __name__ == "__main__":
    main()
