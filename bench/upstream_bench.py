"""Gateway overhead against a fast fake upstream, in one run.

Starts ``bench/fast_upstream.py`` and the gateway (pointed at it as both its
OpenAI and its Anthropic upstream) as separate processes, then measures the
same requests sent directly to the upstream and through the gateway:

* sequential latency (concurrency 1): p50/p99 and the p50 the gateway adds,
  for passthrough and translation, non-stream and stream (time to first
  byte for streams);
* throughput at concurrency 16 and 64 through the gateway;
* a 400 KB prompt (passthrough, non-stream): added p50;
* the gateway's RSS idle and after the load.

Every figure is measured ``--repeat`` times, each gateway run right after
its direct run so both see the host in the same state, and printed as the
median with the best run in brackets. Shared virtual machines change speed
from minute to minute (the calibration loop printed before and after shows
by how much): the median is the typical figure, the best run what the
gateway does when its neighbours are quiet.

    python bench/upstream_bench.py [--seconds 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from statistics import median

from common import (
    ROOT,
    Result,
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


def _pairs(
    upstream_port: int,
    direct_wire: bytes,
    gateway_port: int,
    wire: bytes,
    concurrency: int,
    seconds: float,
    repeat: int,
) -> list[tuple[Result, Result]]:
    """``repeat`` (direct, gateway) measurements, each pair back to back so
    both see the host in the same state."""
    return [
        (
            load(upstream_port, direct_wire, concurrency, seconds),
            load(gateway_port, wire, concurrency, seconds),
        )
        for _ in range(repeat)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    seconds, repeat = args.seconds, args.repeat
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    print(f"each figure: median of {repeat} runs of {seconds:g} s, best run in brackets")
    upstream_port, gateway_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(upstream_port)]
    )
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = start_gateway(
            gateway_port,
            data_dir,
            {
                "TOKLIGENCE_OPENAI_API_KEY": "bench",
                "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
                "TOKLIGENCE_ANTHROPIC_API_KEY": "bench",
                "TOKLIGENCE_ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream_port}",
                "TOKLIGENCE_ROUTES": "gpt-bench=>openai, claude-bench=>anthropic",
            },
        )
        try:
            wait_http(f"http://127.0.0.1:{gateway_port}/health")
            idle = rss_mb(gateway.pid)
            print(f"gateway RSS idle: {idle:.1f} MB")
            print()
            print(
                f"{'path':<26}{'mode':<11}{'direct p50':>11}{'gw p50':>9}{'gw p99':>9}"
                f"{'added p50':>18}{'ttfb added':>18}"
            )
            for label, path, body, headers, direct_path, direct_body in PATHS:
                for stream in (False, True):
                    runs = _pairs(
                        upstream_port,
                        request_bytes(direct_path, direct_body(stream), headers),
                        gateway_port,
                        request_bytes(path, body(stream), headers),
                        1,
                        seconds,
                        repeat,
                    )
                    added = [g.p50_ms - d.p50_ms for d, g in runs]
                    ttfb = [g.ttfb_p50_ms - d.ttfb_p50_ms for d, g in runs]
                    mode = "stream" if stream else "non-stream"
                    print(
                        f"{label:<26}{mode:<11}{median([d.p50_ms for d, _ in runs]):>11.3f}"
                        f"{median([g.p50_ms for _, g in runs]):>9.3f}"
                        f"{median([g.p99_ms for _, g in runs]):>9.3f}"
                        f"{_spread(added, best=min):>18}"
                        f"{_spread(ttfb, best=min) if stream else '':>18}"
                    )
            print()
            print(
                f"{'path':<26}{'mode':<11}{'conc':>5}{'direct req/s':>13}{'gw req/s':>16}"
                f"{'gw events/s':>12}"
            )
            for label, path, body, headers, direct_path, direct_body in PATHS:
                for stream in (False, True):
                    for concurrency in (16, 64):
                        runs = _pairs(
                            upstream_port,
                            request_bytes(direct_path, direct_body(stream), headers),
                            gateway_port,
                            request_bytes(path, body(stream), headers),
                            concurrency,
                            seconds,
                            repeat,
                        )
                        mode = "stream" if stream else "non-stream"
                        events = median([g.events_per_s for _, g in runs])
                        shown = f"{events:>12.0f}" if stream else f"{'':>12}"
                        print(
                            f"{label:<26}{mode:<11}{concurrency:>5}"
                            f"{median([d.rps for d, _ in runs]):>13.0f}"
                            f"{_spread([g.rps for _, g in runs], best=max, digits=0):>16}{shown}"
                        )
            big = "x" * 400_000
            runs = _pairs(
                upstream_port,
                request_bytes(CHAT, chat_body("gpt-bench", False, big)),
                gateway_port,
                request_bytes(CHAT, chat_body("gpt-bench", False, big)),
                1,
                seconds,
                repeat,
            )
            direct_p50 = median([d.p50_ms for d, _ in runs])
            print()
            print(
                f"400 KB prompt, passthrough chat: direct p50 {direct_p50:.3f} ms, gateway p50 "
                f"{median([g.p50_ms for _, g in runs]):.3f} ms, added "
                f"{_spread([g.p50_ms - d.p50_ms for d, g in runs], best=min)} ms"
            )
            translated = [
                load(
                    gateway_port,
                    request_bytes(
                        MESSAGES, messages_body("gpt-bench", False, big), ANTHROPIC_HEADERS
                    ),
                    1,
                    seconds,
                ).p50_ms
                for _ in range(repeat)
            ]
            print(
                f"400 KB prompt, translate messages->chat: gateway p50 {median(translated):.3f} ms, "
                f"added {_spread([t - direct_p50 for t in translated], best=min)} ms"
            )
            print(f"gateway RSS after load: {rss_mb(gateway.pid):.1f} MB")
            print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")
        finally:
            gateway.terminate()
            gateway.wait(10)
            upstream.terminate()
            upstream.wait(10)


if __name__ == "__main__":
    main()
