"""Fake OpenAI Chat Completions upstream replies (docs/protocols.md §2).

Theory of operation
-------------------
A frozen ``ChatScenario`` describes one assistant turn; ``chat_events`` turns
it into the chunk list a recorded OpenAI (or OpenAI-compatible) server would
send, ``chat_stream`` frames it as an SSE ``Reply`` (see ``sse_script.Framing``
for byte-level options) and ``chat_json`` gives the non-streaming body of the
same turn. Every chunk carries the same ``id``/``created``/``model``/
``system_fingerprint``. Content order: role chunk, reasoning deltas (in the
chosen non-standard dialect), text deltas, tool-call deltas, finish chunk,
usage chunk, ``[DONE]``.

Tool calls: fragment ``k`` of a call is the ``arguments`` of its ``k``-th
delta; the first delta also carries ``id``/``type``/``name`` (recorded shape:
start with ``""`` as first fragment). ``interleave`` lists call positions in
the order their next fragment is sent, to mix parallel calls.

docs/protocols.md §5 shape -> option
===================================================  =========================================
byte splits, UTF-8 / data-line splits, CRLF, padding  ``framing=Framing(split_every=…, offsets=…,
                                                      eol="\\r\\n", pad_json=…)``
comments / pings at random positions                  ``Framing(insert={i: [Comment()]})``
long silent gap                                       ``Framing(insert={i: [Gap(seconds=…)]})``
abrupt close, no usage chunk, no ``[DONE]``           ``abrupt=True`` (or ``Framing(cut_after=N)``)
empty first fragment                                  ``ChatToolCall(fragments=["", …])``
one giant fragment                                    ``ChatToolCall(fragments=[big])``
arguments only at the end                             ``arguments_at_end=True``
quote/backslash-heavy arguments                       any fragments (JSON-escaped on the wire)
no-argument tool                                      ``ChatToolCall(fragments=[])`` (or ``["{}"]``)
two parallel calls / interleaved                      two ``ChatToolCall``; ``interleave=[0,1,0,…]``
same ``index`` reused (bad upstream)                  ``same_index_reused=True``
fragment without ``id`` first                         ``ChatToolCall(late_id=True)``
usage absent / null everywhere / final chunk /        ``usage="absent"``, ``"null_every_chunk"``,
choices null / on the finish chunk                    ``"final_chunk"``, ``"choices_null"``,
                                                      ``"on_finish_chunk"``
documented ``usage: null`` on non-usage chunks        ``usage_null_on_other_chunks=True``
cached / cache-write / reasoning tokens               ``cached_tokens``, ``cache_write_tokens``,
                                                      ``reasoning_tokens``
``reasoning_content`` (or other dialect) before text  ``reasoning=[…]``, ``reasoning_dialect=…``
pre-stream 400/401/404/429+retry-after/500 errors     ``chat_error(status, type, message, …)``;
                                                      HTML: ``wire.html_error``
mid-stream ``data: {"error": …}``                     ``error_after=N`` (+ ``error={…}``)
``length`` with partial tool JSON                     ``finish_reason="length"`` + truncated
                                                      fragments
upstream lying ``stop`` with tool calls               ``finish_reason="stop"`` + tool calls
obfuscation field                                     ``obfuscation=True``
role chunk separate from the first tool fragment      ``role_with_first_tool=False``
===================================================  =========================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .sse_script import Framing, Item, sse_reply
from .wire import Reply, json_reply

ReasoningDialect = Literal["reasoning_content", "reasoning", "reasoning_details"]
UsageShape = Literal["absent", "null_every_chunk", "final_chunk", "choices_null", "on_finish_chunk"]

DEFAULT_STREAM_ERROR: Mapping[str, Any] = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}
# Padding alphabet for the deterministic ``obfuscation`` field.
_OBFUSCATION = "Zq8Lm3Xv0TbQ"


@dataclass(frozen=True, kw_only=True)
class ChatToolCall:
    id: str
    name: str
    fragments: Sequence[str] = ()
    # Wire index; None means the call's position in ``ChatScenario.tool_calls``.
    index: int | None = None
    # The first delta carries no id; it follows on the call's next delta.
    late_id: bool = False

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


@dataclass(frozen=True, kw_only=True)
class ChatScenario:
    id: str = "chatcmpl-fake0001"
    created: int = 1_700_000_000
    model: str = "gpt-4o-mini-2024-07-18"
    system_fingerprint: str | None = "fp_fake0001"
    service_tier: str | None = None
    reasoning: Sequence[str] = ()
    reasoning_dialect: ReasoningDialect = "reasoning_content"
    text: Sequence[str] = ()
    tool_calls: Sequence[ChatToolCall] = ()
    interleave: Sequence[int] | None = None
    same_index_reused: bool = False
    arguments_at_end: bool = False
    role_with_first_tool: bool = True
    finish_reason: str | None = None  # None: "tool_calls" when there are calls, else "stop"
    usage: UsageShape = "final_chunk"
    usage_null_on_other_chunks: bool = False
    prompt_tokens: int = 12  # includes cached and cache-write tokens, as OpenAI counts
    completion_tokens: int = 9  # includes reasoning tokens
    cached_tokens: int = 0
    cache_write_tokens: int | None = None  # None: key absent (older API)
    reasoning_tokens: int = 0
    obfuscation: bool = False
    done: bool = True
    abrupt: bool = False
    error_after: int | None = None
    error: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_STREAM_ERROR))
    framing: Framing = field(default_factory=Framing)
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


def usage_object(sc: ChatScenario) -> dict[str, Any]:
    prompt_details: dict[str, Any] = {"cached_tokens": sc.cached_tokens, "audio_tokens": 0}
    if sc.cache_write_tokens is not None:
        prompt_details["cache_write_tokens"] = sc.cache_write_tokens
    return {
        "prompt_tokens": sc.prompt_tokens,
        "completion_tokens": sc.completion_tokens,
        "total_tokens": sc.prompt_tokens + sc.completion_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": sc.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _reasoning_delta(dialect: ReasoningDialect, text: str) -> dict[str, Any]:
    if dialect == "reasoning_details":
        detail = {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
        return {"reasoning_details": [detail]}
    return {dialect: text}


def _wire_index(sc: ChatScenario, position: int) -> int:
    if sc.same_index_reused:
        return 0
    index = sc.tool_calls[position].index
    return position if index is None else index


def _tool_deltas(sc: ChatScenario) -> list[dict[str, Any]]:
    """One ``delta`` per tool-call chunk, in wire order."""
    calls = list(sc.tool_calls)
    # What each call's successive chunks carry as ``arguments`` (one chunk at least).
    plans = [[""] if sc.arguments_at_end or not c.fragments else list(c.fragments) for c in calls]
    natural = [position for position, plan in enumerate(plans) for _ in plan]
    order = natural if sc.interleave is None or sc.arguments_at_end else list(sc.interleave)
    if sorted(order) != natural:
        raise ValueError("interleave must name each call once per fragment (once if none)")
    sent = [0] * len(calls)
    deltas: list[dict[str, Any]] = []
    for position in order:
        call, plan, step = calls[position], plans[position], sent[position]
        sent[position] += 1
        index = _wire_index(sc, position)
        entry: dict[str, Any] = {"index": index}
        if step == (1 if call.late_id else 0):
            entry["id"] = call.id
        if step == 0:
            entry["type"] = "function"
            entry["function"] = {"name": call.name, "arguments": plan[0]}
        else:
            entry["function"] = {"arguments": plan[step]}
        deltas.append({"tool_calls": [entry]})
        if call.late_id and step == 0 and len(plan) == 1:
            # A one-chunk call still owes its id: it comes with an empty fragment.
            late = {"index": index, "id": call.id, "function": {"arguments": ""}}
            deltas.append({"tool_calls": [late]})
    if sc.arguments_at_end and calls:
        finals = [
            {"index": _wire_index(sc, p), "function": {"arguments": c.arguments}}
            for p, c in enumerate(calls)
        ]
        deltas.append({"tool_calls": finals})
    return deltas


def chat_events(sc: ChatScenario) -> list[Item]:
    """The scenario's SSE items (``data:`` lines only; ``[DONE]`` last when sent)."""
    serial = 0

    def chunk(
        choices: list[dict[str, Any]] | None, usage: dict[str, Any] | Literal[False] | None
    ) -> Item:
        nonlocal serial
        body: dict[str, Any] = {
            "id": sc.id,
            "object": "chat.completion.chunk",
            "created": sc.created,
            "model": sc.model,
        }
        if sc.service_tier is not None:
            body["service_tier"] = sc.service_tier
        body["system_fingerprint"] = sc.system_fingerprint
        body["choices"] = choices
        if usage is not False:
            body["usage"] = usage
        if sc.obfuscation:
            body["obfuscation"] = _OBFUSCATION[: 3 + serial % 9]
        serial += 1
        return (None, body)

    null_usage: Literal[False] | None = (
        None if sc.usage == "null_every_chunk" or sc.usage_null_on_other_chunks else False
    )

    def choice(delta: dict[str, Any], finish: str | None = None) -> Item:
        entry = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return chunk([entry], null_usage)

    deltas: list[dict[str, Any]] = []
    tool_deltas = _tool_deltas(sc)
    if tool_deltas and not sc.reasoning and not sc.text and sc.role_with_first_tool:
        role: dict[str, Any] = {"role": "assistant", "content": None}
        first = tool_deltas[0]
        tool_deltas[0] = {**role, "tool_calls": first["tool_calls"], "refusal": None}
    else:
        content: str | None = "" if sc.text or not tool_deltas else None
        deltas.append({"role": "assistant", "content": content, "refusal": None})
    deltas += [_reasoning_delta(sc.reasoning_dialect, piece) for piece in sc.reasoning]
    deltas += [{"content": piece} for piece in sc.text]
    deltas += tool_deltas
    items: list[Item] = [choice(delta) for delta in deltas]
    if not sc.abrupt:
        usage = usage_object(sc)
        on_finish = usage if sc.usage == "on_finish_chunk" else null_usage
        finish = {"index": 0, "delta": {}, "logprobs": None}
        items.append(chunk([finish | {"finish_reason": sc.effective_finish_reason}], on_finish))
        if sc.usage == "final_chunk":
            items.append(chunk([], usage))
        elif sc.usage == "choices_null":
            items.append(chunk(None, usage))
    if sc.error_after is not None:
        items = [*items[: sc.error_after], (None, {"error": dict(sc.error)})]
    elif sc.done and not sc.abrupt:
        items.append((None, "[DONE]"))
    return items


def chat_stream(sc: ChatScenario) -> Reply:
    return sse_reply(chat_events(sc), sc.framing, headers=_headers(sc), abrupt=sc.abrupt)


def chat_json(sc: ChatScenario) -> Reply:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(sc.text) if sc.text or not sc.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if sc.reasoning:
        text = "".join(sc.reasoning)
        if sc.reasoning_dialect == "reasoning_details":
            detail = {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
            message["reasoning_details"] = [detail]
        else:
            message[sc.reasoning_dialect] = text
    if sc.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in sc.tool_calls
        ]
    body: dict[str, Any] = {
        "id": sc.id,
        "object": "chat.completion",
        "created": sc.created,
        "model": sc.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": sc.effective_finish_reason,
            }
        ],
    }
    if sc.usage != "absent":
        body["usage"] = None if sc.usage == "null_every_chunk" else usage_object(sc)
    if sc.service_tier is not None:
        body["service_tier"] = sc.service_tier
    body["system_fingerprint"] = sc.system_fingerprint
    return json_reply(body, headers=_headers(sc))


def _headers(sc: ChatScenario) -> tuple[tuple[str, str], ...]:
    return (("x-request-id", "req_fake0001"), ("openai-processing-ms", "42"), *sc.headers)


def openai_error(
    status: int,
    type: str,
    message: str,
    code: str | None = None,
    *,
    param: str | None = None,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    should_retry: bool | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """A pre-stream error in OpenAI's envelope (Chat Completions and Responses alike)."""
    extra: list[tuple[str, str]] = [("x-request-id", "req_fake_error")]
    if retry_after is not None:
        extra.append(("retry-after", _number(retry_after)))
    if retry_after_ms is not None:
        extra.append(("retry-after-ms", _number(retry_after_ms)))
    if should_retry is not None:
        extra.append(("x-should-retry", "true" if should_retry else "false"))
    payload = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return json_reply(payload, status=status, headers=(*extra, *headers))


chat_error = openai_error


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
