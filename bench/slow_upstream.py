"""A fake OpenAI upstream whose streams never end (for benchmarks).

Every request gets a Chat Completions stream head and a first event at
once, then one small event every ``INTERVAL`` seconds for as long as the
connection stays open: streams stay open as long as the client wants, at
almost no cost to this process (one timer for all of them).

    python bench/slow_upstream.py PORT [INTERVAL]
"""

from __future__ import annotations

import asyncio
import json
import sys

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _event(content: str) -> bytes:
    payload = {
        "id": "chatcmpl-slow",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "slow-model",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    data = f"data: {json.dumps(payload)}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


FIRST = _event("")
TICK = _event("word ")
OPEN: set[asyncio.Transport] = set()


class SlowUpstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.transport in OPEN:
            return
        head = self.buffer[:end].lower()
        marker = head.find(b"content-length:")
        length = int(head[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.transport.write(HEAD + FIRST)
        OPEN.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN.discard(self.transport)


async def main(port: int, interval: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SlowUpstream, "127.0.0.1", port, backlog=2048)
    async with server:
        while True:
            await asyncio.sleep(interval)
            for transport in list(OPEN):
                transport.write(TICK)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 5.0))
