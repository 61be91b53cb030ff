"""The built-in ``loopback`` model: offline, deterministic, in every dialect.

Behaviour, in order of precedence:

* The conversation ends with tool results: answer with the results' text
  (several results are joined by newlines), so an agent's tool round trip
  completes.
* The last user message has lines ``/tool NAME {json-args}``: answer with
  one tool call per such line (parallel calls). A tool the request declares
  as a custom (freeform) tool takes the rest of the line as raw input (a
  JSON string literal there is decoded, so ``"line 1\nline 2"`` scripts a
  multi-line input such as a patch).
  Arguments that are not valid JSON get a text answer saying so.
* Otherwise: echo the last user message's text verbatim.

Client limits apply as a real model would apply them: the first matching
stop sequence cuts the echo (``stop_sequence``), and ``max_tokens`` truncates
it (``max_tokens``). When the request asks for reasoning, a short reasoning
block precedes the answer (loopback's own vendor: no signature is forged).
Usage is the local estimate of :mod:`tokligence.canonical.tokens`.

This module is pure; the pipeline turns the event list into a stream.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct

from ..canonical import (
    CustomTool,
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    Request,
    StopReason,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolKind,
    ToolResultPart,
    Usage,
    UsageUpdate,
)
from ..canonical.tokens import BYTES_PER_TOKEN, request_tokens, text_tokens
from ..wire.text import utf8

MODEL = "loopback"
TOOL_LINE = re.compile(r"^/tool\s+(\S+)(?:\s+(.*))?$")
# Stream text in word-sized pieces and arguments in small slices, so clients
# exercise their reassembly the way a real model's stream makes them.
_WORDS = re.compile(r"\s*\S+\s*|\s+")
ARGUMENT_SLICE = 24
EMPTY_ANSWER = "(loopback: the last user message has no text)"
DEFAULT_EMBEDDING_DIMENSIONS = 256


_SYSTEM_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>\s*", re.DOTALL)


def respond(request: Request, *, response_id: str, created: int) -> list[Event]:
    """The complete event sequence loopback answers ``request`` with."""
    events: list[Event] = [
        MessageStart(
            id=response_id,
            model=request.model,
            created=created,
            usage=Usage(input_tokens=request_tokens(request)),
        )
    ]
    output_text = ""
    if _wants_reasoning(request):
        thought = f"Loopback echoes the last message ({len(request.last_user_text())} characters)."
        events.append(ReasoningDelta(text=thought))
        output_text += thought

    calls = _scripted_calls(request)
    stop_reason: StopReason
    stop_sequence: str | None = None
    if isinstance(calls, str):
        answer, stop_reason, stop_sequence = _limit(request, calls)
        events.extend(TextDelta(text=piece) for piece in _WORDS.findall(answer))
        output_text += answer
    else:
        prefix = "toolu_lb_" if request.dialect == "anthropic_messages" else "call_lb_"
        digest = hashlib.sha256(response_id.encode()).hexdigest()[:12]
        for index, (name, arguments, kind) in enumerate(calls):
            events.append(
                ToolCallStart(index=index, id=f"{prefix}{digest}_{index}", name=name, kind=kind)
            )
            for start in range(0, len(arguments), ARGUMENT_SLICE):
                events.append(
                    ToolCallDelta(index=index, arguments=arguments[start : start + ARGUMENT_SLICE])
                )
            events.append(ToolCallEnd(index=index))
            output_text += name + arguments
        stop_reason = "tool_use"
    usage = Usage(
        input_tokens=request_tokens(request), output_tokens=max(text_tokens(output_text), 1)
    )
    events.append(UsageUpdate(usage=usage))
    events.append(Finish(stop_reason=stop_reason, stop_sequence=stop_sequence))
    return events


def _wants_reasoning(request: Request) -> bool:
    config = request.reasoning
    if config is None:
        return False
    if config.mode in ("enabled", "adaptive"):
        return True
    return config.mode is None and config.effort not in (None, "none", "minimal")


def _without_reminders(text: str) -> str:
    """What the user (or the tool) wrote, without the ``<system-reminder>``
    blocks Claude Code adds to user and tool-result turns: an echo of those
    is noise, not an answer."""
    if "<system-reminder>" not in text:
        return text
    return _SYSTEM_REMINDER.sub("", text).strip()


def _scripted_calls(request: Request) -> str | list[tuple[str, str, ToolKind]]:
    """Either the text to answer with, or the tool calls to make."""
    last = request.messages[-1] if request.messages else None
    if last is not None and last.role == "tool":
        texts = []
        for part in last.parts:
            if isinstance(part, ToolResultPart):
                texts.append("".join(c.text for c in part.content if isinstance(c, TextPart)))
        return _without_reminders("\n".join(texts)) or EMPTY_ANSWER
    text = _without_reminders(request.last_user_text())
    custom = {tool.name for tool in request.tools if isinstance(tool, CustomTool)}
    calls: list[tuple[str, str, ToolKind]] = []
    for line in text.splitlines():
        match = TOOL_LINE.match(line.strip())
        if not match:
            continue
        name, raw = match.group(1), (match.group(2) or "").strip()
        if name in custom:
            calls.append((name, _custom_input(raw), "custom"))
            continue
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            return f"loopback: the arguments for tool {name} are not valid JSON ({exc.msg})."
        if not isinstance(parsed, dict):
            return f"loopback: the arguments for tool {name} must be a JSON object."
        # Keep the user's own spelling of the arguments: escapes survive.
        calls.append((name, raw or "{}", "function"))
    if calls:
        return calls
    return text or EMPTY_ANSWER


def _custom_input(raw: str) -> str:
    """A freeform tool's input: the rest of the line, or, when that is a JSON
    string literal, its value -- the only way to script a multi-line input
    (an ``apply_patch`` patch) on one line."""
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        if isinstance(value, str):
            return value
    return raw


def _limit(request: Request, text: str) -> tuple[str, StopReason, str | None]:
    """Apply stop sequences, then max_tokens, as a model would."""
    cut, matched = len(text), None
    for sequence in request.stop:
        at = text.find(sequence) if sequence else -1
        if at != -1 and at < cut:
            cut, matched = at, sequence
    if matched is not None:
        text = text[:cut]
    if request.max_tokens is not None and text_tokens(text) > request.max_tokens:
        budget = request.max_tokens * BYTES_PER_TOKEN
        return utf8(text)[:budget].decode(errors="ignore"), "max_tokens", None
    if matched is not None:
        return text, "stop_sequence", matched
    return text, "end_turn", None


def embed(text: str, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts, equal vectors."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.sha256(utf8(f"{counter}:{text}")).digest()
        values.extend((v / 2**31) - 1.0 for v in struct.unpack(">8I", block))
        counter += 1
    del values[dimensions:]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 8) for v in values]
