"""OpenAI Responses ``input`` items -> canonical messages.

Theory of operation
-------------------
A Responses ``input`` is a flat list of *items*; the canonical model is a list
of role-tagged messages. The walk keeps two open runs:

* an **assistant run**: consecutive assistant-side items (assistant message
  text, ``reasoning``, ``function_call``, ``custom_tool_call``) become ONE
  assistant :class:`Message`, parts in input order. Dialects that require
  strict role alternation (Anthropic) depend on this merge.
* a **tool run**: consecutive ``function_call_output`` /
  ``custom_tool_call_output`` items become ONE ``tool`` message.

Any other item closes both runs. Item types the canonical model has no part
for (``item_reference``, ``web_search_call``, ``local_shell_call`` ...) are
carried verbatim in the assistant run's ``Message.extra["responses_items"]``
as ``{"index": <number of parts before it>, "item": <raw item>}`` so a
Responses upstream can put them back where they were.

Fields of parts and items that have no canonical home stay in the part's
``extra``. Where a canonical part stands for a different wire part type than
its usual one, ``extra["type"]`` records the original (``refusal`` text,
``input_image`` given by ``file_id``). The fields of an assistant ``message``
item itself (``id``, ``status``, ``phase``) ride on the item's first part as
``extra["item"]``, because merged runs have no per-item home. Reasoning items
are OpenAI's (``vendor="openai"``): their ``encrypted_content`` may only go
back to OpenAI -- unless it carries an Anthropic signature the gateway put
there (``openai_responses_proofs``), which makes the item Claude's thinking.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeAlias

from ..canonical import (
    DocumentPart,
    ImagePart,
    JsonObject,
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolKind,
    ToolResultContent,
    ToolResultPart,
)
from ..errors import invalid
from ..wire.json_body import as_list, as_object, opt, req, rest
from .openai_responses_proofs import carried
from .openai_responses_tools import flat_name
from .openai_rules import IMAGE_DETAIL, RESPONSES_ITEM_TYPE
from .rules import quote

_MESSAGE_ROLES: tuple[Role, ...] = ("user", "assistant", "system", "developer")


def list_at(obj: dict[str, Any], key: str, path: str = "") -> list[Any]:
    value = obj.get(key)
    return [] if value is None else as_list(value, f"{path}.{key}" if path else key)


def parse_input(value: Any) -> tuple[Message, ...]:
    return _Walk().run(value)


class _Walk:
    """One pass over ``input`` items, merging runs (see module docstring)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.assistant: list[Part] = []
        self.carried: list[dict[str, Any]] = []
        self.results: list[ToolResultPart] = []

    def run(self, value: Any) -> tuple[Message, ...]:
        if value is None:  # previous_response_id / conversation / prompt supply it
            return ()
        if isinstance(value, str):
            return (Message(role="user", parts=(TextPart(text=value),)),)
        if not isinstance(value, list):
            raise invalid("'input' must be a string or an array of items", param="input")
        for i, raw in enumerate(value):
            self.item(as_object(raw, f"input[{i}]"), f"input[{i}]")
        self.close_assistant()
        self.close_tools()
        return tuple(self.messages)

    def close_assistant(self) -> None:
        if self.assistant or self.carried:
            extra: JsonObject = {"responses_items": tuple(self.carried)} if self.carried else {}
            self.messages.append(
                Message(role="assistant", parts=tuple(self.assistant), extra=extra)
            )
            self.assistant, self.carried = [], []

    def close_tools(self) -> None:
        if self.results:
            self.messages.append(Message(role="tool", parts=tuple(self.results)))
            self.results = []

    def to_assistant(self, part: Part) -> None:
        self.close_tools()
        self.assistant.append(part)

    def to_tools(self, part: ToolResultPart) -> None:
        self.close_assistant()
        self.results.append(part)

    def item(self, item: dict[str, Any], path: str) -> None:
        kind = opt(item, "type", str, path)
        if kind is None:
            if "role" not in item:
                raise invalid(f"'{path}' needs a 'type' or a 'role'", param=f"{path}.type")
            kind = "message"
        if kind == "message":
            self.message(item, path)
        elif kind in ("function_call", "custom_tool_call"):
            self.to_assistant(
                _call(item, path, "function" if kind == "function_call" else "custom")
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self.to_tools(
                _output(item, path, "function" if kind == "function_call_output" else "custom")
            )
        elif kind == "reasoning":
            self.to_assistant(_reasoning_item(item, path))
        else:
            RESPONSES_ITEM_TYPE(kind, f"{path}.type")
            self.close_tools()
            self.carried.append({"index": len(self.assistant), "item": item})

    def message(self, item: dict[str, Any], path: str) -> None:
        role = _role(req(item, "role", str, path), path)
        parts = _content(item, path)
        item_fields = rest(item, frozenset({"type", "role", "content"}))
        if role != "assistant":
            self.close_assistant()
            self.close_tools()
            self.messages.append(Message(role=role, parts=parts, extra=item_fields))
            return
        if parts and item_fields:
            parts = (_with_extra(parts[0], {"item": item_fields}), *parts[1:])
        for part in parts:
            self.to_assistant(part)


def _role(value: str, path: str) -> Role:
    for role in _MESSAGE_ROLES:
        if value == role:
            return role
    raise invalid(
        f"'{path}.role' must be one of {', '.join(_MESSAGE_ROLES)}, not {quote(value)}",
        param=f"{path}.role",
    )


_ContentPart: TypeAlias = TextPart | ImagePart | DocumentPart


def _with_extra(part: _ContentPart, more: JsonObject) -> _ContentPart:
    return replace(part, extra={**part.extra, **more})


def _call(item: dict[str, Any], path: str, kind: ToolKind) -> ToolCallPart:
    payload = "arguments" if kind == "function" else "input"
    name = req(item, "name", str, path)
    namespace = opt(item, "namespace", str, path)
    if namespace:
        # The same flat name the namespace's tools got (openai_responses_tools).
        name = flat_name(namespace, name)
    return ToolCallPart(
        id=req(item, "call_id", str, path),
        name=name,
        arguments=req(item, payload, str, path),
        kind=kind,
        item_id=opt(item, "id", str, path),
        extra=rest(item, frozenset({"type", "id", "call_id", "name", payload})),
    )


def _output(item: dict[str, Any], path: str, kind: ToolKind) -> ToolResultPart:
    call_id = req(item, "call_id", str, path)
    if "output" not in item or item["output"] is None:
        raise invalid(f"'{path}.output' is required", param=f"{path}.output")
    output = item["output"]
    content: tuple[ToolResultContent, ...]
    if isinstance(output, str):
        content = (TextPart(text=output),)
    elif isinstance(output, list):
        content = tuple(_part(p, f"{path}.output[{i}]") for i, p in enumerate(output))
    else:
        raise invalid(f"'{path}.output' must be a string or an array", param=f"{path}.output")
    return ToolResultPart(
        call_id=call_id,
        content=content,
        kind=kind,
        extra=rest(item, frozenset({"type", "call_id", "output"})),
    )


def _reasoning_item(item: dict[str, Any], path: str) -> ReasoningPart:
    summary: list[str] = []
    for i, raw in enumerate(list_at(item, "summary", path)):
        where = f"{path}.summary[{i}]"
        entry = as_object(raw, where)
        _expect_type(entry, "summary_text", where)
        summary.append(req(entry, "text", str, where))
    texts: list[str] = []
    for i, raw in enumerate(list_at(item, "content", path)):
        where = f"{path}.content[{i}]"
        entry = as_object(raw, where)
        _expect_type(entry, "reasoning_text", where)
        texts.append(req(entry, "text", str, where))
    encrypted = opt(item, "encrypted_content", str, path)
    extra = rest(item, frozenset({"type", "id", "summary", "content", "encrypted_content"}))
    signature = carried(encrypted)
    if signature is not None:  # Claude's thinking, back from a round trip (see proofs)
        return ReasoningPart(
            text="".join(texts), summary=tuple(summary), signature=signature, vendor="anthropic"
        )
    return ReasoningPart(
        text="".join(texts),
        summary=tuple(summary),
        encrypted_content=encrypted,
        id=opt(item, "id", str, path),
        vendor="openai",
        extra=extra,
    )


def _expect_type(obj: dict[str, Any], expected: str, path: str) -> None:
    kind = req(obj, "type", str, path)
    if kind != expected:
        raise invalid(f"'{path}.type' must be {expected}, not {quote(kind)}", param=f"{path}.type")


# ---------------------------------------------------------- content parts


def _content(item: dict[str, Any], path: str) -> tuple[_ContentPart, ...]:
    if "content" not in item or item["content"] is None:
        raise invalid(f"'{path}.content' is required", param=f"{path}.content")
    content = item["content"]
    if isinstance(content, str):
        return (TextPart(text=content),)
    if not isinstance(content, list):
        raise invalid(
            f"'{path}.content' must be a string or an array of parts", param=f"{path}.content"
        )
    return tuple(_part(p, f"{path}.content[{i}]") for i, p in enumerate(content))


def _part(raw: Any, path: str) -> _ContentPart:
    part = as_object(raw, path)
    kind = req(part, "type", str, path)
    if kind in ("input_text", "output_text"):
        return TextPart(
            text=req(part, "text", str, path), extra=rest(part, frozenset({"type", "text"}))
        )
    if kind == "refusal":
        return TextPart(
            text=req(part, "refusal", str, path), extra=rest(part, frozenset({"refusal"}))
        )
    if kind == "input_image":
        return _image(part, path)
    if kind == "input_file":
        return _file(part, path)
    raise invalid(
        f"'{path}.type' {quote(kind)} is not a supported content part type "
        "(input_text, output_text, refusal, input_image, input_file)",
        param=f"{path}.type",
    )


def _split_data_url(url: str) -> tuple[str | None, str] | None:
    """``data:<media type>;base64,<data>`` -> (media type, data); else None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return (header[: -len(";base64")] or None), data


def _image(part: dict[str, Any], path: str) -> ImagePart | DocumentPart:
    url = opt(part, "image_url", str, path)
    file_id = opt(part, "file_id", str, path)
    detail = opt(part, "detail", str, path)
    if detail is not None:
        IMAGE_DETAIL(detail, f"{path}.detail")
    if url is not None:
        extra = rest(part, frozenset({"type", "image_url", "detail"}))
        inline = _split_data_url(url)
        if inline is not None:
            return ImagePart(data=inline[1], media_type=inline[0], detail=detail, extra=extra)
        return ImagePart(url=url, detail=detail, extra=extra)
    if file_id is not None:
        # The canonical image has no file reference; a file part tagged with its
        # original type keeps the id for a Responses upstream.
        return DocumentPart(
            source_type="file", data=file_id, extra=rest(part, frozenset({"file_id"}))
        )
    raise invalid(f"'{path}' needs 'image_url' or 'file_id'", param=f"{path}.image_url")


def _file(part: dict[str, Any], path: str) -> DocumentPart:
    filename = opt(part, "filename", str, path)
    extra = rest(part, frozenset({"type", "file_data", "file_url", "file_id", "filename"}))
    data = opt(part, "file_data", str, path)
    if data is not None:
        inline = _split_data_url(data)
        media_type, payload = inline if inline is not None else (None, data)
        return DocumentPart(
            source_type="base64",
            data=payload,
            media_type=media_type,
            filename=filename,
            extra=extra,
        )
    url = opt(part, "file_url", str, path)
    if url is not None:
        return DocumentPart(source_type="url", data=url, filename=filename, extra=extra)
    file_id = opt(part, "file_id", str, path)
    if file_id is not None:
        return DocumentPart(source_type="file", data=file_id, filename=filename, extra=extra)
    raise invalid(f"'{path}' needs 'file_data', 'file_url' or 'file_id'", param=f"{path}.file_data")
