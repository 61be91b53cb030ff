"""HTTP/1.1 edge cases through a live gateway, over raw sockets.

HEAD answers like GET without a body; a request with two framings is
refused and its connection closed (no request smuggled inside its body);
every response says nosniff; a header the client names in ``Connection``
stops at the gateway; a header value past ASCII goes upstream byte for
byte; a body dripped a byte at a time and an idle keep-alive connection
are closed on time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_json
from tests.fakes.wire import FakeServer
from tests.gateway_thread import GatewayThread, isolated_config


@dataclass
class Edge:
    gateway: GatewayThread
    anthropic: FakeServer

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.gateway.port()), timeout=10)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    anthropic = FakeServer()
    with ExitStack() as stack:
        url = stack.enter_context(anthropic.running_in_thread())
        env = {
            "TOKLIGENCE_ANTHROPIC_API_KEY": "k",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": url,
            "TOKLIGENCE_IDLE_TIMEOUT": "1",
            "TOKLIGENCE_BODY_TIMEOUT": "1",
            "TOKLIGENCE_BODY_MIN_RATE": "1000",
        }
        tmp: Path = tmp_path_factory.mktemp("edges")
        gateway = stack.enter_context(GatewayThread(isolated_config(tmp, env=env)))
        yield Edge(gateway=gateway, anthropic=anthropic)


def exchange(sock: socket.socket, raw: bytes, *, wait: float = 2.0) -> bytes:
    """Send ``raw`` and read until the peer closes or ``wait`` seconds pass."""
    sock.sendall(raw)
    sock.settimeout(wait)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except TimeoutError:
        pass
    return out


def responses(data: bytes) -> list[bytes]:
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


@pytest.mark.parametrize("path", ["/health", "/v1/models"])
def test_head_on_a_get_route_answers_like_get_without_a_body(edge: Edge, path: str) -> None:
    with edge.connect() as sock:
        get = exchange(sock, f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), wait=0.5)
        head = exchange(sock, f"HEAD {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), wait=0.5)
    get_head, _, get_body = get.partition(b"\r\n\r\n")
    head_head, _, head_body = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and get_body and head_body == b""
    length = [h for h in get_head.split(b"\r\n") if h.lower().startswith(b"content-length")]
    head_length = [h for h in head_head.split(b"\r\n") if h.lower().startswith(b"content-length")]
    assert length and head_length
    if path != "/health":  # its uptime and time change between the two: so may its length
        assert length == head_length


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_head_on_a_post_route_is_a_405_without_a_body(edge: Edge, path: str) -> None:
    with edge.connect() as sock:
        data = exchange(sock, f"HEAD {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), wait=0.5)
        # The connection is still in order: a second request is answered.
        again = exchange(sock, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n", wait=0.5)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and b"allow: POST" in head.lower().replace(
        b"allow: post", b"allow: POST"
    )
    assert body == b""
    assert again.startswith(b"HTTP/1.1 200")


def test_two_framings_are_refused_and_the_smuggled_request_never_runs(edge: Edge) -> None:
    smuggled = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
    chunked = b"0\r\n\r\n" + smuggled
    raw = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n" + chunked
    )
    with edge.connect() as sock:
        data = exchange(sock, raw)
    answers = responses(data)
    assert len(answers) == 1, data
    assert answers[0].startswith(b"HTTP/1.1 400")
    assert b"connection: close" in answers[0].lower()


def test_every_response_says_nosniff(edge: Edge) -> None:
    requests = [
        b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}",
    ]
    for raw in requests:
        with edge.connect() as sock:
            data = exchange(sock, raw, wait=0.5)
        assert b"x-content-type-options: nosniff" in data.lower(), data
    with edge.connect() as sock:  # the server's own error before any handler
        data = exchange(sock, b"NOT-HTTP\r\n\r\n")
    assert b"x-content-type-options: nosniff" in data.lower(), data


def test_connection_nominated_headers_stop_and_non_ascii_values_pass_byte_exact(
    edge: Edge,
) -> None:
    edge.anthropic.reset()
    edge.anthropic.enqueue("/v1/messages", messages_json(MessagesScenario(blocks=[TextBlock()])))
    body = b'{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
    raw = (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"anthropic-version: 2023-06-01\r\nanthropic-beta: kit-caf\xe9\r\n"
        b"openai-beta: drop-me\r\nconnection: keep-alive, openai-beta\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with edge.connect() as sock:
        data = exchange(sock, raw, wait=1)
    assert data.startswith(b"HTTP/1.1 200"), data
    sent = edge.anthropic.last("/v1/messages")
    assert "openai-beta" not in sent.headers
    assert sent.headers["anthropic-beta"].encode("latin-1") == b"kit-caf\xe9"


def test_a_dripped_body_and_an_idle_connection_are_closed_on_time(edge: Edge) -> None:
    with edge.connect() as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        sock.settimeout(0.3)
        for _ in range(30):  # one byte every 0.3 s: never silent, far too slow
            try:
                sock.sendall(b"{")
                answer += sock.recv(65536)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                pass
            if answer:
                break
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert elapsed < 3  # body_timeout 1 s (+1 s per 1000 bytes: none earned)
    with edge.connect() as sock:
        started = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(1) == b""  # idle: closed by the server
        assert time.monotonic() - started < 3
