"""Throughput against the number of route patterns and model aliases.

For each count N in ``--counts`` (default 1, 10, 100, 1000) a gateway is
started with N routes ``model-0000*=>openai`` … (prefix patterns, none a
prefix of another) and N aliases ``alias-0000=>loopback`` …, the OpenAI
upstream being ``bench/fast_upstream.py``. Then requests per second at
concurrency ``--concurrency`` (non-stream chat) for four models:

* ``route first``: matches the first route (``model-0000-x``);
* ``route last``: matches the last one, the worst case of a router that
  tries each pattern in turn;
* ``alias first`` / ``alias last``: the first and last alias, whose target
  (``loopback``) is then routed: every route is tried first, since routes
  see the client's model name before the alias's.

First, in-process, the time of one ``Router.resolve`` for the same four
models (best of five timings, so the host's noise mostly drops out): what
routing itself costs a request, without the rest of the gateway.

Each throughput figure is the median of ``--repeat`` runs of ``--seconds`` s (best in
brackets), and the last column is the ``route last`` rate as a share of
``route first`` in the same gateway: on a flat router it stays near 100%.

``--baseline DIR`` also runs a gateway from another checkout (an export of
an older commit, say) beside this one for each N, the two measured in turn
within each run, so a change is compared under the same host conditions.

    python bench/routes_bench.py [--counts 1,10,100,1000] [--seconds 2] [--repeat 3]
        [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

from common import (
    ROOT,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    start_gateway,
    wait_http,
)

CHAT = "/v1/chat/completions"
RESOLVE = """
import sys, timeit
from tokligence.routing.rules import Router, parse_aliases, parse_rules
for n in map(int, sys.argv[1].split(",")):
    rules = parse_rules(", ".join(f"model-{i:04}*=>openai" for i in range(n)))
    aliases = parse_aliases(", ".join(f"alias-{i:04}=>loopback" for i in range(n)))
    router = Router(rules=rules, aliases=aliases, providers={"openai"})
    models = ("model-0000-x", f"model-{n - 1:04}-x", "alias-0000", f"alias-{n - 1:04}")
    times = [min(timeit.repeat(lambda: router.resolve(m), number=200, repeat=5)) / 200 for m in models]
    print(n, *(f"{t * 1e6:.1f}" for t in times))
"""


def wire(model: str) -> bytes:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hello"}]})
    return request_bytes(CHAT, body.encode())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="1,10,100,1000")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    sources: list[tuple[str, Path | None]] = [("this", None)]
    if args.baseline is not None:
        sources.append(("base", args.baseline.resolve()))
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    print("µs per Router.resolve, in-process (best of 5)")
    print(
        f"{'N':>5}{'gw':>5}{'route first':>16}{'route last':>16}{'alias first':>16}{'alias last':>16}"
    )
    for name, source in sources:
        env = {**os.environ, "PYTHONPATH": str(source or ROOT)}
        out = subprocess.run(  # in the checkout: "-c" puts the working directory first
            [sys.executable, "-c", RESOLVE, args.counts],
            env=env,
            cwd=source or ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in out.stdout.splitlines():
            count, *times = line.split()
            print(f"{count:>5}{name:>5}" + "".join(f"{t:>16}" for t in times))
    print()
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(upstream_port)]
    )
    print(
        f"req/s at c={args.concurrency}, median of {args.repeat} runs of {args.seconds:g} s "
        "(best in brackets)"
    )
    print(
        f"{'N':>5}{'gw':>5}{'route first':>16}{'route last':>16}{'alias first':>16}{'alias last':>16}"
        f"{'last/first':>12}"
    )
    try:
        for count in (int(c) for c in args.counts.split(",")):
            _measure(upstream_port, count, args, sources)
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")


def _measure(
    upstream_port: int, count: int, args: argparse.Namespace, sources: list[tuple[str, Path | None]]
) -> None:
    env = {
        "TOKLIGENCE_OPENAI_API_KEY": "bench",
        "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "TOKLIGENCE_ROUTES": ", ".join(f"model-{i:04}*=>openai" for i in range(count)),
        "TOKLIGENCE_MODEL_ALIASES": ", ".join(f"alias-{i:04}=>loopback" for i in range(count)),
    }
    models = {
        "route first": "model-0000-x",
        "route last": f"model-{count - 1:04}-x",
        "alias first": "alias-0000",
        "alias last": f"alias-{count - 1:04}",
    }
    with tempfile.TemporaryDirectory() as data_root:
        gateways = []
        try:
            for name, source in sources:
                port = free_port()
                data_dir = Path(data_root) / name
                data_dir.mkdir()
                gateways.append((name, port, start_gateway(port, str(data_dir), env, source)))
            for _, port, _ in gateways:
                wait_http(f"http://127.0.0.1:{port}/health")
            rates: dict[tuple[str, str], list[float]] = {
                (gateway, model): [] for gateway, _ in sources for model in models
            }
            for turn in range(args.repeat):
                # Interleaved, so every figure sees the host in the same states.
                for name, model in models.items():
                    for gateway, port, _ in gateways[:: -1 if turn % 2 else 1]:
                        result = load(port, wire(model), args.concurrency, args.seconds)
                        rates[(gateway, name)].append(result.rps)
        finally:
            for _, _, process in gateways:
                process.terminate()
                process.wait(10)
    for gateway, _ in sources:
        cells = "".join(
            f"{f'{median(rates[(gateway, m)]):.0f} ({max(rates[(gateway, m)]):.0f})':>16}"
            for m in models
        )
        share = median(rates[(gateway, "route last")]) / median(rates[(gateway, "route first")])
        print(f"{count:>5}{gateway:>5}{cells}{share:>11.0%}")


if __name__ == "__main__":
    main()
