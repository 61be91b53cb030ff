"""Anthropic Messages content: one wire message -> canonical messages.

Split from ``anthropic_messages_parse`` (which documents the conventions):
this module owns message roles, content blocks, sources, tool uses and tool
results, and the normal form that moves a user turn's ``tool_result`` blocks
into a ``tool`` message placed before the rest of the turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..canonical import (
    DocumentPart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    RedactedReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultContent,
    ToolResultPart,
)
from ..errors import invalid
from ..wire.json_body import as_list, as_object, dumps, opt, req, rest
from .anthropic_rules import (
    BLOCK_FIELDS,
    BLOCK_TYPE,
    IMAGE_MEDIA_TYPE,
    PDF_MEDIA_TYPE,
    TEXT_MEDIA_TYPE,
    TOOL_RESULT_BLOCK_TYPE,
)
from .rules import Rule, check, quote

OPAQUE_BLOCKS = "anthropic_blocks"
_ROLES: Mapping[str, Role] = {"user": "user", "assistant": "assistant", "system": "system"}
_SourceType = Literal["base64", "text", "url", "file"]
# Anthropic source type -> canonical source type and the key holding its payload.
_SOURCES: Mapping[str, tuple[_SourceType, str]] = {
    "base64": ("base64", "data"),
    "text": ("text", "data"),
    "url": ("url", "url"),
    "file": ("file", "file_id"),
}
# The source types of each block, and the rule for the media type each has
# (None: it has none).
_IMAGE_SOURCES: Mapping[str, Rule | None] = {"base64": IMAGE_MEDIA_TYPE, "url": None, "file": None}
_DOCUMENT_SOURCES: Mapping[str, Rule | None] = {
    "base64": PDF_MEDIA_TYPE,
    "text": TEXT_MEDIA_TYPE,
    "url": None,
    "file": None,
    "content": None,
}


# ----------------------------------------------------------------- messages


class _Turn:
    """The parts of one wire message being split into canonical messages."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.results: list[ToolResultPart] = []
        self.opaque: list[dict[str, Any]] = []

    def keep_opaque(self, block: dict[str, Any]) -> None:
        self.opaque.append({"at": len(self.parts), "block": block})


def parse_message(value: Any, path: str) -> list[Message]:
    msg = as_object(value, path)
    raw_role = req(msg, "role", str, path)
    role = _ROLES.get(raw_role)
    if role is None:
        raise invalid(
            f"'{path}.role' must be one of user, assistant, system; got {quote(raw_role)}",
            param=f"{path}.role",
        )
    content = msg.get("content")
    extra = rest(msg, frozenset({"role", "content"}))
    if content is None:
        raise invalid(f"'{path}.content' is required", param=f"{path}.content")
    if isinstance(content, str):
        return [Message(role=role, parts=(TextPart(text=content),), extra=extra)]
    turn = _Turn()
    for j, item in enumerate(as_list(content, f"{path}.content")):
        _block(item, f"{path}.content[{j}]", role, turn)
    out: list[Message] = []
    if turn.results:
        out.append(Message(role="tool", parts=tuple(turn.results), extra=extra))
        extra = {}
    if turn.opaque:
        extra = {**extra, OPAQUE_BLOCKS: turn.opaque}
    if not turn.results or turn.parts or turn.opaque:
        out.append(Message(role=role, parts=tuple(turn.parts), extra=extra))
    return out


def _block(item: Any, path: str, role: str, turn: _Turn) -> None:
    block = as_object(item, path)
    kind = req(block, "type", str, path)
    check(block, BLOCK_FIELDS, path)
    where = f"'{path}.type'"
    if role == "system" and kind != "text":
        raise invalid(f"{where}: system messages hold only text blocks", param=f"{path}.type")
    if kind == "tool_result":
        if role != "user":
            raise invalid(f"{where}: tool_result blocks belong in user messages", param=path)
        turn.results.append(_tool_result(block, path))
        return
    if kind == "tool_use" and role != "assistant":
        raise invalid(f"{where}: tool_use blocks belong in assistant messages", param=path)
    parser = _PARTS.get(kind)
    if parser is None:
        BLOCK_TYPE(kind, f"{path}.type")
        turn.keep_opaque(block)
    else:
        turn.parts.append(parser(block, path))


def text_block(block: dict[str, Any], path: str) -> TextPart:
    # Empty text is kept: it is the client's, and its upstream may accept it.
    return TextPart(
        text=req(block, "text", str, path), extra=rest(block, frozenset({"type", "text"}))
    )


def _source(
    block: dict[str, Any], path: str, allowed: Mapping[str, Rule | None]
) -> tuple[_SourceType, str, str | None, dict[str, Any]]:
    """(source type, payload, media type, extra) of an image or document."""
    spath = f"{path}.source"
    source = req(block, "source", dict, path)
    kind = req(source, "type", str, spath)
    if kind not in allowed:
        raise invalid(
            f"'{spath}.type' must be one of {', '.join(allowed)}; got {quote(kind)}",
            param=f"{spath}.type",
        )
    if kind == "content":
        text = _content_source_text(source.get("content"), f"{spath}.content")
        return "text", text, "text/plain", {"source": source}
    source_type, key = _SOURCES[kind]
    payload = req(source, key, str, spath)
    media_rule = allowed[kind]
    has_media = media_rule is not None
    media_type = opt(source, "media_type", str, spath) if has_media else None
    if kind == "base64" and media_type is None:
        raise invalid(f"'{spath}.media_type' is required", param=f"{spath}.media_type")
    if media_rule is not None and media_type is not None:
        media_rule(media_type, f"{spath}.media_type")
    known = {"type", key, "media_type"} if has_media else {"type", key}
    extra = {"source": source} if rest(source, frozenset(known)) else {}
    return source_type, payload, media_type, extra


def _image(block: dict[str, Any], path: str) -> ImagePart | DocumentPart:
    kind, payload, media_type, extra = _source(block, path, _IMAGE_SOURCES)
    extra.update(rest(block, frozenset({"type", "source"})))
    if kind == "base64":
        return ImagePart(data=payload, media_type=media_type, extra=extra)
    if kind == "url":
        return ImagePart(url=payload, extra=extra)
    extra["type"] = "image"  # see module docstring: ImagePart has no file form
    return DocumentPart(source_type="file", data=payload, extra=extra)


def _document(block: dict[str, Any], path: str) -> DocumentPart:
    kind, payload, media_type, extra = _source(block, path, _DOCUMENT_SOURCES)
    extra.update(rest(block, frozenset({"type", "source", "title"})))
    return DocumentPart(
        source_type=kind,
        data=payload,
        media_type=media_type or ("text/plain" if kind == "text" else None),
        title=opt(block, "title", str, path),
        extra=extra,
    )


def _content_source_text(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    texts = []
    for i, item in enumerate(as_list(value, path)):
        block = as_object(item, f"{path}[{i}]")
        if req(block, "type", str, f"{path}[{i}]") == "text":
            texts.append(req(block, "text", str, f"{path}[{i}]"))
    return "\n".join(texts)


def _thinking(block: dict[str, Any], path: str) -> ReasoningPart:
    signature = opt(block, "signature", str, path)
    return ReasoningPart(
        text=req(block, "thinking", str, path),
        signature=signature or None,
        vendor="anthropic" if signature else "other",
        extra=rest(block, frozenset({"type", "thinking", "signature"})),
    )


def _redacted(block: dict[str, Any], path: str) -> RedactedReasoningPart:
    return RedactedReasoningPart(data=req(block, "data", str, path))


def _tool_use(block: dict[str, Any], path: str) -> ToolCallPart:
    return ToolCallPart(
        id=req(block, "id", str, path),
        name=req(block, "name", str, path),
        # Compact JSON of the client's object: the canonical form is raw text.
        arguments=dumps(req(block, "input", dict, path)).decode(),
        extra=rest(block, frozenset({"type", "id", "name", "input"})),
    )


_PARTS: Mapping[str, Callable[[dict[str, Any], str], Part]] = {
    "text": text_block,
    "image": _image,
    "document": _document,
    "thinking": _thinking,
    "redacted_thinking": _redacted,
    "tool_use": _tool_use,
}


def _tool_result(block: dict[str, Any], path: str) -> ToolResultPart:
    call_id = req(block, "tool_use_id", str, path)
    is_error = opt(block, "is_error", bool, path) or False
    extra = rest(block, frozenset({"type", "tool_use_id", "content", "is_error"}))
    content = block.get("content")
    items: list[ToolResultContent] = []
    if isinstance(content, str):
        if content:  # "" and absent mean the same: no output
            items.append(TextPart(text=content))
    elif content is not None:
        opaque = []
        for k, item in enumerate(as_list(content, f"{path}.content")):
            ipath = f"{path}.content[{k}]"
            inner = as_object(item, ipath)
            kind = req(inner, "type", str, ipath)
            check(inner, BLOCK_FIELDS, ipath)
            if kind == "text":
                items.append(text_block(inner, ipath))
            elif kind == "image":
                items.append(_image(inner, ipath))
            elif kind == "document":
                items.append(_document(inner, ipath))
            else:  # search_result, tool_reference ...: carried, see docstring
                TOOL_RESULT_BLOCK_TYPE(kind, f"{ipath}.type")
                opaque.append({"at": len(items), "block": inner})
        if opaque:
            extra[OPAQUE_BLOCKS] = opaque
    return ToolResultPart(call_id=call_id, content=tuple(items), is_error=is_error, extra=extra)
