"""A deliberately fast fake upstream for benchmarks (not for correctness tests).

Serves OpenAI Chat Completions (JSON and SSE) and Anthropic Messages (JSON
and SSE) from precomputed bytes on a raw asyncio protocol, so that its own
cost is a small, constant part of every measurement.

    python bench/fast_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

WORDS = 20  # content deltas per streamed answer


def _chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def _head(content_type: str, length: int | None) -> bytes:
    size = (
        f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    )
    return f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{size}\r\n".encode()


def _chat_json() -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "bench-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "word " * WORDS},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": WORDS, "total_tokens": 12 + WORDS},
        }
    ).encode()
    return _head("application/json", len(body)) + body


def _chat_sse() -> bytes:
    def chunk(delta: dict[str, object], finish: str | None = None) -> str:
        payload = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return "data: " + json.dumps(payload) + "\n\n"

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": "word "}) for _ in range(WORDS)]
    parts.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": WORDS, "total_tokens": 12 + WORDS}
    parts.append(
        "data: "
        + json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "bench-model",
                "choices": [],
                "usage": usage,
            }
        )
        + "\n\n"
    )
    parts.append("data: [DONE]\n\n")
    return _head("text/event-stream", None) + _chunked("".join(parts).encode())


def _messages_json() -> bytes:
    body = json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-bench",
            "content": [{"type": "text", "text": "word " * WORDS}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": WORDS},
        }
    ).encode()
    return _head("application/json", len(body)) + body


def _messages_sse() -> bytes:
    def event(name: str, payload: dict[str, object]) -> str:
        return f"event: {name}\ndata: {json.dumps(payload)}\n\n"

    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    parts = [event("message_start", {"type": "message_start", "message": message})]
    parts.append(
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    parts += [
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "word "},
            },
        )
        for _ in range(WORDS)
    ]
    parts.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    parts.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": WORDS},
            },
        )
    )
    parts.append(event("message_stop", {"type": "message_stop"}))
    return _head("text/event-stream", None) + _chunked("".join(parts).encode())


REPLIES = {
    ("chat", False): _chat_json(),
    ("chat", True): _chat_sse(),
    ("messages", False): _messages_json(),
    ("messages", True): _messages_sse(),
}


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # A bytearray: appending a large body chunk by chunk stays linear.
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            kind = "messages" if b"/v1/messages" in head.split(b"\r\n", 1)[0] else "chat"
            stream = b'"stream":true' in body.replace(b" ", b"")
            self.transport.write(REPLIES[(kind, stream)])


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
