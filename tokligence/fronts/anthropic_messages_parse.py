"""Anthropic Messages request bodies -> canonical :class:`Request`.

Theory of operation
-------------------
``POST /v1/messages`` (and ``/count_tokens``) bodies are validated field by
field; every error names the dotted path of the offending field. The fields
the API types, carried ones too, are checked against its rules
(``anthropic_rules``: ranges, enums, ``cache_control``, known block and tool
types). Fields the canonical model types are mapped; everything else is
carried verbatim in an ``extra`` mapping so a same-dialect upstream can
write it back:

* top-level unknowns (``context_management``, ``service_tier``, ``container``,
  ``mcp_servers`` ...) and the whole ``output_config`` -> ``Request.extra``;
* per-block keys (``cache_control``, ``citations``, ``caller`` ...) -> the
  part's ``extra``; per-tool keys (``cache_control``, ``defer_loading`` ...) ->
  ``FunctionTool.extra``; non-custom tools -> :class:`HostedTool` verbatim.

Conventions a same-dialect renderer relies on (merge ``extra`` *over* the
block it rebuilds and these come back exactly):

* A source with keys we do not model is kept whole as ``extra["source"]``.
* An image given by ``file_id`` has no :class:`ImagePart` form; it becomes a
  ``DocumentPart(source_type="file")`` whose ``extra["type"]`` is ``"image"``.
* A document with a ``content`` source becomes a text document (its text
  joined) with the original source in ``extra["source"]``.
* Well-formed blocks with no canonical part (``server_tool_use``,
  ``web_search_tool_result``, ``search_result``, ``container_upload`` ...) are
  kept in ``extra["anthropic_blocks"]`` of their message (or tool result) as
  ``{"at": k, "block": {...}}``: insert ``block`` before canonical part ``k``.

Normal form: a user turn's ``tool_result`` blocks become one ``tool`` message
placed first, and the rest of that turn a ``user`` message after it (only if
anything remains). Anthropic requires tool results first anyway, so a turn
that puts text before them is reordered rather than refused.

A ``thinking`` block with an empty signature cannot have come from Anthropic
(we render exactly that for other vendors' reasoning), so it is parsed with
``vendor="other"``; an upstream codec can then drop it instead of sending an
invalid signature to Claude.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..canonical import (
    Dialect,
    FunctionTool,
    HostedTool,
    Message,
    ReasoningConfig,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoice,
)
from ..errors import invalid
from ..wire.json_body import as_list, as_object, load_object, opt, req, rest
from .anthropic_messages_blocks import parse_message, text_block
from .anthropic_rules import BLOCK_FIELDS, MAX_TOKENS, MESSAGES_FIELDS, TOOL_TYPE
from .rules import check, quote

DIALECT: Dialect = "anthropic_messages"


# Fields with a typed canonical home; everything else goes to Request.extra.
# output_config is deliberately absent: it is mapped *and* kept whole.
_MODELLED = frozenset(
    {"model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking"}
    | {"stop_sequences", "temperature", "top_p", "top_k", "stream", "metadata"}
)
_TOOL_CHOICES: Mapping[str, Literal["auto", "none", "required", "tool"]] = {
    "auto": "auto",
    "any": "required",
    "tool": "tool",
    "none": "none",
}
_THINKING_MODES: Mapping[str, Literal["enabled", "disabled", "adaptive"]] = {
    "enabled": "enabled",
    "disabled": "disabled",
    "adaptive": "adaptive",
}


def parse_messages(body: bytes, *, count_tokens: bool = False) -> Request:
    """Parse a Messages body; with ``count_tokens`` the body of
    ``/v1/messages/count_tokens``, where ``max_tokens`` and ``stream`` play no
    part (they are neither required nor carried)."""
    return parse_messages_object(load_object(body), count_tokens=count_tokens)


def parse_messages_object(obj: dict[str, Any], *, count_tokens: bool = False) -> Request:
    """Like :func:`parse_messages`, for a body already decoded."""
    model = req(obj, "model", str)
    if not model:
        raise invalid("'model' must not be empty", param="model")
    max_tokens = None
    if not count_tokens:
        max_tokens = req(obj, "max_tokens", int)
        MAX_TOKENS(max_tokens, "max_tokens")
    check(obj, MESSAGES_FIELDS)
    raw_messages = req(obj, "messages", list)
    if not raw_messages:
        raise invalid("'messages' must contain at least one message", param="messages")
    messages: list[Message] = []
    for i, item in enumerate(raw_messages):
        messages.extend(parse_message(item, f"messages[{i}]"))
    choice, parallel, choice_extra = _tool_choice(obj.get("tool_choice"))
    reasoning, response_format = _reasoning(obj)
    extra = rest(obj, _MODELLED)
    extra.update(choice_extra)
    return Request(
        model=model,
        dialect=DIALECT,
        messages=tuple(messages),
        system=_system(obj.get("system")),
        tools=_tools(obj.get("tools")),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=opt(obj, "temperature", float),
        top_p=opt(obj, "top_p", float),
        top_k=opt(obj, "top_k", int),
        stop=_stop_sequences(obj.get("stop_sequences")),
        stream=False if count_tokens else bool(opt(obj, "stream", bool)),
        # Anthropic streams always carry usage; the client expects it.
        include_usage=not count_tokens and bool(obj.get("stream")),
        reasoning=reasoning,
        response_format=response_format,
        metadata=opt(obj, "metadata", dict),
        extra=extra,
    )


# ------------------------------------------------------------------ scalars


def _stop_sequences(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = as_list(value, "stop_sequences")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise invalid(f"'stop_sequences[{i}]' must be a string", param=f"stop_sequences[{i}]")
    return tuple(items)


# ------------------------------------------------------------------- system


def _system(value: Any) -> tuple[TextPart, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # An empty system string means no system prompt; a TextPart("") would
        # become an empty text block, which Anthropic refuses.
        return (TextPart(text=value),) if value else ()
    items = as_list(value, "system")
    parts = []
    for i, item in enumerate(items):
        path = f"system[{i}]"
        block = as_object(item, path)
        kind = req(block, "type", str, path)
        if kind != "text":
            raise invalid(f"'{path}.type' must be 'text', got {quote(kind)}", param=f"{path}.type")
        check(block, BLOCK_FIELDS, path)
        parts.append(text_block(block, path))
    return tuple(parts)


# -------------------------------------------------------------------- tools


def _tools(value: Any) -> tuple[Tool, ...]:
    if value is None:
        return ()
    tools: list[Tool] = []
    for i, item in enumerate(as_list(value, "tools")):
        path = f"tools[{i}]"
        tool = as_object(item, path)
        kind = opt(tool, "type", str, path)
        check(tool, BLOCK_FIELDS, path)
        if kind is None or kind == "custom":
            tools.append(
                FunctionTool(
                    name=req(tool, "name", str, path),
                    description=opt(tool, "description", str, path),
                    parameters=req(tool, "input_schema", dict, path),
                    strict=opt(tool, "strict", bool, path),
                    extra=rest(tool, frozenset({"name", "description", "input_schema", "strict"})),
                )
            )
        else:
            TOOL_TYPE(kind, f"{path}.type")
            tools.append(HostedTool(type=kind, spec=tool, dialect=DIALECT))
    return tuple(tools)


def _tool_choice(value: Any) -> tuple[ToolChoice | None, bool | None, dict[str, Any]]:
    """The choice, ``parallel_tool_calls``, and what to add to Request.extra."""
    if value is None:
        return None, None, {}
    choice = as_object(value, "tool_choice")
    kind = req(choice, "type", str, "tool_choice")
    mode = _TOOL_CHOICES.get(kind)
    if mode is None:
        raise invalid(
            f"'tool_choice.type' must be one of auto, any, tool, none; got {quote(kind)}",
            param="tool_choice.type",
        )
    name = req(choice, "name", str, "tool_choice") if mode == "tool" else None
    disable = opt(choice, "disable_parallel_tool_use", bool, "tool_choice")
    unknown = rest(choice, frozenset({"type", "name", "disable_parallel_tool_use"}))
    return (
        ToolChoice(mode=mode, name=name),
        None if disable is None else not disable,
        {"tool_choice": choice} if unknown else {},
    )


# ---------------------------------------------------------------- reasoning


def _reasoning(obj: Mapping[str, Any]) -> tuple[ReasoningConfig | None, ResponseFormat | None]:
    effort = None
    response_format = None
    config = opt(obj, "output_config", dict)
    if config is not None:
        effort = opt(config, "effort", str, "output_config")
        fmt = opt(config, "format", dict, "output_config")
        if fmt is not None:
            kind = req(fmt, "type", str, "output_config.format")
            if kind == "json_schema":
                schema = req(fmt, "schema", dict, "output_config.format")
                response_format = ResponseFormat(kind="json_schema", schema=schema)
    thinking = opt(obj, "thinking", dict)
    if thinking is None:
        reasoning = None if effort is None else ReasoningConfig(effort=effort)
        return reasoning, response_format
    kind = req(thinking, "type", str, "thinking")
    extra = rest(thinking, frozenset({"type", "budget_tokens", "display"}))
    budget = None
    if kind == "enabled":
        budget = req(thinking, "budget_tokens", int, "thinking")  # its bounds: THINKING
    elif kind not in _THINKING_MODES:
        # A type with no canonical mode (between_tools): carried.
        extra["type"] = kind
    reasoning = ReasoningConfig(
        mode=_THINKING_MODES.get(kind),
        budget_tokens=budget,
        effort=effort,
        display=opt(thinking, "display", str, "thinking"),
        extra=extra,
    )
    return reasoning, response_format
