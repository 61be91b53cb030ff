"""Usage sniffing for passthrough: read the tokens from bytes we relay untouched.

Passthrough never parses a response into canonical form; the relay hands
every chunk to a :class:`UsageSniffer`, which runs the SSE decoder alongside
and parses only the few events that can carry usage (cheap substring test
first: a 400 KB stream of text deltas costs no JSON parsing). Whole JSON
bodies are parsed once at the end. Pure: no I/O.

The sniffer also keeps what the gateway's own count of the output needs
(:meth:`UsageSniffer.counted_output`, for the billing audit): a reference
to the data of each event that carries output text, and nothing else. The
count is made once, when the answer is over: one regular-expression pass
per dialect picks the text out of the kept events, one JSON string decode
undoes their escapes. Only deltas are kept: a Responses stream repeats the
whole text in its ``*.done`` and ``response.completed`` events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..canonical import Usage, merge_usage
from ..canonical.tokens import json_tokens, text_tokens
from ..wire.sse_read import SseDecoder, SseEvent

_ERROR_DATA = re.compile(r'\s*\{\s*"error"\s*:')  # an OpenAI in-stream error chunk
_SEQUENCE = re.compile(r'"sequence_number"\s*:\s*(\d+)')
_FINISHED = re.compile(r'"finish_reason"\s*:\s*"')

UsageReader = Callable[[Mapping[str, Any]], Usage | None]

# A JSON string's body (escapes kept), unrolled so that long text is one scan.
_STRING = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
# Per dialect: the fields of a kept event that hold output text, as
# (field, text) matches; REASONING_FIELDS say which are reasoning.
_OUTPUT_FIELDS = {
    "openai_chat": re.compile(
        r'"(content|refusal|arguments|reasoning_content|reasoning)"\s*:\s*' + _STRING
    ),
    "anthropic_messages": re.compile(r'"(text|partial_json|thinking)"\s*:\s*' + _STRING),
    "openai_responses": re.compile(r'"(delta)"\s*:\s*' + _STRING),
}
REASONING_FIELDS = frozenset({"reasoning_content", "reasoning", "thinking"})
# Responses: the delta events of output text, and those of reasoning.
RESPONSES_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)
RESPONSES_REASONING_DELTAS = frozenset(
    {"response.reasoning_text.delta", "response.reasoning_summary_text.delta"}
)

# Events that end a stream successfully, per dialect: a relay that never saw
# one was cut short, and its usage (if any) is at best partial.
TERMINAL_EVENTS = {
    "anthropic_messages": ("message_stop",),
    "openai_responses": ("response.completed", "response.incomplete", "response.failed"),
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def responses_usage(payload: Mapping[str, Any]) -> Usage | None:
    """Usage in an OpenAI Responses body or stream event (input includes cache)."""
    response = payload.get("response", payload)
    usage = response.get("usage") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("input_tokens_details") or {}
    out_details = usage.get("output_tokens_details") or {}
    cached = _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    written = _int(details.get("cache_write_tokens")) if isinstance(details, Mapping) else 0
    reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, Mapping) else 0
    return Usage(
        input_tokens=max(_int(usage.get("input_tokens")) - cached - written, 0),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )


class UsageSniffer:
    def __init__(self, dialect: str, reader: UsageReader, *, stream: bool) -> None:
        self.dialect = dialect
        self._reader = reader
        self._stream = stream
        self._decoder = SseDecoder() if stream else None
        self._body: list[bytes] = []
        self.usage: Usage | None = None
        self.completed = False  # saw the dialect's success terminator
        self.json_object = False  # a whole body that was one JSON object
        self.failed = False  # saw the upstream's own in-stream error
        self.events = 0  # data events relayed, for an output estimate when usage never came
        # The data of the events that carry output (see the module docstring).
        self._output: list[str] = []
        self._reasoning: list[str] = []  # Responses reasoning deltas
        self._payload: dict[str, Any] | None = None  # a whole body, once parsed
        # Responses only: where the upstream's stream stands, so a relay that
        # breaks off can continue it with a well-formed failure.
        self.last_sequence = -1
        self.response_id: str | None = None
        self.model: str | None = None
        self.created_at = 0

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            self._body.append(chunk)
            return
        for item in self._decoder.feed(chunk):
            if isinstance(item, SseEvent):
                self._event(item)

    def finish(self) -> Usage | None:
        """End of body: parse a whole JSON body (once); returns the usage found."""
        if self._decoder is None and self._body:
            whole = b"".join(self._body)
            self._body = []
            try:
                payload = json.loads(whole)
            except (ValueError, UnicodeDecodeError, RecursionError):
                payload = None
            self.json_object = isinstance(payload, dict)
            if isinstance(payload, dict):
                self._payload = payload
                self.usage = self._reader(payload)
                self.completed = self.usage is not None or "error" not in payload
        return self.usage

    def _event(self, event: SseEvent) -> None:
        data = event.data
        self.events += 1
        if data == "[DONE]":
            self.completed = True
            return
        self._keep_output(event)
        if self.dialect == "openai_chat" and _FINISHED.search(data) is not None:
            # A Chat stream is complete with its finish_reason: [DONE] is a
            # courtesy some OpenAI-compatible servers leave out (the
            # translation path accepts the same stream).
            self.completed = True
        terminal = TERMINAL_EVENTS.get(self.dialect, ())
        if event.event in terminal:
            self.completed = event.event != "response.failed"
        if event.event in ("error", "response.failed") or (
            event.event is None and _ERROR_DATA.match(data) is not None
        ):
            self.failed = True
        if self.dialect == "openai_responses":
            self._track_responses(event)
        if '"usage"' not in data:
            return
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if isinstance(payload, dict):
            found = self._reader(payload)
            if found is not None:
                self.usage = merge_usage(self.usage, found)

    def _keep_output(self, event: SseEvent) -> None:
        if self.dialect == "openai_chat":
            self._output.append(event.data)  # every chunk is a delta
        elif self.dialect == "anthropic_messages":
            if event.event == "content_block_delta":
                self._output.append(event.data)
        elif event.event in RESPONSES_TEXT_DELTAS:
            self._output.append(event.data)
        elif event.event in RESPONSES_REASONING_DELTAS:
            self._reasoning.append(event.data)

    def counted_output(self, *, reasoning: bool) -> int:
        """The gateway's own count of the output relayed so far: text and
        tool arguments, and the visible reasoning when ``reasoning``."""
        if self._payload is not None:
            visible, thought = whole_output(self.dialect, self._payload)
            return json_tokens(visible) + (json_tokens(thought) if reasoning else 0)
        pattern = _OUTPUT_FIELDS.get(self.dialect)
        if pattern is None:
            return 0
        texts: list[str] = []
        for field, text in pattern.findall("\n".join(self._output)):
            if reasoning or field not in REASONING_FIELDS:
                texts.append(text)
        if reasoning and self._reasoning:
            texts += [text for _, text in pattern.findall("\n".join(self._reasoning))]
        return text_tokens(_unescaped("".join(texts)))

    def _track_responses(self, event: SseEvent) -> None:
        found = _SEQUENCE.search(event.data)
        if found:
            self.last_sequence = max(self.last_sequence, int(found.group(1)))
        if event.event == "response.created" and self.response_id is None:
            try:
                response = json.loads(event.data).get("response", {})
            except (ValueError, AttributeError):
                return
            if isinstance(response, dict):
                rid, model, created = (
                    response.get("id"),
                    response.get("model"),
                    response.get("created_at"),
                )
                self.response_id = rid if isinstance(rid, str) else None
                self.model = model if isinstance(model, str) else None
                self.created_at = created if isinstance(created, int) else 0


def _unescaped(body: str) -> str:
    """The text of JSON string bodies (escapes as sent), in one decode."""
    if "\\" not in body:
        return body
    try:
        text = json.loads(f'"{body}"')
    except ValueError:  # not JSON after all: count it as it came
        return body
    return text if isinstance(text, str) else body


def whole_output(dialect: str, payload: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The output of a whole answer: (text and tool calls, reasoning)."""
    visible: list[Any] = []
    thought: list[Any] = []
    if dialect == "openai_chat":
        for choice in _items(payload.get("choices")):
            message = choice.get("message")
            if isinstance(message, Mapping):
                for name, value in message.items():
                    (thought if name in REASONING_FIELDS else visible).append({name: value})
    elif dialect == "anthropic_messages":
        for block in _items(payload.get("content")):
            reasoning = block.get("type") in ("thinking", "redacted_thinking")
            (thought if reasoning else visible).append(block)
    elif dialect == "openai_responses":
        for item in _items(payload.get("output")):
            (thought if item.get("type") == "reasoning" else visible).append(item)
    return visible, thought


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []
