"""Parse the ``messages`` array of an OpenAI Chat Completions request.

Theory of operation
-------------------
Each message is validated by role and converted to one canonical
:class:`Message`; content parts are checked against the part types that role
may carry (a ``system`` message may hold only text, a ``user`` message text,
images and files, an ``assistant`` message text and refusals). Errors name the
dotted path of the offending field.

* An assistant turn becomes ``[ReasoningPart?, TextPart*, ToolCallPart*]``:
  reasoning first (``reasoning_content``, or OpenRouter's ``reasoning``), and
  never an empty text part: clients send ``content: ""`` beside tool calls,
  and an empty text block is a 400 at Anthropic.
* Refusal parts become ``TextPart`` with ``extra={"refusal": True}``.
* Legacy ``function_call`` / ``role: "function"`` turns have no call ids; they
  get deterministic ids (``call_legacy_<message index>``) so results pair with
  their calls for upstreams that require ids, and carry ``{"legacy": True}``.
* ``input_audio`` parts are refused with a clear 400: the canonical model has
  no audio part, and dropping audio silently would change the question.
"""

from __future__ import annotations

from typing import Any, cast

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
    ToolResultContent,
    ToolResultPart,
)
from ..errors import invalid
from ..wire.json_body import as_object, opt, req, rest
from .openai_rules import IMAGE_DETAIL

_USER_PARTS = frozenset({"text", "image_url", "file"})
_TEXT_PARTS = frozenset({"text"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})
_ASSISTANT_KEYS = frozenset(
    {"role", "content", "name", "tool_calls", "function_call", "reasoning_content", "reasoning"}
)


def parse_messages(obj: dict[str, Any]) -> tuple[Message, ...]:
    items = req(obj, "messages", list)
    if not items:
        raise invalid("'messages' must contain at least one message", param="messages")
    out: list[Message] = []
    legacy_call: str | None = None  # id given to the last legacy function_call
    for i, item in enumerate(items):
        path = f"messages[{i}]"
        msg = as_object(item, path)
        role = req(msg, "role", str, path)
        name = opt(msg, "name", str, path)
        if role in ("system", "developer", "user"):
            allowed = _USER_PARTS if role == "user" else _TEXT_PARTS
            content = _content(_required_content(msg, path), f"{path}.content", allowed)
            extra = rest(msg, _keys("content"))
            out.append(Message(role=cast(Role, role), parts=content, name=name, extra=extra))
        elif role == "assistant":
            out.append(_assistant(msg, path, legacy_id=f"call_legacy_{i}"))
            if msg.get("function_call") is not None:
                legacy_call = f"call_legacy_{i}"
        elif role == "tool":
            call_id = req(msg, "tool_call_id", str, path)
            content = _content(_required_content(msg, path), f"{path}.content", _TEXT_PARTS)
            result = ToolResultPart(call_id=call_id, content=_non_empty(content))
            extra = rest(msg, _keys("content", "tool_call_id"))
            out.append(Message(role="tool", parts=(result,), name=name, extra=extra))
        elif role == "function":
            text = opt(msg, "content", str, path)
            result = ToolResultPart(
                call_id=legacy_call or f"call_legacy_{i}",
                content=(TextPart(text=text),) if text else (),
                extra={"legacy": True},
            )
            legacy_call = None
            name = req(msg, "name", str, path)
            out.append(
                Message(role="tool", parts=(result,), name=name, extra=rest(msg, _keys("content")))
            )
        else:
            raise invalid(
                f"'{path}.role' {role!r} is not one of system, developer, user, assistant, "
                "tool, function",
                param=f"{path}.role",
            )
    return tuple(out)


def _required_content(msg: dict[str, Any], path: str) -> str | list[Any]:
    content = msg.get("content")
    if content is None:
        raise invalid(f"'{path}.content' is required", param=f"{path}.content")
    if not isinstance(content, (str, list)):
        raise invalid(f"'{path}.content' must be a string or an array", param=f"{path}.content")
    return content


def _keys(*names: str) -> frozenset[str]:
    return frozenset({"role", "name", *names})


def _non_empty(parts: tuple[Part, ...]) -> tuple[ToolResultContent, ...]:
    return tuple(p for p in parts if isinstance(p, TextPart) and p.text)


def _assistant(msg: dict[str, Any], path: str, *, legacy_id: str) -> Message:
    parts: list[Part] = []
    reasoning = opt(msg, "reasoning_content", str, path)
    source = "reasoning_content"
    if reasoning is None:
        reasoning = opt(msg, "reasoning", str, path)
        source = "reasoning"
    if reasoning:
        extra: JsonObject = {"source": source} if source != "reasoning_content" else {}
        parts.append(ReasoningPart(text=reasoning, extra=extra))

    content = msg.get("content")
    if content is not None:
        if not isinstance(content, (str, list)):
            raise invalid(
                f"'{path}.content' must be a string, an array or null", param=f"{path}.content"
            )
        texts = _content(content, f"{path}.content", _ASSISTANT_PARTS)
        # An empty text part is never meaningful; it is the "content": "" that
        # clients put beside tool calls.
        parts.extend(p for p in texts if not (isinstance(p, TextPart) and not p.text))

    for j, call in enumerate(opt(msg, "tool_calls", list, path) or ()):
        parts.append(
            _tool_call(as_object(call, f"{path}.tool_calls[{j}]"), f"{path}.tool_calls[{j}]")
        )

    function_call = opt(msg, "function_call", dict, path)
    if function_call is not None:
        where = f"{path}.function_call"
        parts.append(
            ToolCallPart(
                id=legacy_id,
                name=req(function_call, "name", str, where),
                arguments=req(function_call, "arguments", str, where),
                extra={"legacy": True},
            )
        )
    name = opt(msg, "name", str, path)
    return Message(
        role="assistant", parts=tuple(parts), name=name, extra=rest(msg, _ASSISTANT_KEYS)
    )


def _tool_call(call: dict[str, Any], path: str) -> ToolCallPart:
    call_id = req(call, "id", str, path)
    kind = opt(call, "type", str, path) or "function"
    if kind == "function":
        fn = req(call, "function", dict, path)
        where = f"{path}.function"
        return ToolCallPart(
            id=call_id,
            name=req(fn, "name", str, where),
            arguments=req(fn, "arguments", str, where),
            extra=rest(call, frozenset({"id", "type", "function"})),
        )
    if kind == "custom":
        custom = req(call, "custom", dict, path)
        where = f"{path}.custom"
        return ToolCallPart(
            id=call_id,
            name=req(custom, "name", str, where),
            arguments=req(custom, "input", str, where),
            kind="custom",
            extra=rest(call, frozenset({"id", "type", "custom"})),
        )
    raise invalid(f"'{path}.type' {kind!r} is not one of function, custom", param=f"{path}.type")


def _content(content: str | list[Any], path: str, allowed: frozenset[str]) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(text=content),)
    return tuple(
        _part(as_object(item, f"{path}[{k}]"), f"{path}[{k}]", allowed)
        for k, item in enumerate(content)
    )


def _part(part: dict[str, Any], path: str, allowed: frozenset[str]) -> Part:
    kind = req(part, "type", str, path)
    if kind == "input_audio" and "image_url" in allowed:
        raise invalid(
            f"'{path}': input_audio content parts are not supported by this gateway",
            param=f"{path}.type",
        )
    if kind not in allowed:
        raise invalid(
            f"'{path}.type' {kind!r} is not supported here; expected one of "
            + ", ".join(sorted(allowed)),
            param=f"{path}.type",
        )
    if kind == "text":
        return TextPart(
            text=req(part, "text", str, path), extra=rest(part, frozenset({"type", "text"}))
        )
    if kind == "refusal":
        extra = {**rest(part, frozenset({"type", "refusal"})), "refusal": True}
        return TextPart(text=req(part, "refusal", str, path), extra=extra)
    if kind == "image_url":
        return _image(part, path)
    return _file(part, path)


def _image(part: dict[str, Any], path: str) -> ImagePart:
    where = f"{path}.image_url"
    image = req(part, "image_url", dict, path)
    url = req(image, "url", str, where)
    detail = opt(image, "detail", str, where)
    if detail is not None:
        IMAGE_DETAIL(detail, f"{where}.detail")
    extra = rest(part, frozenset({"type", "image_url"}))
    if url.startswith("data:"):
        media_type, data = _data_url(url, f"{where}.url")
        return ImagePart(data=data, media_type=media_type, detail=detail, extra=extra)
    return ImagePart(url=url, detail=detail, extra=extra)


def _file(part: dict[str, Any], path: str) -> DocumentPart:
    where = f"{path}.file"
    file = req(part, "file", dict, path)
    file_data = opt(file, "file_data", str, where)
    file_id = opt(file, "file_id", str, where)
    filename = opt(file, "filename", str, where)
    extra = rest(part, frozenset({"type", "file"}))
    if (file_data is None) == (file_id is None):
        raise invalid(f"'{where}' needs exactly one of file_data or file_id", param=where)
    if file_id is not None:
        return DocumentPart(source_type="file", data=file_id, filename=filename, extra=extra)
    assert file_data is not None
    media_type: str | None = None
    if file_data.startswith("data:"):
        media_type, file_data = _data_url(file_data, f"{where}.file_data")
    return DocumentPart(
        source_type="base64", data=file_data, media_type=media_type, filename=filename, extra=extra
    )


def _data_url(url: str, path: str) -> tuple[str | None, str]:
    """Split ``data:<media type>[;params];base64,<data>``."""
    header, comma, data = url[len("data:") :].partition(",")
    if not comma or not header.endswith(";base64"):
        raise invalid(
            f"'{path}' must be a base64 data URL (data:<media type>;base64,<data>)", param=path
        )
    media_type = header[: -len(";base64")].split(";")[0]
    return media_type or None, data
