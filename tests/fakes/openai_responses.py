"""Fake OpenAI Responses upstream replies (docs/protocols.md §3).

Theory of operation
-------------------
A frozen ``ResponsesScenario`` lists the output items of one response;
``responses_events`` produces the recorded lifecycle: ``response.created`` and
``response.in_progress`` (status ``in_progress``, empty output, null usage),
then per item ``response.output_item.added`` → its content events →
``response.output_item.done`` (the authoritative item), then exactly one
terminal event — ``response.completed``, ``response.incomplete`` or
``response.failed`` (optionally preceded by a standalone ``error`` event).
Every event has ``event:`` equal to its ``type`` and a ``sequence_number``
counting from 0 (numbered after ``Framing``-independent assembly, so inserted
pings or comments do not shift it). No ``[DONE]``.

Item ids are derived from the response id (``resp_X`` → ``msg_X_0``,
``fc_X_1``, ``rs_X_2``, ``ctc_X_3``; the suffix is the output index) unless
given. ``responses_json`` is the terminal response object of the same turn.

Per item kind:
* message: ``content_part.added`` → ``output_text.delta`` x n →
  ``output_text.done`` → ``content_part.done``;
* function_call: ``function_call_arguments.delta`` x n → ``.done``
  (``arguments_only_in_done`` sends no deltas, only the full ``.done``);
* reasoning: per summary ``reasoning_summary_part.added`` →
  ``reasoning_summary_text.delta`` x n → ``.done`` → ``part.done``; raw reasoning
  text as a ``reasoning_text`` content part; no summaries and no text → added
  then done at once; ``encrypted_content`` on the done item;
* custom_tool_call: ``custom_tool_call_input.delta`` x n → ``.done``.

docs/protocols.md §5 shape -> option
============================================  =============================================
byte splits / UTF-8 / CRLF / padded JSON       ``framing=Framing(split_every=…, …)``
comments at random positions, silent gaps      ``Framing(insert={i: [Comment()/Gap(…)]})``
abrupt close before response.completed         ``abrupt=True`` (or ``Framing(cut_after=N)``)
empty first fragment / giant / quote-heavy     ``FunctionCallItem(fragments=[…])``
arguments only in the ``.done`` event          ``FunctionCallItem(arguments_only_in_done=True)``
no-argument tool                               ``FunctionCallItem(fragments=["{}"])`` or ``()``
two parallel calls                             two ``FunctionCallItem``
reasoning summaries / encrypted content        ``ReasoningItem(summaries=[[…]], encrypted_…)``
raw reasoning text                             ``ReasoningItem(text=[…])``
custom (freeform) tool calls                   ``CustomToolCallItem(…)``
cached / cache-write / reasoning tokens        ``cached_tokens``, ``cache_write_tokens``,
                                               ``reasoning_tokens``
terminal incomplete (max_output_tokens, …)     ``terminal="incomplete"``, ``incomplete_reason``
``response.failed`` + standalone ``error``     ``terminal="failed"``, ``error_event=True``
pre-stream 400/401/404/429+retry-after/500     ``openai_chat.openai_error(…)``
============================================  =============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .sse_script import Framing, Item, sse_reply
from .wire import Reply, json_reply


@dataclass(frozen=True, kw_only=True)
class MessageItem:
    pieces: Sequence[str] = ()
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class FunctionCallItem:
    call_id: str
    name: str
    fragments: Sequence[str] = ()
    arguments_only_in_done: bool = False
    id: str | None = None

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


@dataclass(frozen=True, kw_only=True)
class ReasoningItem:
    summaries: Sequence[Sequence[str]] = ()  # one list of delta pieces per summary index
    text: Sequence[str] = ()  # raw reasoning_text deltas (content index 0)
    encrypted_content: str | None = None
    id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CustomToolCallItem:
    call_id: str
    name: str
    fragments: Sequence[str] = ()
    id: str | None = None

    @property
    def input(self) -> str:
        return "".join(self.fragments)


OutputItem: TypeAlias = MessageItem | FunctionCallItem | ReasoningItem | CustomToolCallItem
Terminal = Literal["completed", "incomplete", "failed"]


@dataclass(frozen=True, kw_only=True)
class ResponsesScenario:
    id: str = "resp_fake0001"
    created_at: int = 1_700_000_000
    model: str = "gpt-5-2025-08-07"
    items: Sequence[OutputItem] = ()
    terminal: Terminal = "completed"
    incomplete_reason: str = "max_output_tokens"
    failure_code: str = "server_error"
    failure_message: str = "The model produced invalid content."
    error_event: bool = False  # standalone ``error`` event just before the terminal
    abrupt: bool = False  # close the connection before the terminal event
    input_tokens: int = 30  # includes cached tokens, as the Responses API counts
    cached_tokens: int = 0
    cache_write_tokens: int | None = None  # None: key absent (older API)
    output_tokens: int = 12  # includes reasoning tokens
    reasoning_tokens: int = 0
    instructions: str | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    store: bool = True
    previous_response_id: str | None = None
    obfuscation: bool = False
    framing: Framing = field(default_factory=Framing)
    headers: tuple[tuple[str, str], ...] = ()


_PREFIX = {
    MessageItem: "msg",
    FunctionCallItem: "fc",
    ReasoningItem: "rs",
    CustomToolCallItem: "ctc",
}


def item_id(sc: ResponsesScenario, index: int) -> str:
    item = sc.items[index]
    if item.id is not None:
        return item.id
    return f"{_PREFIX[type(item)]}_{sc.id.removeprefix('resp_')}_{index}"


def usage_object(sc: ResponsesScenario) -> dict[str, Any]:
    details: dict[str, Any] = {"cached_tokens": sc.cached_tokens}
    if sc.cache_write_tokens is not None:
        details["cache_write_tokens"] = sc.cache_write_tokens
    return {
        "input_tokens": sc.input_tokens,
        "input_tokens_details": details,
        "output_tokens": sc.output_tokens,
        "output_tokens_details": {"reasoning_tokens": sc.reasoning_tokens},
        "total_tokens": sc.input_tokens + sc.output_tokens,
    }


def response_object(
    sc: ResponsesScenario, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``response`` object in the shape the API sends at each lifecycle point."""
    return {
        "id": sc.id,
        "object": "response",
        "created_at": sc.created_at,
        "status": status,
        "background": False,
        "error": (
            {"code": sc.failure_code, "message": sc.failure_message} if status == "failed" else None
        ),
        "incomplete_details": {"reason": sc.incomplete_reason} if status == "incomplete" else None,
        "instructions": sc.instructions,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": sc.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": sc.previous_response_id,
        "prompt_cache_key": None,
        "reasoning": {"effort": sc.reasoning_effort, "summary": sc.reasoning_summary},
        "safety_identifier": None,
        "service_tier": "default",
        "store": sc.store,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [dict(tool) for tool in sc.tools],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage_object(sc) if status in ("completed", "incomplete") else None,
        "user": None,
        "metadata": {},
    }


def _item(sc: ResponsesScenario, index: int, done: bool) -> dict[str, Any]:
    """An output item as ``output_item.added`` (``done=False``) or ``.done`` shows it."""
    item, ident = sc.items[index], item_id(sc, index)
    last_incomplete = done and sc.terminal == "incomplete" and index == len(sc.items) - 1
    status = "incomplete" if last_incomplete else ("completed" if done else "in_progress")
    if isinstance(item, MessageItem):
        content = [_text_part("".join(item.pieces))] if done else []
        return {
            "id": ident,
            "type": "message",
            "status": status,
            "content": content,
            "role": "assistant",
        }
    if isinstance(item, FunctionCallItem):
        return {
            "id": ident,
            "type": "function_call",
            "status": status,
            "arguments": item.arguments if done else "",
            "call_id": item.call_id,
            "name": item.name,
        }
    if isinstance(item, CustomToolCallItem):
        return {
            "id": ident,
            "type": "custom_tool_call",
            "call_id": item.call_id,
            "name": item.name,
            "input": item.input if done else "",
        }
    reasoning: dict[str, Any] = {"id": ident, "type": "reasoning", "summary": []}
    if done:
        reasoning["summary"] = [
            {"type": "summary_text", "text": "".join(pieces)} for pieces in item.summaries
        ]
        if item.text:
            reasoning["content"] = [{"type": "reasoning_text", "text": "".join(item.text)}]
        if item.encrypted_content is not None:
            reasoning["encrypted_content"] = item.encrypted_content
    return reasoning


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _content_events(sc: ResponsesScenario, index: int) -> list[tuple[str, dict[str, Any]]]:
    item, ident = sc.items[index], item_id(sc, index)
    at = {"item_id": ident, "output_index": index}
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(item, MessageItem):
        text = "".join(item.pieces)
        part = {**at, "content_index": 0}
        out.append(("response.content_part.added", {**part, "part": _text_part("")}))
        for piece in item.pieces:
            delta: dict[str, Any] = {**part, "delta": piece, "logprobs": []}
            if sc.obfuscation:
                delta["obfuscation"] = "Zq8Lm3"
            out.append(("response.output_text.delta", delta))
        out.append(("response.output_text.done", {**part, "text": text, "logprobs": []}))
        out.append(("response.content_part.done", {**part, "part": _text_part(text)}))
    elif isinstance(item, FunctionCallItem):
        if not item.arguments_only_in_done:
            for fragment in item.fragments:
                out.append(("response.function_call_arguments.delta", {**at, "delta": fragment}))
        out.append(("response.function_call_arguments.done", {**at, "arguments": item.arguments}))
    elif isinstance(item, CustomToolCallItem):
        for fragment in item.fragments:
            out.append(("response.custom_tool_call_input.delta", {**at, "delta": fragment}))
        out.append(("response.custom_tool_call_input.done", {**at, "input": item.input}))
    else:
        for number, pieces in enumerate(item.summaries):
            summary = {**at, "summary_index": number}
            text = "".join(pieces)
            empty = {"type": "summary_text", "text": ""}
            out.append(("response.reasoning_summary_part.added", {**summary, "part": empty}))
            for piece in pieces:
                out.append(("response.reasoning_summary_text.delta", {**summary, "delta": piece}))
            out.append(("response.reasoning_summary_text.done", {**summary, "text": text}))
            full = {"type": "summary_text", "text": text}
            out.append(("response.reasoning_summary_part.done", {**summary, "part": full}))
        if item.text:
            part = {**at, "content_index": 0}
            text = "".join(item.text)
            empty = {"type": "reasoning_text", "text": ""}
            out.append(("response.content_part.added", {**part, "part": empty}))
            for piece in item.text:
                out.append(("response.reasoning_text.delta", {**part, "delta": piece}))
            out.append(("response.reasoning_text.done", {**part, "text": text}))
            full = {"type": "reasoning_text", "text": text}
            out.append(("response.content_part.done", {**part, "part": full}))
    return out


def final_output(sc: ResponsesScenario) -> list[dict[str, Any]]:
    return [_item(sc, index, True) for index in range(len(sc.items))]


def responses_events(sc: ResponsesScenario) -> list[Item]:
    named: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": response_object(sc, "in_progress", [])}),
        ("response.in_progress", {"response": response_object(sc, "in_progress", [])}),
    ]
    for index in range(len(sc.items)):
        added = {"output_index": index, "item": _item(sc, index, False)}
        named.append(("response.output_item.added", added))
        named += _content_events(sc, index)
        done = {"output_index": index, "item": _item(sc, index, True)}
        named.append(("response.output_item.done", done))
    if not sc.abrupt:
        if sc.error_event:
            error = {"code": sc.failure_code, "message": sc.failure_message, "param": None}
            named.append(("error", error))
        terminal = {"response": response_object(sc, sc.terminal, final_output(sc))}
        named.append((f"response.{sc.terminal}", terminal))
    return [
        (name, {"type": name, "sequence_number": number, **payload})
        for number, (name, payload) in enumerate(named)
    ]


def responses_stream(sc: ResponsesScenario) -> Reply:
    return sse_reply(responses_events(sc), sc.framing, headers=_headers(sc), abrupt=sc.abrupt)


def responses_json(sc: ResponsesScenario) -> Reply:
    return json_reply(response_object(sc, sc.terminal, final_output(sc)), headers=_headers(sc))


def _headers(sc: ResponsesScenario) -> tuple[tuple[str, str], ...]:
    return (("x-request-id", "req_fake0001"), *sc.headers)
