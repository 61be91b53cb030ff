"""Throughput of ``serve --workers N`` against one worker, in one run.

Issue 15 asks two workers on two cores for at least 1.8x one worker. On a
machine with two cores the load client and the upstream share those cores
with the gateway, so what they cost is taken from the gateway: the Python
load client of ``common.load`` costs about a third of a core at the rates
two workers reach. This bench drives the load with ``wrk`` (C, a few
microseconds per request; Debian and Ubuntu package it as ``wrk``) against
``bench/fast_upstream.py``, so that nearly both cores are left to the
gateway, and reports how much CPU each party took.

``--upstream nginx`` answers with nginx instead (``return 200`` of the same
chat body, one worker process; Debian and Ubuntu package it as ``nginx``),
which costs less again than the fake upstream in Python.

For each gateway (1 worker, then ``--workers`` workers) it runs ``--rounds``
rounds of ``--seconds``, interleaved, at ``--connections`` keep-alive
connections of small non-stream chat requests; it prints req/s (median,
best in brackets), the ratio against one worker, and the cores the gateway,
the upstream and wrk used (CPU seconds per second of wall time).

    python bench/workers_bench.py [--workers 2] [--rounds 5] [--seconds 5]
                                  [--connections 32] [--upstream fake|nginx]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

from common import (
    fast_upstream_env,
    free_port,
    host_speed_ms,
    start_fast_upstream,
    start_gateway,
    wait_http,
    wait_tcp,
)
from cpu_bench import cpu_seconds
from fast_upstream import _chat_json
from upstream_bench import CHAT, chat_body

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""


def wrk_round(
    wrk: str, script: Path, port: int, connections: int, seconds: float
) -> tuple[float, float]:
    """(req/s, CPU seconds wrk used) of one wrk run against ``port``."""
    before = os.times()
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{CHAT}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = os.times()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{errors.group(1)} requests failed:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise SystemExit(f"wrk printed no rate:\n{out}")
    used = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    return float(rate.group(1)), used


NGINX_CONF = """daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder};
    proxy_temp_path {folder};
    fastcgi_temp_path {folder};
    uwsgi_temp_path {folder};
    scgi_temp_path {folder};
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


def start_nginx(folder: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """nginx answering every request with the fake upstream's chat body."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("--upstream nginx needs nginx (Debian/Ubuntu: apt-get install nginx)")
    folder.mkdir()
    port = free_port()
    body = _chat_json().split(b"\r\n\r\n", 1)[1].decode()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, port=port, body=body))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(folder)])
    wait_tcp(port)
    return port, process


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--upstream", choices=("fake", "nginx"), default="fake")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("this bench needs wrk (Debian/Ubuntu: apt-get install wrk)")
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    print(f"{os.cpu_count()} cores; wrk -t1 -c{args.connections}, {args.seconds:g} s rounds")
    with tempfile.TemporaryDirectory() as tmp_root:
        tmp = Path(tmp_root)
        script = tmp / "chat.lua"
        script.write_text(WRK_SCRIPT.format(body=chat_body("gpt-bench", False).decode()))
        if args.upstream == "nginx":
            upstream_port, upstream = start_nginx(tmp / "nginx")
        else:
            upstream_port, upstream = start_fast_upstream()
        processes = [upstream]
        gateways: dict[str, tuple[int, int]] = {}
        try:
            for workers in (1, args.workers):
                name = f"{workers} worker" + ("s" if workers > 1 else "")
                port = free_port()
                (tmp / name).mkdir()
                env = {**fast_upstream_env(upstream_port), "TOKLIGENCE_WORKERS": str(workers)}
                gateway = start_gateway(port, str(tmp / name), env)
                processes.append(gateway)
                wait_http(f"http://127.0.0.1:{port}/health")
                gateways[name] = (port, gateway.pid)
            rates: dict[str, list[float]] = {name: [] for name in gateways}
            cores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in gateways}
            for port, _ in gateways.values():  # warm up every worker's pools
                wrk_round(wrk, script, port, args.connections, 1)
            for turn in range(args.rounds):
                order = list(gateways.items())
                if turn % 2:
                    order.reverse()
                for name, (port, pid) in order:
                    gateway_before = cpu_seconds(pid)
                    upstream_before = cpu_seconds(upstream.pid)
                    started = time.perf_counter()
                    rate, wrk_cpu = wrk_round(wrk, script, port, args.connections, args.seconds)
                    wall = time.perf_counter() - started
                    rates[name].append(rate)
                    cores[name].append(
                        (
                            (cpu_seconds(pid) - gateway_before) / wall,
                            (cpu_seconds(upstream.pid) - upstream_before) / wall,
                            wrk_cpu / wall,
                        )
                    )
            one = median(next(iter(rates.values())))
            print(
                f"\n{'gateway':<12}{'req/s':>18}{'x one':>8}{'cores: gateway':>16}{'upstream':>10}{'wrk':>6}"
            )
            for name, values in rates.items():
                used = [median(c[i] for c in cores[name]) for i in range(3)]
                print(
                    f"{name:<12}{median(values):>10.0f} ({max(values):>5.0f}){median(values) / one:>8.2f}"
                    f"{used[0]:>16.2f}{used[1]:>10.2f}{used[2]:>6.2f}"
                )
            print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)


if __name__ == "__main__":
    main()
