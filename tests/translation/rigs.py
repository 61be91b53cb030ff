"""Shared pieces of the end-to-end translation tests.

Theory of operation
-------------------
``conftest.py`` owns the main rig (gateway + fake OpenAI, Anthropic and
backup upstreams). This module adds:

* ``quick_rig`` / ``quick`` (import ``quick_rig_fixture, quick_fixture``
  into a test module to use them): a second rig built the same way but with a
  0.2 s stream keep-alive, a 1 s upstream read (idle) timeout and one model
  alias, for keep-alive, idle-timeout and model-identity tests;
* the seven client -> upstream paths of the brief as :data:`PATHS`;
* :class:`Turn`, one assistant turn described once and scripted in any
  upstream dialect by :func:`upstream_reply`;
* :func:`ask`, which drives the official SDK of a path's client (stream or
  not) and folds what it got into a dialect-neutral :class:`Answer`, so one
  test body can check every path;
* :func:`post_raw`, which reads a gateway answer byte for byte with arrival
  times (keep-alives, terminators, time to first byte).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Literal

import anthropic
import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from tests.fakes.anthropic import (
    MessagesScenario,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    messages_json,
    messages_stream,
)
from tests.fakes.openai_chat import ChatScenario, ChatToolCall, chat_json, chat_stream
from tests.fakes.openai_responses import (
    FunctionCallItem,
    MessageItem,
    ReasoningItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)
from tests.fakes.wire import FakeServer, Reply
from tests.gateway_thread import GatewayThread, isolated_config
from tests.sse_util import events

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig

CLIENT_KEY = "client-own-provider-key-never-forwarded"
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"
MESSAGES_PATH = "/v1/messages"
SIGNATURE = "EqQBCkYIBxgCKkB+real/looking=signature/0001=="
ENCRYPTED = "gAAAAABfakeEncryptedReasoning0001"
TIMEOUT = 20.0

# The quick rig: keep-alives every 0.2 s, upstream silence fatal after 1 s.
KEEPALIVE_S = 0.2
READ_TIMEOUT_S = 1.0
ALIAS_MODEL = "claude-sonnet-4-5-gw"  # what Claude Code sees
ALIAS_TARGET = "compat-upstream-model"  # what the upstream gets


# ------------------------------------------------------------------ quick rig


@pytest.fixture(scope="module", name="quick_rig")
def quick_rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp: FsPath = tmp_path_factory.mktemp("translation-quick")
    openai_fake, anthropic_fake, backup = FakeServer(), FakeServer(), FakeServer()
    with (
        openai_fake.running_in_thread() as openai_url,
        anthropic_fake.running_in_thread() as anthropic_url,
        backup.running_in_thread() as backup_url,
    ):
        env = {
            "TOKLIGENCE_OPENAI_API_KEY": OPENAI_KEY,
            "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
            "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
            "TOKLIGENCE_PROVIDER_COMPAT_BASE_URL": openai_url + "/v1",
            "TOKLIGENCE_PROVIDER_COMPAT_API_KEY": "compat-key",
            "TOKLIGENCE_PROVIDER_BACKUP_BASE_URL": backup_url + "/v1",
            "TOKLIGENCE_PROVIDER_BACKUP_API_KEY": "backup-key",
            "TOKLIGENCE_ROUTES": (
                f"{ALIAS_MODEL}=>compat, compat-*=>compat, fallback-*=>anthropic|backup"
            ),
            "TOKLIGENCE_MODEL_ALIASES": f"{ALIAS_MODEL}=>{ALIAS_TARGET}",
            "TOKLIGENCE_STREAM_KEEPALIVE": str(KEEPALIVE_S),
            "TOKLIGENCE_UPSTREAM_READ_TIMEOUT": str(READ_TIMEOUT_S),
            "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.01",
            "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "1",
            "TOKLIGENCE_BREAKER_THRESHOLD": "1000",
        }
        with GatewayThread(isolated_config(tmp, env=env)) as gateway:
            yield Rig(gateway=gateway, openai=openai_fake, anthropic=anthropic_fake, backup=backup)


@pytest.fixture(name="quick")
def quick_fixture(quick_rig: Rig) -> Iterator[Rig]:
    quick_rig.reset()
    yield quick_rig
    quick_rig.reset()


# ---------------------------------------------------------------------- paths

ClientKind = Literal["chat", "messages", "responses"]
UpstreamKind = Literal["anthropic", "chat", "responses"]


@dataclass(frozen=True)
class Path:
    id: str
    client: ClientKind
    upstream: UpstreamKind
    model: str
    passthrough: bool

    def fake(self, rig: Rig) -> FakeServer:
        return rig.anthropic if self.upstream == "anthropic" else rig.openai

    @property
    def upstream_path(self) -> str:
        return {"anthropic": MESSAGES_PATH, "chat": CHAT_PATH, "responses": RESPONSES_PATH}[
            self.upstream
        ]

    @property
    def client_path(self) -> str:
        return {"chat": CHAT_PATH, "messages": MESSAGES_PATH, "responses": RESPONSES_PATH}[
            self.client
        ]


CLAUDE = "claude-sonnet-4-6"
PATHS = (
    Path("a_chat_to_anthropic", "chat", "anthropic", CLAUDE, passthrough=False),
    Path("b_messages_to_openai", "messages", "chat", "gpt-4o", passthrough=False),
    Path("c_responses_to_anthropic", "responses", "anthropic", CLAUDE, passthrough=False),
    Path("d_responses_to_compat", "responses", "chat", "compat-model", passthrough=False),
    Path("e_chat_passthrough", "chat", "chat", "gpt-4o", passthrough=True),
    Path("f_messages_passthrough", "messages", "anthropic", CLAUDE, passthrough=True),
    Path("g_responses_passthrough", "responses", "responses", "gpt-5", passthrough=True),
)
PATH_BY_ID = {p.id: p for p in PATHS}
TRANSLATED = tuple(p for p in PATHS if not p.passthrough)


def path_params(paths: Sequence[Path] = PATHS) -> Any:
    return pytest.mark.parametrize("path", paths, ids=[p.id for p in paths])


# ----------------------------------------------------------------------- turns


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    fragments: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


@dataclass(frozen=True)
class Turn:
    """One assistant turn, scripted in whichever dialect the upstream speaks.
    Usage is given in neutral terms: ``input_tokens`` excludes the cache."""

    text: tuple[str, ...] = ()
    calls: tuple[Call, ...] = ()
    reasoning: tuple[str, ...] = ()
    input_tokens: int = 21
    cache_read: int = 0
    cache_write: int = 0
    output_tokens: int = 13


def anthropic_scenario(turn: Turn, **more: Any) -> MessagesScenario:
    blocks: list[Any] = []
    if turn.reasoning:
        blocks.append(ThinkingBlock(pieces=turn.reasoning, signature=SIGNATURE))
    if turn.text:
        blocks.append(TextBlock(pieces=turn.text))
    blocks += [ToolUseBlock(id=c.id, name=c.name, fragments=c.fragments) for c in turn.calls]
    return MessagesScenario(
        blocks=blocks,
        input_tokens=turn.input_tokens,
        cache_read_input_tokens=turn.cache_read,
        cache_creation_input_tokens=turn.cache_write,
        output_tokens=turn.output_tokens,
        **more,
    )


def chat_scenario(turn: Turn, **more: Any) -> ChatScenario:
    return ChatScenario(
        reasoning=turn.reasoning,
        text=turn.text,
        tool_calls=[ChatToolCall(id=c.id, name=c.name, fragments=c.fragments) for c in turn.calls],
        prompt_tokens=turn.input_tokens + turn.cache_read + turn.cache_write,
        completion_tokens=turn.output_tokens,
        cached_tokens=turn.cache_read,
        cache_write_tokens=turn.cache_write or None,
        **more,
    )


def responses_scenario(turn: Turn, **more: Any) -> ResponsesScenario:
    items: list[Any] = []
    if turn.reasoning:
        items.append(ReasoningItem(summaries=[turn.reasoning], encrypted_content=ENCRYPTED))
    if turn.text:
        items.append(MessageItem(pieces=turn.text))
    items += [
        FunctionCallItem(call_id=c.id, name=c.name, fragments=c.fragments) for c in turn.calls
    ]
    return ResponsesScenario(
        items=items,
        input_tokens=turn.input_tokens + turn.cache_read + turn.cache_write,
        cached_tokens=turn.cache_read,
        cache_write_tokens=turn.cache_write or None,
        output_tokens=turn.output_tokens,
        **more,
    )


def upstream_reply(kind: UpstreamKind, turn: Turn, *, stream: bool, **more: Any) -> Reply:
    """``turn`` in ``kind``'s dialect; ``more`` goes to that dialect's scenario
    (``framing``, ``usage``, ``same_index_reused`` ...)."""
    if kind == "anthropic":
        sc = anthropic_scenario(turn, **more)
        return messages_stream(sc) if stream else messages_json(sc)
    if kind == "chat":
        chat = chat_scenario(turn, **more)
        return chat_stream(chat) if stream else chat_json(chat)
    resp = responses_scenario(turn, **more)
    return responses_stream(resp) if stream else responses_json(resp)


def script(rig: Rig, path: Path, *replies: Reply) -> None:
    path.fake(rig).enqueue(path.upstream_path, *replies)


# -------------------------------------------------------------------- clients


def chat_client(rig: Rig) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=rig.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=TIMEOUT
    )


def messages_client(rig: Rig) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=rig.url, api_key=CLIENT_KEY, max_retries=0, timeout=TIMEOUT)


WEATHER_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def tools_for(client: ClientKind, names: Sequence[str] = ("get_weather",)) -> list[Any]:
    if client == "chat":
        return [
            {
                "type": "function",
                "function": {
                    "name": n,
                    "description": f"{n} tool",
                    "parameters": dict(WEATHER_SCHEMA),
                },
            }
            for n in names
        ]
    if client == "messages":
        return [
            {"name": n, "description": f"{n} tool", "input_schema": dict(WEATHER_SCHEMA)}
            for n in names
        ]
    return [
        {
            "type": "function",
            "name": n,
            "description": f"{n} tool",
            "parameters": dict(WEATHER_SCHEMA),
            "strict": False,
        }
        for n in names
    ]


@dataclass
class Answer:
    """What a client got, folded into neutral terms."""

    text: str
    reasoning: str
    calls: list[tuple[str, str, str]]  # (id, name, arguments as the client's wire has them)
    stop: str
    usage: dict[str, Any]
    final: Any = None
    signatures: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    @property
    def inputs(self) -> list[Any]:
        return [json.loads(arguments) if arguments else {} for _, _, arguments in self.calls]


def ask(
    rig: Rig,
    path: Path,
    *,
    stream: bool,
    tools: bool = False,
    prompt: str = "hi",
    **extra: Any,
) -> Answer:
    """One request through the official SDK of ``path``'s client."""
    if path.client == "chat":
        return _ask_chat(rig, path, stream, tools, prompt, extra)
    if path.client == "messages":
        return _ask_messages(rig, path, stream, tools, prompt, extra)
    return _ask_responses(rig, path, stream, tools, prompt, extra)


def _ask_chat(
    rig: Rig, path: Path, stream: bool, tools: bool, prompt: str, extra: dict[str, Any]
) -> Answer:
    kwargs: dict[str, Any] = {
        "model": path.model,
        "messages": [{"role": "user", "content": prompt}],
        **extra,
    }
    if tools:
        kwargs["tools"] = tools_for("chat")
    with chat_client(rig) as client:
        if not stream:
            done = client.chat.completions.create(**kwargs)
            message = done.choices[0].message
            return Answer(
                text=message.content or "",
                reasoning=getattr(message, "reasoning_content", None) or "",
                calls=[
                    (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
                    for c in message.tool_calls or []
                ],
                stop=done.choices[0].finish_reason,
                usage=done.usage.model_dump() if done.usage else {},
                final=done,
            )
        kwargs.setdefault("stream_options", {"include_usage": True})
        chunks = list(client.chat.completions.create(stream=True, **kwargs))
    # The SDK's own accumulator must agree with a by-hand merge by index.
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState(
        input_tools=kwargs.get("tools", openai.omit)
    )
    for chunk in chunks:
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    text, reasoning, stops = [], [], []
    calls: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            delta = choice.delta
            text.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
            for tc in delta.tool_calls or []:
                entry = calls.setdefault(tc.index, ["", "", ""])
                entry[0] = entry[0] or tc.id or ""
                if tc.function is not None:
                    entry[1] = entry[1] or tc.function.name or ""
                    entry[2] += tc.function.arguments or ""
            if choice.finish_reason:
                stops.append(choice.finish_reason)
    assert len(stops) == 1, stops
    merged = [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]
    sdk_calls = [
        (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
        for c in final.choices[0].message.tool_calls or []
    ]
    assert sdk_calls == merged
    assert (final.choices[0].message.content or "") == "".join(text)
    return Answer(
        text="".join(text),
        reasoning="".join(reasoning),
        calls=merged,
        stop=stops[0],
        usage=usage,
        final=final,
        events=chunks,
    )


def _ask_messages(
    rig: Rig, path: Path, stream: bool, tools: bool, prompt: str, extra: dict[str, Any]
) -> Answer:
    kwargs: dict[str, Any] = {
        "model": path.model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": prompt}],
        **extra,
    }
    if tools:
        kwargs["tools"] = tools_for("messages")
    with messages_client(rig) as client:
        if stream:
            with client.messages.stream(**kwargs) as events:
                seen = list(events)
                message = events.get_final_message()
        else:
            seen = []
            message = client.messages.create(**kwargs)
    text, reasoning, calls, signatures = [], [], [], []
    for block in message.content:
        if block.type == "text":
            text.append(block.text)
        elif block.type == "thinking":
            reasoning.append(block.thinking)
            signatures.append(block.signature)
        elif block.type == "tool_use":
            calls.append((block.id, block.name, json.dumps(block.input)))
    return Answer(
        text="".join(text),
        reasoning="".join(reasoning),
        calls=calls,
        stop=str(message.stop_reason),
        usage=message.usage.model_dump(),
        final=message,
        signatures=signatures,
        events=seen,
    )


def _ask_responses(
    rig: Rig, path: Path, stream: bool, tools: bool, prompt: str, extra: dict[str, Any]
) -> Answer:
    kwargs: dict[str, Any] = {"model": path.model, "input": prompt, **extra}
    if tools:
        kwargs["tools"] = tools_for("responses")
    with chat_client(rig) as client:
        if stream:
            with client.responses.stream(**kwargs) as events:
                seen = list(events)
                response = events.get_final_response()
        else:
            seen = []
            response = client.responses.create(**kwargs)
    text, reasoning, calls = [], [], []
    for item in response.output:
        if item.type == "message":
            text += [part.text for part in item.content if part.type == "output_text"]
        elif item.type == "reasoning":
            reasoning += [s.text for s in item.summary]
            reasoning += [c.text for c in item.content or []]
        elif item.type == "function_call":
            calls.append((item.call_id, item.name, item.arguments))
    return Answer(
        text="".join(text),
        reasoning="".join(reasoning),
        calls=calls,
        stop=response.status or "",
        usage=response.usage.model_dump() if response.usage else {},
        final=response,
        events=seen,
    )


def neutral_usage(client: ClientKind, usage: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(uncached input, cache read, cache write, output) from a client's usage."""
    if client == "messages":
        return (
            usage["input_tokens"],
            usage["cache_read_input_tokens"] or 0,
            usage["cache_creation_input_tokens"] or 0,
            usage["output_tokens"],
        )
    if client == "chat":
        details = usage.get("prompt_tokens_details") or {}
        read = details.get("cached_tokens") or 0
        write = details.get("cache_write_tokens") or 0
        return usage["prompt_tokens"] - read - write, read, write, usage["completion_tokens"]
    details = usage.get("input_tokens_details") or {}
    read = details.get("cached_tokens") or 0
    write = details.get("cache_write_tokens") or 0
    return usage["input_tokens"] - read - write, read, write, usage["output_tokens"]


# ------------------------------------------------------------------- raw HTTP


@dataclass
class RawReply:
    status: int
    headers: httpx.Headers
    body: bytes
    pieces: list[tuple[float, bytes]]  # (seconds since the request was sent, bytes)
    error: BaseException | None = None  # the transport broke off mid-body

    def json(self) -> Any:
        return json.loads(self.body)


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def post_raw(
    rig: Rig,
    path: str,
    body: bytes | Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    query: str = "",
) -> RawReply:
    """POST to the gateway and read the answer as it arrives, bytes untouched."""
    data = body if isinstance(body, bytes) else body_bytes(body)
    sent = {"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"}
    sent.update(headers or {})
    url = rig.url + path + (f"?{query}" if query else "")
    pieces: list[tuple[float, bytes]] = []
    error: BaseException | None = None
    with httpx.Client(timeout=TIMEOUT) as client:
        start = time.monotonic()
        with client.stream("POST", url, content=data, headers=sent) as response:
            try:
                for piece in response.iter_raw():
                    pieces.append((time.monotonic() - start, piece))
            except httpx.HTTPError as exc:
                error = exc
            return RawReply(
                status=response.status_code,
                headers=response.headers,
                body=b"".join(p for _, p in pieces),
                pieces=pieces,
                error=error,
            )


def stream_body(path: Path, **extra: Any) -> dict[str, Any]:
    """A minimal streaming request body in ``path``'s client dialect."""
    hi = [{"role": "user", "content": "hi"}]
    if path.client == "chat":
        return {"model": path.model, "messages": hi, "stream": True, **extra}
    if path.client == "messages":
        return {"model": path.model, "max_tokens": 64, "messages": hi, "stream": True, **extra}
    return {"model": path.model, "input": "hi", "stream": True, **extra}


def raw_outcome(client: ClientKind, body: bytes) -> tuple[bool, bool, str]:
    """(success terminator seen, in-stream error seen, visible text) of a client stream."""
    done = failed = False
    text = []
    for name, data in events(body):
        if client == "chat":
            if data == "[DONE]":
                done = True
            elif isinstance(data, dict) and "error" in data:
                failed = True
            elif isinstance(data, dict):
                text += [c["delta"].get("content") or "" for c in data.get("choices") or []]
        elif client == "messages":
            done = done or name == "message_stop"
            failed = failed or name == "error"
            if name == "content_block_delta" and data["delta"]["type"] == "text_delta":
                text.append(data["delta"]["text"])
        else:
            done = done or name in ("response.completed", "response.incomplete")
            failed = failed or name == "response.failed"
            if name == "response.output_text.delta":
                text.append(data["delta"])
    return done, failed, "".join(text)
