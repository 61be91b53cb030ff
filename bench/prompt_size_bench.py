"""Latency the gateway adds against the size of the prompt.

Starts ``bench/fast_upstream.py`` and a gateway pointed at it, then sends
non-stream requests whose one user message is ``--sizes`` long (default
1 KB, 10 KB, 100 KB, 1 MB, 10 MB of plain text with punctuation and line
breaks, as prompts are), sequentially (concurrency 1):

* passthrough: Chat Completions in, Chat Completions out;
* translation: Anthropic Messages in, Chat Completions out.

Each is measured directly against the upstream (the same prompt in the
upstream's dialect) and through the gateway, back to back, ``--repeat``
times; printed are the medians of the direct and gateway p50s, the p50 the
gateway adds (median, best run in brackets) and that added time per MB of
prompt: a gateway that handles the body in linear time shows a flat ms/MB
once the fixed per-request cost is amortized. The gateway's default
``max_body_bytes`` (32 MB) admits every size.

    python bench/prompt_size_bench.py [--sizes 1e3,1e4,1e5,1e6,1e7] [--seconds 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from statistics import median

from common import (
    ROOT,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    rss_mb,
    start_gateway,
    wait_http,
)

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "bench"}
SENTENCE = "The quick brown fox, said Ada, jumps over 13 lazy dogs; then it rests.\n"


def prompt(size: int) -> str:
    return (SENTENCE * (size // len(SENTENCE) + 1))[:size]


def chat(text: str) -> bytes:
    body = {"model": "gpt-bench", "messages": [{"role": "user", "content": text}]}
    return request_bytes(CHAT, json.dumps(body).encode())


def messages(text: str) -> bytes:
    body = {
        "model": "gpt-bench",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
    }
    return request_bytes(MESSAGES, json.dumps(body).encode(), ANTHROPIC_HEADERS)


def label(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1000)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1e3,1e4,1e5,1e6,1e7")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(float(size)) for size in args.sizes.split(",")]
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(upstream_port)]
    )
    env = {
        "TOKLIGENCE_OPENAI_API_KEY": "bench",
        "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "TOKLIGENCE_ROUTES": "gpt-bench=>openai",
    }
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = start_gateway(port, data_dir, env)
        try:
            wait_http(f"http://127.0.0.1:{port}/health")
            print(f"gateway RSS idle: {rss_mb(gateway.pid):.1f} MB")
            print(
                f"c=1, non-stream; each figure the median of {args.repeat} runs of "
                f"{args.seconds:g} s (best in brackets)"
            )
            print(
                f"{'prompt':<9}{'path':<13}{'direct p50':>11}{'gw p50':>10}"
                f"{'added ms':>20}{'added ms/MB':>13}"
            )
            for size in sizes:
                text = prompt(size)
                direct_wire = chat(text)
                for path, wire in (("passthrough", chat(text)), ("translation", messages(text))):
                    direct: list[float] = []
                    through: list[float] = []
                    for _ in range(args.repeat):
                        direct.append(load(upstream_port, direct_wire, 1, args.seconds).p50_ms)
                        through.append(load(port, wire, 1, args.seconds).p50_ms)
                    added = [g - d for g, d in zip(through, direct, strict=True)]
                    spread = f"{median(added):.2f} ({min(added):.2f})"
                    print(
                        f"{label(size):<9}{path:<13}{median(direct):>11.2f}{median(through):>10.2f}"
                        f"{spread:>20}{median(added) / (size / 1e6):>13.1f}"
                    )
            print(f"gateway RSS after: {rss_mb(gateway.pid):.1f} MB")
        finally:
            gateway.terminate()
            gateway.wait(10)
            upstream.terminate()
            upstream.wait(10)
    print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")


if __name__ == "__main__":
    main()
