"""The repeated-tool-call guard: notice an agent stuck calling the same tool
with the same arguments, warn it, then stop the loop (pure).

Theory of operation
-------------------
Coding agents send the whole conversation with every request, so a loop is
visible in the request itself: no state is kept between requests. Only
*agent traffic* is judged: requests that declare at least one tool.

:func:`repeat_streak` walks the history backwards over assistant turns. A
turn's *signature* is the sorted list of its tool calls, each one the tool's
name plus the canonical JSON of its arguments (keys sorted, no whitespace;
arguments that are not JSON, such as freeform custom-tool input, are taken
verbatim), so ``{"a":1,"b":2}`` and ``{"b": 2, "a": 1}`` are the same call.
The streak is the number of consecutive assistant turns, ending with the
latest, that have the latest turn's signature. Tool results and user or
system messages between them do not break it (Claude Code adds reminder
text to tool-result turns); an assistant turn without tool calls does.

:func:`judge` compares the streak with the policy (defaults: warn at 3,
insist at 4, stop at 5; 0 disables a level). Warn and insist append a text
note to the last tool result of the conversation, the one the model is about
to read: every upstream dialect carries text inside a tool result, and
nothing is added between a tool call and its result, so tool_use/tool_result
adjacency holds everywhere. :func:`with_note` does that on the canonical
request (translated and native calls); :mod:`.guard_wire` does the same on
the client's own JSON for passthrough, whose bytes are otherwise untouched.
Stop refuses the request: :func:`refusal` is a 400 ``invalid_request`` with
code ``repeated_tool_call``, rendered in the client's dialect like any error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..canonical import Message, Request, TextPart, ToolCallPart, ToolResultPart
from ..errors import GatewayError, PolicyRefusal
from ..fronts.base import Front
from ..wire.json_body import dumps
from .guard_wire import with_wire_note

REFUSAL_CODE = "repeated_tool_call"
CODE_HEADER = "x-tokligence-error-code"
NOTE_PREFIX = "[tokligence gateway]"
# Argument text longer than this is compared verbatim: canonicalising a huge
# payload on every request would cost more than the guard is worth.
MAX_CANONICAL_BYTES = 256 * 1024
# Passthrough bodies are judged on their last items only (see _parse_tail):
# this many per call of the longest streak that matters covers turns with
# many parallel calls, their results and the reminders between them.
TAIL_ITEMS_PER_CALL = 12

Level = Literal["ok", "warn", "insist", "stop"]


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardPolicy:
    enabled: bool = True
    warn_at: int = 3
    insist_at: int = 4
    stop_at: int = 5

    def level(self, count: int) -> Level:
        if self.stop_at and count >= self.stop_at:
            return "stop"
        if self.insist_at and count >= self.insist_at:
            return "insist"
        if self.warn_at and count >= self.warn_at:
            return "warn"
        return "ok"


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    level: Level
    count: int = 0  # identical calls in a row at the end of the history
    tools: tuple[str, ...] = ()  # names of the repeated call(s)


OK = Verdict(level="ok")


def is_agent_traffic(request: Request) -> bool:
    """Requests that declare tools are the ones an agent loop can send."""
    return bool(request.tools)


def canonical_arguments(arguments: str) -> str:
    if len(arguments) > MAX_CANONICAL_BYTES:
        return arguments
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _signature(message: Message) -> tuple[tuple[str, str], ...]:
    calls = [
        (part.name, canonical_arguments(part.arguments))
        for part in message.parts
        if isinstance(part, ToolCallPart)
    ]
    return tuple(sorted(calls))


def repeat_streak(messages: Sequence[Message]) -> tuple[int, tuple[str, ...]]:
    """How many assistant turns in a row, ending with the latest, made the
    same tool call(s); and the names of those tools."""
    target: tuple[tuple[str, str], ...] | None = None
    count = 0
    for message in reversed(messages):
        if message.role != "assistant":
            continue
        signature = _signature(message)
        if not signature:
            break
        if target is None:
            target = signature
        elif signature != target:
            break
        count += 1
    names = tuple(dict.fromkeys(name for name, _ in target or ()))
    return count, names


def judge(request: Request, policy: GuardPolicy) -> Verdict:
    if not policy.enabled or not is_agent_traffic(request):
        return OK
    count, names = repeat_streak(request.messages)
    level = policy.level(count)
    return OK if level == "ok" else Verdict(level=level, count=count, tools=names)


def _describe(tools: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{name}'" for name in tools) or "a tool"
    return f"the same tool call ({quoted} with identical arguments)"


def note_text(verdict: Verdict, policy: GuardPolicy) -> str:
    """What the model reads at warn and insist."""
    what = _describe(verdict.tools)
    if verdict.level == "insist":
        limit = (
            f" The gateway will refuse the request after {policy.stop_at} identical calls."
            if policy.stop_at
            else ""
        )
        return (
            f"{NOTE_PREFIX} STOP: you have now made {what} {verdict.count} times in a row and "
            "got the same kind of result each time. Do NOT make this call again." + limit + " "
            "Change your approach (different arguments or a different tool), or stop and tell "
            "the user what is blocking you."
        )
    return (
        f"{NOTE_PREFIX} Note: you have made {what} {verdict.count} times in a row. Repeating "
        "it is unlikely to give a different result; read the output above and try something "
        "different, or explain to the user what is blocking you."
    )


def refusal(verdict: Verdict) -> GatewayError:
    """The stop: a 400 whose code is :data:`REFUSAL_CODE` in the OpenAI
    envelopes, in the ``x-tokligence-error-code`` header for every dialect,
    and at the start of the message (Anthropic's envelope has no code)."""
    return PolicyRefusal(
        "invalid_request",
        f"{REFUSAL_CODE}: the conversation ends with {_describe(verdict.tools)} "
        f"{verdict.count} times in a row, so the gateway stopped the loop. Change the approach "
        "or the arguments before retrying (limit: setting duplicate_tool_stop_at, "
        "TOKLIGENCE_DUPLICATE_TOOL_STOP_AT).",
        code=REFUSAL_CODE,
        headers=((CODE_HEADER, REFUSAL_CODE),),
    )


def _last_result_message(messages: Sequence[Message]) -> int | None:
    """Index of the tool message holding the last tool result after the
    latest assistant turn, if any."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "assistant":
            return None
        if message.role == "tool" and any(isinstance(p, ToolResultPart) for p in message.parts):
            return index
    return None


def with_note(request: Request, text: str) -> Request:
    """``request`` with ``text`` appended to its last tool result (unchanged
    when the conversation does not end with tool results)."""
    index = _last_result_message(request.messages)
    if index is None:
        return request
    message = request.messages[index]
    parts = list(message.parts)
    last = max(i for i, p in enumerate(parts) if isinstance(p, ToolResultPart))
    result = parts[last]
    assert isinstance(result, ToolResultPart)
    parts[last] = dataclasses.replace(result, content=(*result.content, TextPart(text=text)))
    messages = list(request.messages)
    messages[index] = dataclasses.replace(message, parts=tuple(parts))
    return dataclasses.replace(request, messages=tuple(messages))


@dataclass(frozen=True, kw_only=True, slots=True)
class Guarded:
    """A model request after the guard: the client's JSON and canonical
    request (with the note, if any), the new wire body when the note went
    into the JSON, and the verdict."""

    obj: dict[str, Any]
    request: Request | None
    body: bytes | None
    verdict: Verdict


def guard_call(
    policy: GuardPolicy, front: Front, obj: dict[str, Any], request: Request | None
) -> Guarded:
    """Judge one model request. The canonical request is parsed here when the
    caller had no need for it (passthrough), but only for agent traffic, and
    a body the front refuses is not judged."""
    if not policy.enabled or not obj.get("tools"):
        return Guarded(obj=obj, request=request, body=None, verdict=OK)
    if request is not None:
        parsed = request
    else:
        try:
            parsed = _parse_tail(front, obj, policy)
        except GatewayError:
            # A passthrough body the front refuses goes on unjudged, as it
            # came: its API answers for itself (and may know a newer value
            # that the front's rules do not know yet).
            return Guarded(obj=obj, request=None, body=None, verdict=OK)
    verdict = judge(parsed, policy)
    if verdict.level in ("ok", "stop"):
        return Guarded(obj=obj, request=request, body=None, verdict=verdict)
    text = note_text(verdict, policy)
    noted = with_wire_note(front.dialect, obj, text)
    return Guarded(
        obj=noted,
        request=with_note(request, text) if request is not None else None,
        body=dumps(noted) if noted is not obj else None,
        verdict=verdict,
    )


def _parse_tail(front: Front, obj: dict[str, Any], policy: GuardPolicy) -> Request:
    """The canonical request of a passthrough body's last items only: the
    streak lives at the end, and a long session's body is megabytes the
    relay would otherwise never parse. A tail the front refuses (it may
    start with an orphan tool result) falls back to the whole body."""
    key = "input" if front.dialect == "openai_responses" else "messages"
    items = obj.get(key)
    keep = TAIL_ITEMS_PER_CALL * max(policy.warn_at, policy.insist_at, policy.stop_at, 1)
    if isinstance(items, list) and len(items) > keep:
        try:
            return front.parse_object({**obj, key: items[-keep:]})
        except GatewayError:
            pass
    return front.parse_object(obj)
