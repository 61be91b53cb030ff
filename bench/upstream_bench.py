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

    python bench/upstream_bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    seconds = args.seconds
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
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
                f"{'path':<26}{'mode':<11}{'direct p50':>11}{'gw p50':>9}{'gw p99':>9}{'added p50':>11}"
                f"{'ttfb added':>12}"
            )
            for label, path, body, headers, direct_path, direct_body in PATHS:
                for stream in (False, True):
                    direct = load(
                        upstream_port,
                        request_bytes(direct_path, direct_body(stream), headers),
                        1,
                        seconds,
                    )
                    through = load(
                        gateway_port, request_bytes(path, body(stream), headers), 1, seconds
                    )
                    mode = "stream" if stream else "non-stream"
                    ttfb = (
                        f"{through.ttfb_p50_ms - direct.ttfb_p50_ms:>12.3f}"
                        if stream
                        else f"{'':>12}"
                    )
                    print(
                        f"{label:<26}{mode:<11}{direct.p50_ms:>11.3f}{through.p50_ms:>9.3f}{through.p99_ms:>9.3f}"
                        f"{through.p50_ms - direct.p50_ms:>11.3f}{ttfb}"
                    )
            print()
            print(
                f"{'path':<26}{'mode':<11}{'conc':>5}{'direct req/s':>13}{'gw req/s':>10}{'gw events/s':>12}"
            )
            for label, path, body, headers, direct_path, direct_body in PATHS:
                for stream in (False, True):
                    for concurrency in (16, 64):
                        direct = load(
                            upstream_port,
                            request_bytes(direct_path, direct_body(stream), headers),
                            concurrency,
                            seconds,
                        )
                        through = load(
                            gateway_port,
                            request_bytes(path, body(stream), headers),
                            concurrency,
                            seconds,
                        )
                        mode = "stream" if stream else "non-stream"
                        events = f"{through.events_per_s:>12.0f}" if stream else f"{'':>12}"
                        print(
                            f"{label:<26}{mode:<11}{concurrency:>5}{direct.rps:>13.0f}{through.rps:>10.0f}{events}"
                        )
            big = "x" * 400_000
            direct = load(
                upstream_port, request_bytes(CHAT, chat_body("gpt-bench", False, big)), 1, seconds
            )
            through = load(
                gateway_port, request_bytes(CHAT, chat_body("gpt-bench", False, big)), 1, seconds
            )
            print()
            print(
                f"400 KB prompt, passthrough chat: direct p50 {direct.p50_ms:.3f} ms, gateway p50 "
                f"{through.p50_ms:.3f} ms, added {through.p50_ms - direct.p50_ms:.3f} ms"
            )
            big_t = load(
                gateway_port,
                request_bytes(MESSAGES, messages_body("gpt-bench", False, big), ANTHROPIC_HEADERS),
                1,
                seconds,
            )
            print(
                f"400 KB prompt, translate messages->chat: gateway p50 {big_t.p50_ms:.3f} ms, added "
                f"{big_t.p50_ms - direct.p50_ms:.3f} ms"
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
