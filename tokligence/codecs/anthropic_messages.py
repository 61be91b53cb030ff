"""Canonical conversation -> Anthropic ``system`` blocks and ``messages`` turns.

Theory of operation
-------------------
Anthropic is stricter about conversation shape than any client dialect, so
the canonical messages are replayed, in order, into a :class:`_Builder` that
only ever produces a shape Anthropic accepts:

* **Turns.** Consecutive messages of the same wire role merge into one turn;
  ``tool`` and ``user`` messages are both user turns. A user turn keeps its
  ``tool_result`` blocks apart from its other blocks and renders them first
  ("tool_result blocks must come first").
* **Pairing.** The tool uses of the latest assistant turn are *awaited*. A
  result answers the first awaited use with its id that is still unanswered;
  a second result for it is a duplicate and an id nobody awaits an orphan —
  both are dropped (kept in the notes). When the conversation moves on (the
  next assistant turn, or the end), every use still unanswered gets a
  synthetic error result, so each ``tool_use`` has exactly one
  ``tool_result`` in the very next turn.
* **Ids.** Every ``tool_use`` gets a wire id matching ``^[a-zA-Z0-9_-]+$``:
  other characters become ``_``, and an id already used in this request
  (a duplicate, or two ids that sanitise alike) gets a short deterministic
  hash suffix. Results are paired by the *original* id, then written with
  the wire id of the use they answer, so the mapping holds both ways.
* **Content.** Empty or whitespace-only text is never sent (Anthropic 400s
  on it). Reasoning goes back only to the vendor that made it: an Anthropic
  ``thinking`` block with its signature byte for byte (an empty-text block
  with a signature is real), ``redacted_thinking`` with its data; reasoning
  from anyone else is dropped, and a signature is never forged.
* **System.** For Anthropic clients, ``system`` messages inside the
  conversation stay where they are (the API accepts them), except that one
  arriving between tool calls and their results waits until after the
  results. For other dialects, system/developer messages before the
  conversation starts join the top-level ``system``; later ones become a
  user text block prefixed ``[system] `` at their position.
* **Prefill.** A final assistant turn may not end with whitespace: its
  last text block is right-stripped.
* **Blocks** are built by ``codec_anthropic_blocks``, which also owns the
  fidelity rule: an Anthropic client's extras come back verbatim, other
  dialects' stay behind except ``cache_control``.

Honest placeholders, used only where Anthropic would refuse the request:
``(conversation continues)`` as the first user turn when a conversation
opens with the assistant, ``(no content)`` when nothing sendable is left.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..canonical import (
    Message,
    Part,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from ..wire.text import utf8
from .anthropic_blocks import (
    OPAQUE_BLOCKS,
    Notes,
    carry,
    content_block,
    text_block,
    tool_input,
    with_opaque,
)

NATIVE = "anthropic_messages"
FIRST_TURN = "(conversation continues)"
NO_CONTENT = "(no content)"
MISSING_RESULT = "(no result was provided for this tool call)"
SYSTEM_PREFIX = "[system] "
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Conversation:
    system: tuple[dict[str, Any], ...]
    messages: tuple[dict[str, Any], ...]
    unthought_tool_loop: bool
    """The request continues an assistant tool-use turn (it ends with tool
    results) whose turn does not start with a thinking block: Anthropic
    refuses manual extended thinking for it."""


def build_conversation(request: Request, notes: Notes) -> Conversation:
    builder = _Builder(native=request.dialect == NATIVE, notes=notes)
    for message in request.messages:
        builder.add(message)
    return builder.finish(request.system)


# -------------------------------------------------------------------- turns


@dataclass(slots=True)
class _Turn:
    role: str
    results: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        return {"role": self.role, "content": [*self.results, *self.blocks]}


@dataclass(slots=True)
class _Use:
    original: str
    wire: str
    answered: bool = False


class _ToolIds:
    """Wire ids for tool uses: valid characters, unique within the request."""

    def __init__(self, notes: Notes) -> None:
        self._used: set[str] = set()
        self._notes = notes

    def new(self, original: str) -> str:
        base = _BAD_ID_CHARS.sub("_", original) or "toolu"
        if base != original:
            self._notes.add("sanitised a tool call id to [a-zA-Z0-9_-]")
        wire, attempt = base, 0
        while wire in self._used:
            attempt += 1
            digest = hashlib.sha256(utf8(f"{original}#{attempt}")).hexdigest()[:8]
            wire = f"{base}_{digest}"
        if attempt:
            self._notes.add("renamed a tool call id used more than once")
        self._used.add(wire)
        return wire


class _Builder:
    def __init__(self, *, native: bool, notes: Notes) -> None:
        self.native = native
        self.notes = notes
        self.ids = _ToolIds(notes)
        self.system: list[dict[str, Any]] = []
        self.turns: list[_Turn] = []
        self.awaiting: list[_Use] = []  # tool uses of the latest assistant turn
        self.deferred: list[dict[str, Any]] = []  # in-place system blocks waiting on results
        self.started = False  # a user, assistant or tool message has been seen

    # -- messages

    def add(self, message: Message) -> None:
        if message.role in ("system", "developer"):
            self._system_message(message)
            return
        self.started = True
        if message.role == "assistant":
            self._assistant(message)
        elif message.role == "tool":
            self._results(p for p in message.parts if isinstance(p, ToolResultPart))
        else:
            rendered = [
                (i, content_block(p, self.native, self.notes)) for i, p in enumerate(message.parts)
            ]
            blocks = with_opaque(rendered, message.extra, self.native)
            if blocks:
                self._turn("user").blocks.extend(blocks)

    def _system_message(self, message: Message) -> None:
        blocks = [
            b for p in message.parts if isinstance(p, TextPart) if (b := text_block(p, self.native))
        ]
        if not blocks:
            return
        if self.native:
            if self.awaiting:
                self.deferred.extend(blocks)
            else:
                self._turn("system").blocks.extend(blocks)
        elif not self.started:
            self.system.extend(blocks)
        else:
            self.notes.add("folded a system message inside the conversation into a user turn")
            blocks[0] = {**blocks[0], "text": SYSTEM_PREFIX + blocks[0]["text"]}
            self._turn("user").blocks.extend(blocks)

    def _assistant(self, message: Message) -> None:
        if not self.turns or self.turns[-1].role != "assistant":
            self._settle()
        rendered = [(i, self._assistant_block(p)) for i, p in enumerate(message.parts)]
        blocks = with_opaque(rendered, message.extra, self.native)
        if blocks:
            self._turn("assistant").blocks.extend(blocks)

    def _assistant_block(self, part: Part) -> dict[str, Any] | None:
        native = self.native
        if isinstance(part, TextPart):
            return text_block(part, native)
        if isinstance(part, ToolCallPart):
            wire = self.ids.new(part.id)
            self.awaiting.append(_Use(original=part.id, wire=wire))
            block = {
                "type": "tool_use",
                "id": wire,
                "name": part.name,
                "input": tool_input(part, self.notes),
            }
            carry(block, part.extra, native)
            return block
        if isinstance(part, ReasoningPart):
            if part.vendor == "anthropic" and part.signature is not None:
                block = {"type": "thinking", "thinking": part.text, "signature": part.signature}
                carry(block, part.extra, native)
                return block
            self.notes.add("dropped reasoning that Anthropic did not sign (never forged)")
            return None
        if isinstance(part, RedactedReasoningPart):
            if part.vendor == "anthropic":
                return {"type": "redacted_thinking", "data": part.data}
            self.notes.add("dropped redacted reasoning from another vendor")
            return None
        self.notes.add(f"dropped a {type(part).__name__} found in an assistant message")
        return None

    def _results(self, results: Iterable[ToolResultPart]) -> None:
        for result in results:
            use = next(
                (u for u in self.awaiting if u.original == result.call_id and not u.answered), None
            )
            if use is None:
                if any(u.original == result.call_id for u in self.awaiting):
                    self.notes.add("dropped a second result for the same tool call")
                else:
                    self.notes.add("dropped a tool result with no matching tool call")
                continue
            use.answered = True
            self._turn("user").results.append(self._result_block(result, use.wire))

    def _result_block(self, result: ToolResultPart, wire: str) -> dict[str, Any]:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": wire}
        rendered = [
            (i, content_block(p, self.native, self.notes)) for i, p in enumerate(result.content)
        ]
        content = with_opaque(rendered, result.extra, self.native)
        if content:
            block["content"] = content
        if result.is_error:
            block["is_error"] = True
        carry(block, result.extra, self.native, skip=(OPAQUE_BLOCKS,))
        return block

    # -- turns

    def _turn(self, role: str) -> _Turn:
        if not self.turns or self.turns[-1].role != role:
            self.turns.append(_Turn(role=role))
        return self.turns[-1]

    def _settle(self) -> None:
        """The conversation moves past the latest assistant turn: every tool
        use still unanswered gets an error result in the turn after it."""
        missing = [u for u in self.awaiting if not u.answered]
        if missing:
            self.notes.add("added an error result for a tool call that had none")
            self._turn("user").results.extend(
                {
                    "type": "tool_result",
                    "tool_use_id": u.wire,
                    "content": MISSING_RESULT,
                    "is_error": True,
                }
                for u in missing
            )
        self.awaiting = []
        if self.deferred:
            self._turn("system").blocks.extend(self.deferred)
            self.deferred = []

    def finish(self, system: tuple[TextPart, ...]) -> Conversation:
        self._settle()
        head = [b for p in system if (b := text_block(p, self.native))]
        turns = self.turns
        first = next((i for i, t in enumerate(turns) if t.role != "system"), None)
        if first is None:
            self.notes.add("sent a placeholder user turn: nothing sendable was left")
            turns.append(_Turn(role="user", blocks=[{"type": "text", "text": NO_CONTENT}]))
        elif turns[first].role == "assistant":
            self.notes.add("opened the conversation with a placeholder user turn")
            turns.insert(first, _Turn(role="user", blocks=[{"type": "text", "text": FIRST_TURN}]))
        _strip_trailing_space(turns[-1], self.notes)
        return Conversation(
            system=(*head, *self.system),
            messages=tuple(t.render() for t in turns),
            unthought_tool_loop=_unthought_tool_loop(turns),
        )


def _strip_trailing_space(last: _Turn, notes: Notes) -> None:
    """A final assistant turn (a prefill) may not end with whitespace."""
    if last.role != "assistant" or not last.blocks or last.blocks[-1].get("type") != "text":
        return
    text = last.blocks[-1]["text"]
    if text != text.rstrip():
        notes.add("removed trailing whitespace from the final assistant turn")
        last.blocks[-1] = {**last.blocks[-1], "text": text.rstrip()}


def _unthought_tool_loop(turns: list[_Turn]) -> bool:
    if len(turns) < 2 or turns[-1].role != "user" or not turns[-1].results:
        return False
    previous = turns[-2]
    if previous.role != "assistant":
        return False
    blocks = previous.blocks
    uses_tools = any(b.get("type") == "tool_use" for b in blocks)
    return uses_tools and blocks[0].get("type") not in _THINKING_BLOCKS
