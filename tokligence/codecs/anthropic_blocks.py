"""Canonical parts -> Anthropic content blocks (for ``codec_anthropic_messages``).

Theory of operation
-------------------
One function per part kind builds the block Anthropic expects, then
:func:`carry` merges the part's ``extra`` over it: for an Anthropic client
everything (``cache_control``, ``citations``, ``caller``, an original
``source`` the front could not model ...), so same-dialect requests come back
as they were sent; for other dialects only ``cache_control``, which is
harmless and valuable, while their own extras (``detail``, ``annotations``,
``refusal`` markers) stay behind. Blocks the Anthropic front could not parse
into parts ride in ``extra["anthropic_blocks"]`` as ``{"at": k, "block"}``
and :func:`with_opaque` puts them back before part ``k``.

Never sent: empty or whitespace-only text (Anthropic 400s on it). Sources
Anthropic cannot read become an honest text placeholder with a note: file
ids stored with another provider, non-PDF binary files, undecodable text.
Images given as base64 without a media type get one from their magic bytes.
Tool arguments are raw JSON text canonically; ``tool_use.input`` needs an
object, so they are parsed here (empty -> ``{}``; not a JSON object ->
``{"_raw": text}`` with a note) and a freeform call becomes ``{"input": raw}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from ..canonical import (
    DocumentPart,
    ImagePart,
    JsonObject,
    Part,
    TextPart,
    ToolCallPart,
)

OPAQUE_BLOCKS = "anthropic_blocks"  # the Anthropic front's key for blocks with no canonical part
# Base64 openings of the image formats Anthropic accepts, for data URLs
# that arrive without a media type.
_IMAGE_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


class Notes:
    """What translation changed, counted per kind, for the request log."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, note: str) -> None:
        self._counts[note] = self._counts.get(note, 0) + 1

    def render(self) -> tuple[str, ...]:
        return tuple(n if c == 1 else f"{n} (x{c})" for n, c in self._counts.items())


def carry(block: dict[str, Any], extra: JsonObject, native: bool, skip: Iterable[str] = ()) -> None:
    """Merge a part's ``extra`` over its rebuilt block (see module docstring)."""
    if native:
        skipped = frozenset(skip)
        block.update((k, v) for k, v in extra.items() if k not in skipped)
    elif "cache_control" in extra:
        block["cache_control"] = extra["cache_control"]


def text_block(part: TextPart, native: bool) -> dict[str, Any] | None:
    if not part.text.strip():
        return None
    block: dict[str, Any] = {"type": "text", "text": part.text}
    carry(block, part.extra, native)
    return block


def _image_block(part: ImagePart, native: bool) -> dict[str, Any]:
    source: dict[str, Any]
    if part.data is not None:
        media_type = part.media_type or _sniff_image(part.data)
        source = {"type": "base64", "media_type": media_type, "data": part.data}
    else:
        source = {"type": "url", "url": part.url}
    block: dict[str, Any] = {"type": "image", "source": source}
    carry(block, part.extra, native)
    return block


def _sniff_image(data: str) -> str:
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    return "image/png"


def _document_block(part: DocumentPart, native: bool, notes: Notes) -> dict[str, Any]:
    name = part.title or part.filename or "document"
    source: dict[str, Any]
    kind = "document"
    if part.source_type == "file":
        if not native:
            # A file id belongs to the provider that stored it.
            notes.add("replaced a file reference from another provider with a note")
            return _placeholder(name, "it is stored with another provider")
        source = {"type": "file", "file_id": part.data}
        kind = "image" if part.extra.get("type") == "image" else "document"
    elif part.source_type == "text":
        source = {"type": "text", "media_type": "text/plain", "data": part.data}
    elif part.source_type == "url":
        source = {"type": "url", "url": part.data}
    else:
        media_type = part.media_type or "application/pdf"
        if media_type.startswith("image/"):
            source = {"type": "base64", "media_type": media_type, "data": part.data}
            kind = "image"
        elif media_type.startswith("text/"):
            text = _decode_text(part.data)
            if text is None:
                notes.add("replaced an undecodable text file with a note")
                return _placeholder(name, "its text could not be decoded")
            source = {"type": "text", "media_type": "text/plain", "data": text}
        elif media_type == "application/pdf":
            source = {"type": "base64", "media_type": media_type, "data": part.data}
        else:
            notes.add(f"replaced a {media_type} file with a note: Anthropic reads PDF and text")
            return _placeholder(name, f"{media_type} files are not supported by this model")
    block: dict[str, Any] = {"type": kind, "source": source}
    title = part.title if native else (part.title or part.filename)
    if title and kind == "document":
        block["title"] = title
    carry(block, part.extra, native)
    return block


def _decode_text(data: str) -> str | None:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _placeholder(name: str, reason: str) -> dict[str, Any]:
    return {"type": "text", "text": f"[attachment {name!r} not forwarded: {reason}]"}


def content_block(part: Part, native: bool, notes: Notes) -> dict[str, Any] | None:
    """A user-side block (user turns and tool result content)."""
    if isinstance(part, TextPart):
        return text_block(part, native)
    if isinstance(part, ImagePart):
        return _image_block(part, native)
    if isinstance(part, DocumentPart):
        return _document_block(part, native, notes)
    notes.add(f"dropped a {type(part).__name__} found in a user message")
    return None


def with_opaque(
    rendered: list[tuple[int, dict[str, Any] | None]], extra: JsonObject, native: bool
) -> list[dict[str, Any]]:
    """Rendered blocks (keyed by canonical part position) with the client's
    uncanonical blocks put back before the part they preceded."""
    opaque = extra.get(OPAQUE_BLOCKS) if native else None
    if not opaque:
        return [block for _, block in rendered if block is not None]
    by_position: dict[int, list[dict[str, Any]]] = {}
    for entry in opaque:
        by_position.setdefault(int(entry["at"]), []).append(dict(entry["block"]))
    out: list[dict[str, Any]] = []
    for position, block in rendered:
        out.extend(by_position.pop(position, ()))
        if block is not None:
            out.append(block)
    for position in sorted(by_position):
        out.extend(by_position[position])
    return out


def tool_input(call: ToolCallPart, notes: Notes) -> dict[str, Any]:
    """``tool_use.input`` from the raw arguments text."""
    if call.kind == "custom":
        return {"input": call.arguments}
    if not call.arguments.strip():
        return {}
    try:
        value = json.loads(call.arguments)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    notes.add('sent tool call arguments that are not a JSON object as {"_raw": text}')
    return {"_raw": call.arguments}
