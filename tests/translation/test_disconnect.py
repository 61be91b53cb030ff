"""A client that goes away mid-stream cancels the upstream request at once."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_events
from tests.fakes.openai_chat import ChatScenario, chat_events
from tests.fakes.sse_script import Framing, Gap, sse_reply

from .conftest import Rig

PIECES = 100
STEP = 0.05  # the upstream sends a delta every STEP seconds: PIECES * STEP = 5 s in all


def slow(items: list[object]) -> list[object]:
    out: list[object] = []
    for item in items:
        out += [Gap(seconds=STEP), item]
    return out


def open_stream(rig: Rig, path: str, body: dict[str, object]) -> socket.socket:
    raw = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", rig.gateway.port()), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-length: {len(raw)}\r\n\r\n".encode()
        + raw
    )
    seen = b""
    while b"data:" not in seen:  # the stream has begun
        seen += sock.recv(65536)
    return sock


def wait_aborted(rig: Rig, fake_name: str, within: float) -> float:
    fake = getattr(rig, fake_name)
    started = time.monotonic()
    while time.monotonic() - started < within:
        if fake.aborted:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"the {fake_name} upstream kept streaming to a client that left")


@pytest.mark.parametrize(
    ("path", "model", "fake_name"),
    [
        ("/v1/messages", "gpt-4o", "openai"),  # translation
        ("/v1/chat/completions", "claude-sonnet-4-5", "anthropic"),  # translation
        ("/v1/chat/completions", "gpt-4o", "openai"),  # passthrough
    ],
)
def test_client_disconnect_cancels_the_upstream_request(
    fresh: Rig, path: str, model: str, fake_name: str
) -> None:
    if fake_name == "openai":
        items = chat_events(ChatScenario(text=["x"] * PIECES))
        route = "/v1/chat/completions"
    else:
        items = messages_events(MessagesScenario(blocks=[TextBlock(pieces=["x"] * PIECES)]))
        route = "/v1/messages"
    getattr(fresh, fake_name).enqueue(route, sse_reply(slow(items), Framing()))  # type: ignore[arg-type]
    body: dict[str, object] = {
        "model": model,
        "stream": True,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "go"}],
    }
    sock = open_stream(fresh, path, body)
    sock.close()
    # One or two upstream steps to notice, never the remaining ~5 s.
    assert wait_aborted(fresh, fake_name, within=2.0) < 2.0
