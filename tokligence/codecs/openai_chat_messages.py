"""Canonical messages -> the ``messages`` array of a Chat Completions body.

Theory of operation
-------------------
Chat's rules are stricter than the canonical model's, and OpenAI-compatible
servers are stricter still, so one walk over the messages enforces them:

* **Pairing.** Every assistant tool call is answered by a ``tool`` message
  before the next turn. The walk remembers the calls of the last assistant
  turn (``pending``); the run of tool messages after it pops them, and the
  first other message closes the run: unanswered calls get a placeholder
  result, results with no waiting call (orphans, duplicates) are dropped.
* **Images in tool results.** ``tool`` messages carry text only, so images
  (and files) are hoisted into ONE user message right after the run, each
  group labelled with its call id; when the next canonical message is a user
  turn they go at its start instead, so two user messages never follow each
  other.
* **Ids.** Tool call ids are kept unless a provider would refuse them:
  longer than OpenAI's 40 characters (shortened by hash) or repeated within
  the request (renamed ``<id>_<n>``). Results reach their call through
  ``pending``, so they follow any renaming.
* **System.** The request's system blocks join into one leading system
  message, less Claude Code's ``x-anthropic-billing-header:`` block (see
  :func:`_billing_line`); system messages inside the conversation stay where
  they stood (Claude Code sends its environment block that way).
* **Tool references.** Claude Code's ToolSearch returns ``tool_reference``
  blocks; they become a line of text in the tool message.
* **Content.** An assistant turn with tool calls and no text has
  ``content: null`` (never ``""``); reasoning is dropped (Chat takes none
  back, and opaque signatures belong to their vendor); a single text part is
  sent as a plain string.

Whatever is dropped or changed is said in the shared notes.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..canonical import (
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from ..wire.json_body import dumps
from ..wire.text import utf8

# OpenAI refuses tool call ids longer than this ("string too long. Expected a
# string with maximum length 40"); several compatible servers copy the check.
MAX_TOOL_ID = 40
MISSING_RESULT = "(no result was provided for this tool call)"
HOISTED_RESULT = "(the output follows in the next user message)"
# The Anthropic front's key for blocks with no canonical part (a tool
# result's ``tool_reference`` ...), as {"at": k, "block": {...}}.
OPAQUE_BLOCKS = "anthropic_blocks"
TOOL_REFERENCE = "Tool {name} is loaded: call it directly."
# Claude Code's first system block starts with this (not an HTTP header).
BILLING_HEADER = "x-anthropic-billing-header:"


class Notes(list[str]):
    """What the translation dropped or changed, each said once, in order."""

    def add(self, text: str) -> None:
        if text not in self:
            self.append(text)


def fit_tool_id(value: str) -> str:
    """``value`` if short enough for OpenAI, else a stable hash-based id."""
    if len(value) <= MAX_TOOL_ID:
        return value
    digest = hashlib.sha256(utf8(value)).hexdigest()
    return "call_" + digest[: MAX_TOOL_ID - len("call_")]


def encode_messages(request: Request, notes: Notes) -> list[dict[str, Any]]:
    walk = _Walk(request, notes)
    system = "\n\n".join(p.text for p in request.system if p.text and not _billing_line(p, notes))
    if system:
        walk.out.append({"role": "system", "content": system})
    for message in request.messages:
        walk.message(message)
    walk.close_run(None)
    return walk.out


class _Walk:
    def __init__(self, request: Request, notes: Notes) -> None:
        self.request = request
        self.notes = notes
        self.used_ids: set[str] = set()
        # Calls of the last assistant turn still waiting for a result:
        # original id -> wire ids in call order (a turn may repeat an id).
        self.pending: dict[str, deque[str]] = {}
        self.unanswered: list[str] = []  # wire ids, in call order
        self.run: list[dict[str, Any]] = []
        self.hoisted: list[dict[str, Any]] = []
        self.out: list[dict[str, Any]] = []

    def message(self, message: Message) -> None:
        if message.role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    self.tool_result(part)
            return
        self.close_run(message)
        if message.role == "assistant":
            self.assistant(message)
        elif message.role == "user":
            self.user(message)
        else:
            texts = [p.text for p in message.parts if isinstance(p, TextPart)]
            if len(texts) != len(message.parts):
                self.notes.add(f"dropped non-text parts of a {message.role} message")
            self.append(message, {"role": message.role, "content": "\n\n".join(texts)})

    def append(self, message: Message, wire: dict[str, Any]) -> None:
        if message.name is not None:
            wire["name"] = message.name
        self.out.append(wire)

    def user(self, message: Message) -> None:
        content = [c for c in map(self.content_part, message.parts) if c is not None]
        hoisted, self.hoisted = self.hoisted, []
        if hoisted:
            self.append(message, {"role": "user", "content": hoisted + content})
        elif len(content) == 1 and content[0]["type"] == "text":
            self.append(message, {"role": "user", "content": content[0]["text"]})
        elif content:
            self.append(message, {"role": "user", "content": content})
        else:
            self.notes.add("dropped a user message with no content chat completions can carry")

    def assistant(self, message: Message) -> None:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ToolCallPart):
                calls.append(self.tool_call(part))
            elif isinstance(part, (ReasoningPart, RedactedReasoningPart)):
                self.notes.add("dropped reasoning from the history: chat completions takes none")
            else:
                self.notes.add(f"dropped a {type(part).__name__} from an assistant message")
        text = "".join(texts)
        if not text and not calls:
            self.notes.add("dropped an assistant message left empty")
            return
        wire: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            wire["tool_calls"] = calls
        self.append(message, wire)

    def tool_call(self, part: ToolCallPart) -> dict[str, Any]:
        wire_id = self.wire_id(part.id)
        self.pending.setdefault(part.id, deque()).append(wire_id)
        self.unanswered.append(wire_id)
        if part.kind == "custom":  # sent as the one-string-parameter function
            arguments = dumps({"input": part.arguments}).decode()
        else:
            arguments = part.arguments or "{}"
        return {
            "id": wire_id,
            "type": "function",
            "function": {"name": part.name, "arguments": arguments},
        }

    def wire_id(self, original: str) -> str:
        base = original or "call"
        wire = fit_tool_id(base)
        if wire != base:
            self.notes.add(f"shortened tool call ids longer than {MAX_TOOL_ID} characters")
        n = 1
        while wire in self.used_ids:
            n += 1
            wire = fit_tool_id(f"{base}_{n}")
        if n > 1:
            self.notes.add(f"renamed repeated tool call id {original!r}")
        self.used_ids.add(wire)
        return wire

    def tool_result(self, part: ToolResultPart) -> None:
        waiting = self.pending.get(part.call_id)
        if not waiting:
            self.notes.add(f"dropped tool result {part.call_id!r}: no call waiting for it")
            return
        wire_id = waiting.popleft()
        self.unanswered.remove(wire_id)
        texts: list[str] = []
        media: list[dict[str, Any]] = []
        for item in part.content:
            if isinstance(item, TextPart):
                texts.append(item.text)
            elif isinstance(item, DocumentPart) and item.source_type == "text":
                texts.append(_text_document(item))
            else:
                converted = self.content_part(item)
                if converted is not None:
                    media.append(converted)
        texts += _tool_references(part, self.notes)
        # Separate parts stay separate paragraphs (the guard's note after a blank line, too).
        text = "\n\n".join(texts)
        if media:
            label = f"Images returned by tool call {wire_id}:"
            self.hoisted += [{"type": "text", "text": label}, *media]
            text = text or HOISTED_RESULT
        if part.is_error and not text.lstrip().lower().startswith("error"):
            text = f"Error: {text}" if text else "Error"
        self.run.append({"role": "tool", "tool_call_id": wire_id, "content": text})

    def close_run(self, following: Message | None) -> None:
        """End the run of tool messages before ``following`` (None: the end)."""
        if self.unanswered:
            self.notes.add("inserted a placeholder result for a tool call that had none")
        for wire_id in self.unanswered:
            self.run.append({"role": "tool", "tool_call_id": wire_id, "content": MISSING_RESULT})
        self.out.extend(self.run)
        self.run, self.unanswered, self.pending = [], [], {}
        if self.hoisted and (following is None or following.role != "user"):
            self.out.append({"role": "user", "content": self.hoisted})
            self.hoisted = []

    def content_part(self, part: object) -> dict[str, Any] | None:
        if isinstance(part, TextPart):
            return {"type": "text", "text": part.text}
        if isinstance(part, ImagePart):
            url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
            image: dict[str, Any] = {"url": url}
            if part.detail is not None:
                image["detail"] = part.detail
            return {"type": "image_url", "image_url": image}
        if isinstance(part, DocumentPart):
            return self.document(part)
        self.notes.add(f"dropped a {type(part).__name__} from a user message")
        return None

    def document(self, part: DocumentPart) -> dict[str, Any] | None:
        if part.source_type == "text":
            return {"type": "text", "text": _text_document(part)}
        if part.source_type == "base64":
            media_type = part.media_type or "application/pdf"
            filename = part.filename or part.title or _default_filename(media_type)
            data = f"data:{media_type};base64,{part.data}"
            return {"type": "file", "file": {"filename": filename, "file_data": data}}
        # An OpenAI file id is usable by an OpenAI upstream; Anthropic's is not,
        # and Chat cannot reference an image by file id at all.
        is_image = part.extra.get("type") in ("image", "input_image")
        openai_file = self.request.dialect in ("openai_chat", "openai_responses")
        if part.source_type == "file" and openai_file and not is_image:
            file: dict[str, Any] = {"file_id": part.data}
            if part.filename is not None:
                file["filename"] = part.filename
            return {"type": "file", "file": file}
        self.notes.add(f"dropped a document given by {part.source_type}: chat cannot fetch it")
        return None


def _tool_references(part: ToolResultPart, notes: Notes) -> list[str]:
    """Lines for the Anthropic-only blocks of a tool result. Claude Code's
    ToolSearch answers with ``tool_reference`` blocks (Anthropic then loads
    those deferred tools); Chat has no such block, so the model is told in
    words, and the tools themselves are already in ``tools`` (see the encoder
    on ``defer_loading``). Other such blocks are dropped with a note."""
    lines = []
    for item in part.extra.get(OPAQUE_BLOCKS, ()):
        block = item.get("block") if isinstance(item, Mapping) else None
        kind = block.get("type") if isinstance(block, Mapping) else None
        name = block.get("tool_name") if isinstance(block, Mapping) else None
        if kind == "tool_reference" and isinstance(name, str):
            lines.append(TOOL_REFERENCE.format(name=name))
        else:
            notes.add(f"dropped a {kind or 'malformed'} block from a tool result")
    return lines


def _billing_line(part: TextPart, notes: Notes) -> bool:
    """Claude Code's attribution line for Anthropic's billing: meaningless to
    another vendor, and its per-session hash would put a different first line
    before every session's prompt, defeating the upstream's prefix cache."""
    if part.text.startswith(BILLING_HEADER):
        notes.add(f"dropped the {BILLING_HEADER} system block")
        return True
    return False


def _text_document(part: DocumentPart) -> str:
    return f"# {part.title}\n\n{part.data}" if part.title else part.data


def _default_filename(media_type: str) -> str:
    return f"document.{media_type.rpartition('/')[2] or 'bin'}"
